/// The `file:line function` of a kernel `WARN`.
package struct WarningSite: Sendable, Hashable {
  package var file: String
  package var line: Int
  package var function: String
  package init(file: String, line: Int, function: String) {
    self.file = file
    self.line = line
    self.function = function
  }
}

/// The WARN sites of `drivers/iommu/iommu-debug-pagealloc.c` (IOMMU_DEBUG_PAGEALLOC,
/// Linux 7.0), shared by the sanitizer and replay.
extension WarningSite {
  /// The file of IOMMU_DEBUG_PAGEALLOC.
  package static let debugPageAllocFile = "drivers/iommu/iommu-debug-pagealloc.c"
  /// `WARN_ON(atomic_inc_return_relaxed(&d->ref) <= 0)` in `iommu_debug_inc_page()`.
  package static let incPage = WarningSite(file: debugPageAllocFile, line: 47, function: "iommu_debug_inc_page")
  /// `WARN_ON(atomic_dec_return_relaxed(&d->ref) < 0)` in `iommu_debug_dec_page()`.
  package static let decPage = WarningSite(file: debugPageAllocFile, line: 60, function: "iommu_debug_dec_page")
  /// `WARN_ON(iommu_debug_page_count(page))` in `__iommu_debug_check_unmapped()`, followed by
  /// `pr_warn("iommu: Detected page leak!\n")` and `dump_page_owner()`.
  package static let checkUnmapped = WarningSite(
    file: debugPageAllocFile, line: 91, function: "__iommu_debug_check_unmapped")
  /// `WARN_ON(!phys || check_add_overflow(phys, size, &end))` in `__iommu_debug_map()`.
  package static let debugMap = WarningSite(file: debugPageAllocFile, line: 104, function: "__iommu_debug_map")
  /// `WARN_ON(check_add_overflow(...))` in `__iommu_debug_update_iova()`.
  package static let updateIOVA = WarningSite(
    file: debugPageAllocFile, line: 117, function: "__iommu_debug_update_iova")
  /// `WARN_ON_ONCE(unmapped > size)` in `__iommu_debug_unmap_end()`.
  package static let unmapEnd = WarningSite(file: debugPageAllocFile, line: 143, function: "__iommu_debug_unmap_end")
}

