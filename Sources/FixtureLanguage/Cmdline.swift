import KernelTypes

/// The emulated kernel's command line, defaults overridden by `cmdline` lines.
///
/// The defaults are `iommu.debug_pagealloc=1 page_owner=on iommu.strict=1
/// emu.accounting=exact emu.kva_flush=deferred-free emu.notifier=sync
/// emu.reset=ebusy`.
package struct Cmdline: Sendable, Hashable, CustomStringConvertible {
  /// `iommu.debug_pagealloc=` (default on).
  package var debugPagealloc: Bool = true
  /// `page_owner=` (default on).
  package var pageOwner: Bool = true
  /// `iommu.strict=` (default on: strict invalidation).
  package var strict: Bool = true
  /// `emu.accounting=` (default `exact`).
  package var accounting: MapAccounting = .exact
  /// `emu.kva_flush=` (default `deferred-free`).
  package var kvaFlush: KVAFlushPolicy = .deferredFree
  /// `emu.notifier=` (default `sync`).
  package var notifier: NotifierPolicy = .sync
  /// `emu.reset=` (default `ebusy`).
  package var reset: ResetFencePolicy = .ebusy
  /// `emu.map_count_max=` (an iommusan extension; default `INT_MAX`).
  package var mapCountMax: UInt32 = UInt32(Int32.max)
  /// `emu.dma_assert_idle=` (an iommusan extension; default off).
  package var dmaAssertIdle = false
  /// `emu.kernel=` (an iommusan extension; default the newest fixed behaviour).
  package var kernel: KernelVersion = .newest

  /// The defaults.
  package init() {}

  /// The defaults.
  package static let defaults = Cmdline()

  /// Applies one parameter.
  package mutating func apply(_ setting: CmdlineSetting) {
    switch setting {
    case .debugPagealloc(let on): debugPagealloc = on
    case .pageOwner(let on): pageOwner = on
    case .strict(let on): strict = on
    case .accounting(let value): accounting = value
    case .kvaFlush(let value): kvaFlush = value
    case .notifier(let value): notifier = value
    case .reset(let value): reset = value
    case .mapCountMax(let value): mapCountMax = value
    case .dmaAssertIdle(let on): dmaAssertIdle = on
    case .kernel(let value):
      kernel = value
      if !value.has(.kvaFlush) { kvaFlush = .none }
    }
  }

  /// Applies parameters in order (a later one wins).
  package mutating func apply(_ settings: [CmdlineSetting]) {
    for setting in settings { apply(setting) }
  }

  /// Every parameter with its value, in the order of the defaults.
  package var settings: [CmdlineSetting] {
    [
      .debugPagealloc(debugPagealloc), .pageOwner(pageOwner), .strict(strict),
      .accounting(accounting), .kvaFlush(kvaFlush), .notifier(notifier), .reset(reset),
    ] + (mapCountMax == UInt32(Int32.max) ? [] : [.mapCountMax(mapCountMax)])
      + (dmaAssertIdle ? [.dmaAssertIdle(true)] : [])
      + (kernel == .newest ? [] : [.kernel(kernel)])
  }

  /// The full command line, every parameter spelled out.
  package var description: String { settings.map(\.description).joined(separator: " ") }
}
