/// How the sanitizer counts mappings (`emu.accounting=`).
package enum MapAccounting: String, Sendable, Hashable, CaseIterable {
  /// Every CPU page a mapping overlaps, from the leaves really installed and
  /// removed: no false positives or negatives.
  case exact
  /// The kernel's algorithm, blind spots included.
  case kernel
}

/// How kernel page-table pages are retired under SVA (`emu.kva_flush=`).
package enum KVAFlushPolicy: String, Sendable, Hashable, CaseIterable {
  /// Before the fix: no IOMMU invalidation.
  case none
  /// The July 2025 v2 patch: invalidate from `flush_tlb_kernel_range()`.
  case tlbRange = "tlb-range"
  /// The merged design: tables are freed by a worker after invalidation.
  case deferredFree = "deferred-free"
}

/// When secondary TLBs are invalidated (`emu.notifier=`).
package enum NotifierPolicy: String, Sendable, Hashable, CaseIterable {
  /// Where the CPU TLB is flushed (`arch_invalidate_secondary_tlbs`).
  case sync
  /// Only in `invalidate_range_end()`.
  case deferredEnd = "deferred-end"
}

/// How a device reset is fenced from the IOMMU (`emu.reset=`).
package enum ResetFencePolicy: String, Sendable, Hashable, CaseIterable {
  /// The merged design: an attach during the reset fails with EBUSY.
  case ebusy
  /// An attach during the reset is done at `reset_done`.
  case deferAttach = "defer"
  /// No fence.
  case none
}