/// The `err_printk()` sites of `kernel/dma/debug.c` (CONFIG_DMA_API_DEBUG), each
/// its own `WARN(1, ...)`. Lines are those of the 7.0 cycle's file: `check_unmap()`
/// anchored at `struct hash_bucket *bucket;` on line 981 (the dma-mapping tree of
/// 2 April 2026, blob 0677918f06a8, hunk `@@ -981,6 +990,8 @@ static void check_unmap`),
/// the rest counted from mainline's text after the phys_addr_t and
/// `debug_dma_map_phys()` conversions. `err_printk()` is a macro, so `WARN()`'s
/// `__LINE__` is that of the `err_printk(` line (GCC; clang gives the line of
/// the closing parenthesis).
extension WarningSite {
  package static let dmaDebugFile = "kernel/dma/debug.c"
  /// `dma_mapping_error()` address: "device driver tries to free an invalid DMA memory address".
  package static let checkUnmapInvalidAddress = WarningSite(file: dmaDebugFile, line: 992, function: "check_unmap")
  /// "device driver tries to free DMA memory it has not allocated".
  package static let checkUnmapNotAllocated = WarningSite(file: dmaDebugFile, line: 996, function: "check_unmap")
  /// "device driver frees DMA memory with different size".
  package static let checkUnmapSize = WarningSite(file: dmaDebugFile, line: 1006, function: "check_unmap")
  /// "device driver frees DMA memory with wrong function".
  package static let checkUnmapType = WarningSite(file: dmaDebugFile, line: 1014, function: "check_unmap")
  /// "device driver frees DMA memory with different CPU address".
  package static let checkUnmapCPUAddress = WarningSite(file: dmaDebugFile, line: 1022, function: "check_unmap")
  /// "device driver frees DMA sg list with different entry count".
  package static let checkUnmapSGCount = WarningSite(file: dmaDebugFile, line: 1034, function: "check_unmap")
  /// "device driver frees DMA memory with different direction".
  package static let checkUnmapDirection = WarningSite(file: dmaDebugFile, line: 1045, function: "check_unmap")
  /// "device driver failed to check map error".
  package static let checkUnmapMapError = WarningSite(file: dmaDebugFile, line: 1060, function: "check_unmap")
  /// `check_sync()`'s sites, counted on from `check_unmap()` through the
  /// phys_addr_t `check_for_stack()` (not modelled: no `dma_sync` statement).
  /// "device driver tries to sync DMA memory it has not allocated".
  package static let checkSyncNotAllocated = WarningSite(file: dmaDebugFile, line: 1127, function: "check_sync")
  /// "device driver syncs DMA memory outside allocated range".
  package static let checkSyncRange = WarningSite(file: dmaDebugFile, line: 1135, function: "check_sync")
  /// "device driver syncs DMA memory with different direction".
  package static let checkSyncDirection = WarningSite(file: dmaDebugFile, line: 1148, function: "check_sync")
  /// "device driver syncs device read-only DMA memory for cpu".
  package static let checkSyncReadOnly = WarningSite(file: dmaDebugFile, line: 1159, function: "check_sync")
  /// "device driver syncs device write-only DMA memory to device".
  package static let checkSyncWriteOnly = WarningSite(file: dmaDebugFile, line: 1169, function: "check_sync")
  /// "device driver syncs DMA sg list with different entry count".
  package static let checkSyncSGCount = WarningSite(file: dmaDebugFile, line: 1179, function: "check_sync")
  /// `err_printk()` in `debug_dma_assert_idle()` (Linux 3.19 to 5.9): line 596 of a 5.3 log.
  package static let dmaDebugAssertIdle = WarningSite(
    file: dmaDebugFile, line: 596, function: "debug_dma_assert_idle")
}

extension WarningSite {
  /// True for a `WARN_ON()` that the kernel follows with no message of its own:
  /// IOMMU_DEBUG_PAGEALLOC's, except `__iommu_debug_check_unmapped()`'s (its
  /// `pr_warn()` and page_owner dump follow), and the reset re-entry's.
  package var isBareWarnOn: Bool {
    [WarningSite.incPage, .decPage, .debugMap, .updateIOVA, .unmapEnd, .resetPrepareReentry].contains(self)
  }
}

/// WARNs of the IOMMU core and page-table code that iommusan reproduces.
extension WarningSite {
  /// `WARN_ONCE(true, "Unmap of a partial large IOPTE is not allowed")` in
  /// `__arm_lpae_unmap()` (drivers/iommu/io-pgtable-arm.c, since 6.13's "Remove
  /// split on unmap behavior"). The last splat seen is 6.13-rc4's at :649; the
  /// line is that of a 2026 reading of mainline (:679), not a checked 7.0 one.
  package static let armLPAEPartialUnmap = WarningSite(
    file: "drivers/iommu/io-pgtable-arm.c", line: 679, function: "__arm_lpae_unmap")
  /// `if (WARN_ON(group->resetting_domain)) return -EBUSY;` ("Re-entry is not
  /// allowed") in `pci_dev_reset_iommu_prepare()`, drivers/iommu/iommu.c, at
  /// :3975 in the 7.0-rc base of the later gdev->blocked patch (`@@ -3971,8 +4003,12 @@`).
  package static let resetPrepareReentry = WarningSite(
    file: "drivers/iommu/iommu.c", line: 3975, function: "pci_dev_reset_iommu_prepare")
}

