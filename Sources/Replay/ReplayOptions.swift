import KernelTypes

/// Settings of one replay.
package struct ReplayOptions: Sendable, Hashable {
  /// The traced machine's CPU page size (`PAGE_SIZE`): 4096, 16384 or 65536.
  /// kmem `pfn=` values count pages of this size.
  package var pageSize: UInt64
  /// The name reports give the trace (`file` of the statement): its path, or `-` for stdin.
  package var traceName: String
  /// How many malformed line numbers the summary lists.
  package var malformedLinesListed: Int
  /// How many released IOVA ranges are remembered for `fault-after-unmap`
  /// (oldest forgotten first), which bounds memory on endless traces.
  package var releasedHistory: Int
  /// Whether reports carry their page's last traced events (`PageTrail`);
  /// off, replay keeps no trail (`--no-history`).
  package var pageHistory = true
  /// Whether a file or descriptor is parsed on a second thread while the
  /// calling thread replays (`ParsePipeline`; only with more than one CPU).
  /// The output is the same either way.
  package var parseThread = true
  /// The second thread even on a busy machine (tests of the pipeline).
  package var parseThreadAlways = false

  package init(
    pageSize: UInt64 = 4096, traceName: String = "-", malformedLinesListed: Int = 5, releasedHistory: Int = 65536
  ) {
    self.pageSize = pageSize
    self.traceName = traceName
    self.malformedLinesListed = malformedLinesListed
    self.releasedHistory = max(1, releasedHistory)
  }

  /// `log2(pageSize)`, for a power of two from 4K to 64K (else 12).
  var pageShift: UInt64 {
    guard pageSize >= 4096, pageSize <= 65536, pageSize & (pageSize - 1) == 0 else { return 12 }
    return UInt64(pageSize.trailingZeroBitCount)
  }
}
