import KernelTypes

/// One validated command-line parameter.
package enum CmdlineSetting: Sendable, Hashable, CustomStringConvertible {
  case debugPagealloc(Bool)
  case pageOwner(Bool)
  case strict(Bool)
  case accounting(MapAccounting)
  case kvaFlush(KVAFlushPolicy)
  case notifier(NotifierPolicy)
  case reset(ResetFencePolicy)
  /// `emu.map_count_max=N` (an iommusan extension): the largest map count
  /// before `map-count-overflow`; the kernel's is `INT_MAX`.
  case mapCountMax(UInt32)
  /// `emu.dma_assert_idle=0|1` (an iommusan extension, default 0): DMA-API
  /// debug's `debug_dma_assert_idle()` of Linux 3.19 to 5.9, on CPU writes.
  case dmaAssertIdle(Bool)
  /// `emu.kernel=VERSION` (an iommusan extension): behaviour as that release
  /// shipped it (docs/Upstream.md). It also sets `emu.kva_flush=none` for a
  /// release before the CVE-2025-71202 fix; a later `emu.kva_flush=` wins.
  case kernel(KernelVersion)

  /// The parameter's name (`iommu.strict`).
  package var name: String {
    switch self {
    case .debugPagealloc: return "iommu.debug_pagealloc"
    case .pageOwner: return "page_owner"
    case .strict: return "iommu.strict"
    case .accounting: return "emu.accounting"
    case .kvaFlush: return "emu.kva_flush"
    case .notifier: return "emu.notifier"
    case .reset: return "emu.reset"
    case .mapCountMax: return "emu.map_count_max"
    case .dmaAssertIdle: return "emu.dma_assert_idle"
    case .kernel: return "emu.kernel"
    }
  }

  /// `NAME=VALUE` in the canonical spelling (`iommu.strict=1`, `page_owner=on`).
  package var description: String {
    switch self {
    case .debugPagealloc(let on), .strict(let on), .dmaAssertIdle(let on): return "\(name)=\(on ? 1 : 0)"
    case .pageOwner(let on): return "\(name)=\(on ? "on" : "off")"
    case .accounting(let value): return "\(name)=\(value.rawValue)"
    case .kvaFlush(let value): return "\(name)=\(value.rawValue)"
    case .notifier(let value): return "\(name)=\(value.rawValue)"
    case .reset(let value): return "\(name)=\(value.rawValue)"
    case .mapCountMax(let value): return "\(name)=\(value)"
    case .kernel(let value): return "\(name)=\(value)"
    }
  }

  /// The known parameter names, in the order the docs list them.
  package static let parameterNames: [String] = [
    "iommu.debug_pagealloc", "page_owner", "iommu.strict", "emu.accounting",
    "emu.kva_flush", "emu.notifier", "emu.reset", "emu.map_count_max", "emu.dma_assert_idle", "emu.kernel",
  ]
  /// "Did you mean" over `parameterNames`, remembered per misspelling.
  static let parameterSuggestions = SuggestionList(parameterNames)
}