/// Where iommusan's own checks (emulator, ground truth, replay) WARN. No
/// kernel WARN exists for them: the function is iommusan's check and the line
/// its own number, but the file is the kernel file whose code path the check
/// extends, so syzkaller's guilty file (the `WARNING:` line's) is a real path
/// with maintainers: the IOMMU core for what the IOMMU layer must keep
/// (cached translations, domains, SVA), iommu-debug-pagealloc.c for the map
/// counts' blind spot, dma-iommu.c for the DMA API, the IOMMU driver for its
/// queued invalidation. (mm/page_alloc.c, where the free-path hooks run, is on
/// syzkaller's guilty-file ignore list.)
extension WarningSite {
  package enum Emulator {
    /// A freed data page an IOTLB or ATC entry still reaches: the unmap's
    /// `iommu_iotlb_sync()` the IOMMU core owes it.
    package static let freeCached = WarningSite(
      file: "drivers/iommu/iommu.c", line: 40, function: "iommusan_check_free_cached")
    /// A freed page a page table still maps, that the map counts missed.
    package static let freeMapped = WarningSite(
      file: WarningSite.debugPageAllocFile, line: 60, function: "iommusan_check_free_mapped")
    /// An I/O page-table page freed (`iommu_put_pages_list()`) while a walk cache points at it.
    package static let tableFree = WarningSite(
      file: "drivers/iommu/iommu-pages.c", line: 80, function: "iommusan_check_table_free")
    /// A kernel page-table page freed while an SVA walk cache points at it
    /// (`iommu_sva_invalidate_kva_range()`).
    package static let kernelTableFree = WarningSite(
      file: "drivers/iommu/iommu-sva.c", line: 90, function: "iommusan_check_kernel_pgtable_free")
    /// SVA-shared memory freed or remapped before the IOMMU's mmu_notifier flush.
    package static let secondaryTLB = WarningSite(
      file: "drivers/iommu/iommu-sva.c", line: 100, function: "iommusan_check_secondary_tlb")
    /// An ATS invalidation the device did not complete: the IOMMU driver's queue.
    package static func atsInvalidation(_ model: IOMMUModel) -> WarningSite {
      let file =
        switch model {
        case .vtd: "drivers/iommu/intel/dmar.c"
        case .amd: "drivers/iommu/amd/iommu.c"
        case .smmuv3: "drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c"
        }
      return WarningSite(file: file, line: 120, function: "iommusan_check_ats_invalidation")
    }
    /// A device access through a stale translation (the ground truth).
    package static let dmaGroundTruth = WarningSite(
      file: "drivers/iommu/iommu.c", line: 160, function: "iommusan_dma_ground_truth")
    /// A walk through a freed page-table page (the ground truth).
    package static let dmaStaleWalk = WarningSite(
      file: "drivers/iommu/iommu.c", line: 175, function: "iommusan_dma_ground_truth")
    /// A process exit with its SVA bond in place (`iommu_sva_unbind_device()` missing).
    package static let svaLeak = WarningSite(
      file: "drivers/iommu/iommu-sva.c", line: 195, function: "iommusan_check_mapping_leak")
    /// A domain freed or last device detached with mappings left.
    package static let mappingLeak = WarningSite(
      file: "drivers/iommu/iommu.c", line: 200, function: "iommusan_check_mapping_leak")
    /// A free of a block that another owner holds now (the kernel would free
    /// it silently): the page allocator's path (syzkaller ignores the file and
    /// names it only when no other file is in the report).
    package static let badFree = WarningSite(file: "mm/page_alloc.c", line: 210, function: "iommusan_check_bad_free")
    /// A device access through a kmalloc object's mapping that lands on a
    /// neighbour object (the ground truth).
    package static let dmaNeighbourObject = WarningSite(
      file: "drivers/iommu/iommu.c", line: 190, function: "iommusan_dma_ground_truth")
    /// `kfree()` of an object a live DMA mapping covers: the slab allocator's path.
    package static let slabFree = WarningSite(file: "mm/slub.c", line: 205, function: "iommusan_check_slab_free")
    /// A DMA mapping running past its allocation (`iommu_dma_map_phys()`).
    package static let dmaMapRange = WarningSite(
      file: "drivers/iommu/dma-iommu.c", line: 220, function: "iommusan_check_dma_map_range")
    /// Replay: an I/O page fault on a released IOVA (`report_iommu_fault()`).
    package static let faultAfterUnmap = WarningSite(
      file: "drivers/iommu/iommu.c", line: 1, function: "replay_check_fault_after_unmap")
  }
}
