/// The stable identifiers of report kinds (fixture language section 10).
///
/// These names are a contract: `expect report KIND`, the JSON output and
/// users' scripts all use them.
package enum ReportKind: String, CaseIterable, Sendable, Hashable, Codable {
  case freedWhileMapped = "freed-while-mapped"
  case allocatedWhileMapped = "allocated-while-mapped"
  case mapCountUnderflow = "map-count-underflow"
  case mapCountOverflow = "map-count-overflow"
  case unmapLargerThanRequested = "unmap-larger-than-requested"
  case addressOverflow = "address-overflow"
  case freedWhileIOTLBCached = "freed-while-iotlb-cached"
  /// A page freed while a page table still maps it, which the map counts
  /// did not count (kernel accounting's blind spot, or the hooks off).
  case freedWhileMappedUncounted = "freed-while-mapped-uncounted"
  case pageTableFreedWhileCached = "page-table-freed-while-cached"
  case secondaryTLBStale = "secondary-tlb-stale"
  case atsInvalidationTimeout = "ats-invalidation-timeout"
  case mappingLeak = "mapping-leak"
  case dmaUnmapMismatch = "dma-unmap-mismatch"
  case dmaUnmapNotMapped = "dma-unmap-not-mapped"
  /// DMA-API debug's `check_sync()`: a sync of an address no mapping holds.
  case dmaSyncNotMapped = "dma-sync-not-mapped"
  /// DMA-API debug's `check_sync()`: a sync past the mapping, in another
  /// direction, or of an sg list with another entry count.
  case dmaSyncMismatch = "dma-sync-mismatch"
  case dmaUseAfterFree = "dma-use-after-free"
  case dmaStaleWalk = "dma-stale-walk"
  case pageDoubleFree = "page-double-free"
  /// `__free_pages()` of a page that no allocation handed out as a block
  /// head: never allocated, or a tail page of a live block (`free_pages pfn=`).
  case pageFreeNeverAllocated = "page-free-never-allocated"
  case vfreeNonexistentArea = "vfree-nonexistent-area"
  case domainUseAfterFree = "domain-use-after-free"
  case dmaMapBeyondAllocation = "dma-map-beyond-allocation"
  case badPageState = "bad-page-state"
  case pageFreeWrongOrder = "page-free-wrong-order"
  /// io-pgtable-arm's WARN_ONCE: an unmap that cuts through a block mapping.
  case unmapPartialLargePage = "unmap-partial-large-page"
  /// The IOMMU core's WARN_ON: `pci_dev_reset_iommu_prepare()` re-entered.
  case resetPrepareReentry = "reset-prepare-reentry"
  /// A device access through a mapping made for a kmalloc object that lands
  /// on another object in the same page (D-KASAN's sub-page exposure).
  case dmaNeighbourObjectAccess = "dma-neighbour-object-access"
  /// `kfree()` of a kmalloc object that a live streaming DMA mapping covers:
  /// the page stays allocated, so page counting cannot see it.
  case slabFreedWhileMapped = "slab-freed-while-mapped"
  /// DMA-API debug's `debug_dma_assert_idle()` (Linux 3.19 to 5.9): the CPU
  /// touches a page whose first cacheline starts an active from-device mapping.
  case dmaCPUTouchActiveCacheline = "dma-cpu-touch-active-cacheline"
  /// Replay only: an `io_page_fault` on an IOVA that a traced unmap released earlier.
  case faultAfterUnmap = "fault-after-unmap"

  /// Where a real kernel would see this kind.
  package var source: ReportSource {
    switch self {
    case .freedWhileMapped, .allocatedWhileMapped, .mapCountUnderflow, .mapCountOverflow,
      .unmapLargerThanRequested, .addressOverflow:
      return .kernelSanitizer
    case .freedWhileIOTLBCached, .freedWhileMappedUncounted, .pageTableFreedWhileCached, .secondaryTLBStale,
      .atsInvalidationTimeout, .mappingLeak, .dmaMapBeyondAllocation, .pageFreeWrongOrder, .slabFreedWhileMapped:
      return .emulator
    case .pageDoubleFree, .pageFreeNeverAllocated, .vfreeNonexistentArea, .domainUseAfterFree, .badPageState,
      .unmapPartialLargePage, .resetPrepareReentry:
      return .kernel
    case .dmaUnmapMismatch, .dmaUnmapNotMapped, .dmaSyncNotMapped, .dmaSyncMismatch, .dmaCPUTouchActiveCacheline:
      return .dmaAPIDebug
    case .dmaUseAfterFree, .dmaStaleWalk, .dmaNeighbourObjectAccess:
      return .groundTruth
    case .faultAfterUnmap:
      return .trace
    }
  }
}

/// Which part of iommusan (and which part of a real kernel) saw a report.
package enum ReportSource: String, Sendable, Hashable, Codable {
  case kernelSanitizer = "kernel sanitizer"
  /// The kernel's own debug checks: CONFIG_DEBUG_VM, KASAN, a WARN in mm/.
  case kernel = "kernel"
  case emulator = "emulator"
  case dmaAPIDebug = "DMA-API debug"
  case groundTruth = "ground truth"
  case trace = "trace"
}
