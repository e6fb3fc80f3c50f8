/// The emulated kernel's command line, defaults overridden by `cmdline` lines.
///
/// The defaults are `iommu.debug_pagealloc=1 page_owner=on iommu.strict=1
/// emu.accounting=exact emu.kva_flush=deferred-free emu.notifier=sync
/// emu.reset=ebusy`.
public struct Cmdline: Sendable, Hashable, CustomStringConvertible {
  /// How the sanitizer counts mappings (`emu.accounting=`).
  public enum Accounting: String, Sendable, Hashable, CaseIterable {
    /// Every CPU page a mapping overlaps is counted; no false positives or negatives.
    case exact
    /// The kernel's algorithm, blind spots included.
    case kernel
  }

  /// How kernel page-table pages are retired under SVA (`emu.kva_flush=`).
  public enum KVAFlush: String, Sendable, Hashable, CaseIterable {
    /// Before the fix: no IOMMU invalidation.
    case none
    /// The July 2025 v2 patch: invalidate from `flush_tlb_kernel_range()`.
    case tlbRange = "tlb-range"
    /// The merged design: tables are freed by a worker after invalidation.
    case deferredFree = "deferred-free"
  }

  /// When secondary TLBs are invalidated (`emu.notifier=`).
  public enum Notifier: String, Sendable, Hashable, CaseIterable {
    /// Where the CPU TLB is flushed (`arch_invalidate_secondary_tlbs`).
    case sync
    /// Only in `invalidate_range_end()`.
    case deferredEnd = "deferred-end"
  }

  /// How a device reset is fenced from the IOMMU (`emu.reset=`).
  public enum Reset: String, Sendable, Hashable, CaseIterable {
    /// The merged design: an attach during the reset fails with EBUSY.
    case ebusy
    /// An attach during the reset is done at `reset_done`.
    case `defer`
    /// No fence.
    case none
  }

  /// `iommu.debug_pagealloc=` (default on).
  public var debugPagealloc: Bool = true
  /// `page_owner=` (default on).
  public var pageOwner: Bool = true
  /// `iommu.strict=` (default on: strict invalidation).
  public var strict: Bool = true
  /// `emu.accounting=` (default `exact`).
  public var accounting: Accounting = .exact
  /// `emu.kva_flush=` (default `deferred-free`).
  public var kvaFlush: KVAFlush = .deferredFree
  /// `emu.notifier=` (default `sync`).
  public var notifier: Notifier = .sync
  /// `emu.reset=` (default `ebusy`).
  public var reset: Reset = .ebusy
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
