/// A report kind that `expect report KIND` can name (fixture language section 10).
///
/// The raw values are the stable identifiers; they match the Reports module's
/// `ReportKind` raw values one for one.
public enum ExpectedReportKind: String, Sendable, Hashable, CaseIterable {
  case freedWhileMapped = "freed-while-mapped"
  case allocatedWhileMapped = "allocated-while-mapped"
  case mapCountUnderflow = "map-count-underflow"
  case mapCountOverflow = "map-count-overflow"
  case unmapLargerThanRequested = "unmap-larger-than-requested"
  case addressOverflow = "address-overflow"
  case freedWhileIOTLBCached = "freed-while-iotlb-cached"
  case pageTableFreedWhileCached = "page-table-freed-while-cached"
  case secondaryTLBStale = "secondary-tlb-stale"
  case atsInvalidationTimeout = "ats-invalidation-timeout"
  case mappingLeak = "mapping-leak"
  case dmaUnmapMismatch = "dma-unmap-mismatch"
  case dmaUnmapNotMapped = "dma-unmap-not-mapped"
  case dmaUseAfterFree = "dma-use-after-free"
  case dmaStaleWalk = "dma-stale-walk"
  /// Replay only: an I/O page fault on an IOVA that a traced unmap released.
  case faultAfterUnmap = "fault-after-unmap"
}
