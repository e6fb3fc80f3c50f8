import KernelTypes

/// The emulated kernel's command line, defaults overridden by `cmdline` lines.
///
/// The defaults are `iommu.debug_pagealloc=1 page_owner=on iommu.strict=1
/// emu.accounting=exact emu.kva_flush=deferred-free emu.notifier=sync
/// emu.reset=ebusy`.
public struct Cmdline: Sendable, Hashable, CustomStringConvertible {
  /// `iommu.debug_pagealloc=` (default on).
  public var debugPagealloc: Bool = true
  /// `page_owner=` (default on).
  public var pageOwner: Bool = true
  /// `iommu.strict=` (default on: strict invalidation).
  public var strict: Bool = true
  /// `emu.accounting=` (default `exact`).
  public var accounting: MapAccounting = .exact
  /// `emu.kva_flush=` (default `deferred-free`).
  public var kvaFlush: KVAFlushPolicy = .deferredFree
  /// `emu.notifier=` (default `sync`).
  public var notifier: NotifierPolicy = .sync
  /// `emu.reset=` (default `ebusy`).
  public var reset: ResetFencePolicy = .ebusy
  /// `emu.map_count_max=` (an iommusan extension; default `INT_MAX`).
  public var mapCountMax: UInt32 = UInt32(Int32.max)

  /// The defaults.
  public init() {}

  /// The defaults.
  public static let defaults = Cmdline()

  /// Applies one parameter.
  public mutating func apply(_ setting: CmdlineSetting) {
    switch setting {
    case .debugPagealloc(let on): debugPagealloc = on
    case .pageOwner(let on): pageOwner = on
    case .strict(let on): strict = on
    case .accounting(let value): accounting = value
    case .kvaFlush(let value): kvaFlush = value
    case .notifier(let value): notifier = value
    case .reset(let value): reset = value
    case .mapCountMax(let value): mapCountMax = value
    }
  }

  /// Applies parameters in order (a later one wins).
  public mutating func apply(_ settings: [CmdlineSetting]) {
    for setting in settings { apply(setting) }
  }

  /// Every parameter with its value, in the order of the defaults.
  public var settings: [CmdlineSetting] {
    [
      .debugPagealloc(debugPagealloc), .pageOwner(pageOwner), .strict(strict),
      .accounting(accounting), .kvaFlush(kvaFlush), .notifier(notifier), .reset(reset),
    ] + (mapCountMax == UInt32(Int32.max) ? [] : [.mapCountMax(mapCountMax)])
  }

  /// The full command line, every parameter spelled out.
  public var description: String { settings.map(\.description).joined(separator: " ") }
}
