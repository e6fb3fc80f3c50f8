import KernelTypes
import Replay
import Reports
import Testing

/// One kmem event reports at most `TraceReplayer.pageReportsPerEvent` pages:
/// a hostile order-20 line over a large mapping made a million reports (the
/// fuzzer's out-of-memory input). The rest are counted exactly.
@Suite struct PageReportLimitTests {
  @Test func anOrder20FreeOverALargeMappingCountsThePagesPastTheLimit() throws {
    let limit = TraceReplayer.pageReportsPerEvent
    var t = TraceBuilder()
    // 65,536 pages by one large map, two small maps past it inside the block,
    // and a DMA-API mapping of 16 pages overlapping the large map's end.
    t.map(0x1_0000_0000, 0x4000_0000, 0x1000_0000)
    t.map(0x1000, 0x5001_0000, 4096)
    t.map(0x2000, 0x5001_1000, 4096)
    t.line(
      "dma_map_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=2000000 size=65536 phys_addr=4fff8000 attrs=", cpu: 1)
    t.free(0x4_0000, order: 20)
    let (reports, summary) = t.replay()
    #expect(reports.count == limit)
    #expect(reports.allSatisfy { $0.kind == .freedWhileMapped })
    // 65,536 + 8 DMA-API pages past the large map's end + 2 small maps.
    let mapped = 65_536 + 8 + 2
    #expect(summary.pageReportsNotPrinted == mapped - limit)
    let last = try #require(reports.last)
    let note = last.details.first { $0.key == "pages not reported" }
    #expect(
      note?.value
        == .string(
          "\(mapped - limit) further mapped pages of this order-20 block (at most \(limit) page reports an event)"))
    #expect(reports.dropLast().allSatisfy { r in !r.details.contains { $0.key == "pages not reported" } })
    #expect(
      summary.textLines.contains {
        $0.contains("\(mapped - limit) mapped pages of freed or allocated blocks not reported")
      })
  }

  /// Neither accounting alone reaches the limit, both together pass it: the
  /// rest are counted too (600 IOMMU pages, then 600 DMA-API pages after them).
  @Test func twoAccountingsTogetherPastTheLimitCountTheRest() {
    var t = TraceBuilder()
    t.map(0x1_0000_0000, 0x4000_0000, 600 * 4096)
    t.line("dma_map_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=2000000 size=2457600 phys_addr=40258000 attrs=", cpu: 1)
    t.free(0x4_0000, order: 11)
    let (reports, summary) = t.replay()
    #expect(reports.count == TraceReplayer.pageReportsPerEvent)
    #expect(summary.pageReportsNotPrinted == 1200 - TraceReplayer.pageReportsPerEvent)
    #expect(reports.last?.details.contains { $0.key == "pages not reported" } == true)
  }

  /// Pages counted one by one (small maps), more than the limit, some inside
  /// a large map: the walk stops at the limit and the rest are counted by the
  /// table's buckets, each page once.
  @Test func smallMapsPastTheLimitAreCountedOnce() {
    var t = TraceBuilder()
    for i in UInt64(0)..<1100 { t.map(0x1000_0000 + i << 12, 0x4000_0000 + (i * 3) << 12, 4096) }
    // A large map over pages 0..<2048 of the block: 683 of the small maps' pages are inside it.
    t.map(0x2_0000_0000, 0x4000_0000, 2048 * 4096)
    t.free(0x4_0000, order: 20)
    let (reports, summary) = t.replay()
    let mapped = 2048 + (1100 - 683)
    #expect(reports.count == TraceReplayer.pageReportsPerEvent)
    #expect(summary.pageReportsNotPrinted == mapped - TraceReplayer.pageReportsPerEvent)
  }

  /// The near miss: a block of the default MAX_PAGE_ORDER, every page mapped,
  /// reports every page as the kernel does.
  @Test func anOrder10BlockReportsEveryPage() {
    var t = TraceBuilder()
    t.map(0x1_0000_0000, 0x4000_0000, 0x40_0000)
    t.free(0x4_0000, order: 10)
    let (reports, summary) = t.replay()
    #expect(reports.count == 1024)
    #expect(summary.pageReportsNotPrinted == 0)
    #expect(!reports.contains { r in r.details.contains { $0.key == "pages not reported" } })
  }
}
