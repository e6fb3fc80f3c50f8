import Foundation
import KernelTypes
import MemoryModel
import Replay
import Reports
import Testing

/// Builds trace lines in the tracefs format.
struct TraceBuilder {
  var lines: [String] = []
  var time: UInt64 = 1_000_000

  static func hex16(_ v: UInt64) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 16 - s.count)) + s
  }

  mutating func line(_ event: String, _ payload: String, comm: String = "acme-drv", pid: Int = 100, cpu: Int = 0) {
    time += 10
    let ts = "\(time / 1_000_000).\(String(format: "%06d", time % 1_000_000))"
    lines.append("  \(comm)-\(pid)  [\(String(format: "%03d", cpu))] .....  \(ts): \(event): \(payload)")
  }

  mutating func map(_ iova: UInt64, _ paddr: UInt64, _ size: UInt64, comm: String = "acme-drv", cpu: Int = 0) {
    line(
      "map", "IOMMU: iova=\(Self.hex16(iova)) - \(Self.hex16(iova &+ size)) paddr=\(Self.hex16(paddr)) size=\(size)",
      comm: comm, cpu: cpu)
  }

  mutating func unmap(_ iova: UInt64, _ size: UInt64, unmapped: UInt64? = nil, comm: String = "acme-drv", cpu: Int = 0)
  {
    line(
      "unmap",
      "IOMMU: iova=\(Self.hex16(iova)) - \(Self.hex16(iova &+ size)) size=\(size) unmapped_size=\(unmapped ?? size)",
      comm: comm, cpu: cpu)
  }

  mutating func alloc(_ pfn: UInt64, order: Int = 0, comm: String = "acme-drv", cpu: Int = 0) {
    line(
      "mm_page_alloc",
      "page=00000000deadbeef pfn=0x\(String(pfn, radix: 16)) order=\(order) migratetype=0 gfp_flags=GFP_KERNEL",
      comm: comm, cpu: cpu)
  }

  mutating func free(_ pfn: UInt64, order: Int = 0, comm: String = "acme-drv", cpu: Int = 0) {
    line("mm_page_free", "page=00000000deadbeef pfn=0x\(String(pfn, radix: 16)) order=\(order)", comm: comm, cpu: cpu)
  }

  mutating func dma(_ event: String, _ device: String, _ addr: UInt64, _ size: UInt64, cpu: Int = 0) {
    line(event, "\(device) dir=BIDIRECTIONAL dma_addr=\(String(addr, radix: 16)) size=\(size) attrs=", cpu: cpu)
  }

  mutating func fault(_ device: String, _ iova: UInt64, driver: String = "acme_drv", flags: UInt64 = 1, cpu: Int = 5) {
    line(
      "io_page_fault", "IOMMU:\(driver) \(device) iova=\(Self.hex16(iova)) flags=0x000\(flags)", comm: "irq/30-AMD-Vi",
      pid: 150, cpu: cpu)
  }

  var text: String { lines.joined(separator: "\n") + "\n" }

  func replay(pageSize: UInt64 = 4096, history: Int = 65536) -> (reports: [Report], summary: ReplaySummary) {
    TraceReplay.replay(
      text: text, options: ReplayOptions(pageSize: pageSize, traceName: "t.trace", releasedHistory: history))
  }
}

@Suite struct EngineTests {
  @Test func freeWhileMappedHasTheKernelShape() throws {
    var t = TraceBuilder()
    t.alloc(0x80010)
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.free(0x80010, comm: "kworker/u64:0")
    let (reports, summary) = t.replay()
    #expect(reports.count == 1)
    let r = try #require(reports.first)
    #expect(r.kind == .freedWhileMapped)
    #expect(r.headline == "iommu: Detected page leak!")
    #expect(
      r.warningSite
        == WarningSite(
          file: "drivers/iommu/iommu-debug-pagealloc.c", line: 91, function: "__iommu_debug_check_unmapped"))
    #expect(r.pfn == PFN(0x80010))
    #expect(r.phys == PhysicalAddress(0x8001_0000))
    #expect(r.iova == IOVA(0xffff_f000))
    #expect(r.count == 1)
    #expect(r.statement?.line == 3)
    #expect(r.statement?.file == "t.trace")
    #expect(r.statement?.text.hasPrefix("kworker/u64:0-100") == true)
    #expect(r.task.comm == "kworker/u64:0")
    let guilty = try #require(r.callTrace.first { $0.isGuilty })
    // No mapping names a device here: the task is the last resort, with the event.
    #expect(guilty.function == "kworker_mm_page_free")
    #expect(guilty.sourceLine == 3)
    #expect(KernelTextRenderer.expectedSyzkallerTitle(of: r) == "WARNING in kworker_mm_page_free")
    #expect(r.details.first { $0.key == "map line" }?.value == .int(2))
    #expect(r.details.first { $0.key == "map ts" }?.value == .string("1.000020"))
    #expect(r.details.first { $0.key == "free line" }?.value == .int(3))
    #expect(summary.exitStatus == 1)
    let text = KernelTextRenderer().render(r)
    #expect(
      text.contains(
        "WARNING: drivers/iommu/iommu-debug-pagealloc.c:91 at __iommu_debug_check_unmapped+0x"))
    #expect(text.contains(", CPU#0: kworker/u64:0/100\n"))
    #expect(text.contains("RIP: 0010:kworker_mm_page_free+0x"))
  }

  @Test func unmapBeforeFreeIsClean() {
    var t = TraceBuilder()
    t.alloc(0x80010)
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.unmap(0xffff_f000, 4096)
    t.free(0x80010)
    t.alloc(0x80010)
    let (reports, summary) = t.replay()
    #expect(reports.isEmpty)
    #expect(summary.exitStatus == 0)
    #expect(summary.liveMappings == 0)
    #expect(summary.mappedPages == 0)
  }

  @Test func highOrderBlockReportsOnlyMappedPages() {
    var t = TraceBuilder()
    t.alloc(0x80000, order: 3)
    t.map(0x1000_0000, 0x8000_2000, 3 * 4096)
    t.free(0x80000, order: 3)
    let (reports, _) = t.replay()
    #expect(reports.map { $0.pfn?.rawValue } == [0x80002, 0x80003, 0x80004])
    #expect(reports.map { $0.iova?.rawValue } == [0x1000_0000, 0x1000_1000, 0x1000_2000])
  }

  @Test func doubleMappedPageCountsTwice() {
    var t = TraceBuilder()
    t.map(0x1000_0000, 0x8000_0000, 4096)
    t.map(0x2000_0000, 0x8000_0000, 4096)
    t.unmap(0x1000_0000, 4096)
    t.free(0x80000)
    let (reports, _) = t.replay()
    #expect(reports.count == 1)
    #expect(reports.first?.count == 1)
    #expect(reports.first?.iova == IOVA(0x2000_0000))
  }

  @Test func unmapSpanningSeveralMapsAndPartialUnmaps() {
    var t = TraceBuilder()
    // An sg list: three maps, one unmap over all of them.
    t.map(0x1000_0000, 0x8000_0000, 8192)
    t.map(0x1000_2000, 0x9000_0000, 4096)
    t.map(0x1000_3000, 0xa000_0000, 4096)
    t.unmap(0x1000_0000, 0x4000)
    // A map unmapped in two halves, the free in between.
    t.map(0x2000_0000, 0xb000_0000, 8192)
    t.unmap(0x2000_1000, 4096)
    t.free(0xb0001)
    t.free(0xb0000)
    t.unmap(0x2000_0000, 4096)
    t.free(0xb0000)
    let (reports, summary) = t.replay()
    #expect(reports.map { $0.pfn?.rawValue } == [0xb0000])
    #expect(reports.first?.statement?.line == 8)
    #expect(summary.liveMappings == 0)
    #expect(summary.unmatchedUnmaps == 0)
  }

  @Test func largeMappingsAreCountedByRange() {
    var t = TraceBuilder()
    t.map(0x4000_0000, 0x1_0000_0000, 2 << 20)  // 512 pages
    t.unmap(0x4008_0000, 1 << 20)  // the middle 1 MiB
    t.free(0x100080, order: 7)  // the pages the unmap released
    t.free(0x100100, order: 7)
    t.free(0x10007f)  // the last page still mapped on the left
    t.free(0x100180)  // a page still mapped on the right
    t.unmap(0x4000_0000, 2 << 20)
    t.free(0x10007f)
    let (reports, summary) = t.replay()
    #expect(reports.map { $0.pfn?.rawValue } == [0x10007f, 0x100180])
    #expect(reports.map { $0.iova?.rawValue } == [0x4007_f000, 0x4018_0000])
    #expect(reports.allSatisfy { $0.count == 1 })
    #expect(summary.liveMappings == 0)
    // The final unmap also covered the middle, no longer mapped.
    #expect(summary.unmatchedUnmaps == 1)
  }

  @Test func largePagesShareCPUPagesAcrossPieces() {
    var t = TraceBuilder()
    t.map(0x1000_0000, 0x8800_0000, 16384)
    t.unmap(0x1000_1000, 4096)
    t.free(0x8800)
    t.unmap(0x1000_0000, 4096)
    t.unmap(0x1000_2000, 8192)
    t.free(0x8800)
    let (reports, _) = t.replay(pageSize: 65536)
    #expect(reports.count == 1)
    #expect(reports.first?.count == 2)
    #expect(reports.first?.phys == PhysicalAddress(0x8800_0000))
  }

  @Test func allocatedWhileMapped() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.alloc(0x80010, comm: "kswapd0")
    let (reports, _) = t.replay()
    let r = try #require(reports.first)
    #expect(reports.count == 1)
    #expect(r.kind == .allocatedWhileMapped)
    #expect(r.callTrace.map(\.function).prefix(2) == ["__iommu_debug_check_unmapped", "post_alloc_hook"])
    #expect(r.details.first { $0.key == "gfp_flags" }?.value == .string("GFP_KERNEL"))
  }

  @Test func unmatchedUnmapsAreCountedNotReported() {
    var t = TraceBuilder()
    t.unmap(0xffff_f000, 4096)
    t.unmap(0xffff_e000, 4096)
    t.free(0x80010)
    let (reports, summary) = t.replay()
    #expect(reports.isEmpty)
    #expect(summary.unmatchedUnmaps == 2)
    #expect(summary.textLines.contains { $0.contains("2 unmaps of IOVAs no traced map covered") })
  }

  /// Counts of one take the singular: `1 line, 1 event`, `1 unmap of IOVAs`, `0 reports`.
  @Test func summaryPlurals() {
    var t = TraceBuilder()
    t.unmap(0xffff_f000, 4096)
    let (_, summary) = t.replay()
    let first = summary.textLines[0]
    #expect(first.contains(": 1 line, 1 event (") && first.contains(", 0 reports, "))
    #expect(summary.textLines.contains { $0.contains(" 1 unmap of IOVAs no traced map covered") })
    #expect(summary.textLines[1].contains("0 live IOMMU mappings at the end (0 bytes, 0 pages)"))
  }

  @Test func dmaEventsAttributeOverlappingIOVAs() {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8000_0000, 4096, cpu: 1)
    t.dma("dma_map_page", "0000:01:00.0", 0xffff_f000, 4096, cpu: 1)
    t.map(0xffff_f000, 0x9000_0000, 4096, cpu: 2)
    t.dma("dma_map_page", "0000:02:00.0", 0xffff_f000, 4096, cpu: 2)
    // Device 2 unmaps first; its dma_unmap_page comes after the unmap.
    t.unmap(0xffff_f000, 4096, cpu: 2)
    t.dma("dma_unmap_page", "0000:02:00.0", 0xffff_f000, 4096, cpu: 2)
    t.free(0x90000, cpu: 2)
    t.free(0x80000, cpu: 1)
    let (reports, summary) = t.replay()
    #expect(summary.ambiguousAttributions == 0)
    #expect(reports.map { $0.pfn?.rawValue } == [0x80000])
    #expect(reports.first?.device == "0000:01:00.0")
    #expect(summary.deviceSpaces == 2)
  }

  @Test func ambiguousAttributionIsSaidInTheReport() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8000_0000, 4096, cpu: 1)
    t.map(0xffff_f000, 0x9000_0000, 4096, cpu: 2)
    t.map(0xffff_f000, 0xa000_0000, 4096, cpu: 3)
    t.unmap(0xffff_f000, 4096, cpu: 2)
    // The free needs the unmap settled: the guess (the latest map) is ambiguous.
    t.free(0xa0000, cpu: 0)
    t.free(0x90000, cpu: 0)
    // The device faults where its (guessed) domain no longer maps the IOVA.
    t.fault("dev", 0xffff_f000)
    let (reports, summary) = t.replay()
    #expect(summary.ambiguousAttributions == 1)
    #expect(summary.overlappingMaps == 2)
    #expect(reports.map(\.kind) == [.freedWhileMapped, .faultAfterUnmap])
    #expect(reports.first?.pfn == PFN(0x90000))
    let fault = try #require(reports.last)
    #expect(fault.phys == PhysicalAddress(0xa000_0000))
    guard case .string(let a)? = fault.details.first(where: { $0.key == "attribution" })?.value else {
      Issue.record("no attribution detail")
      return
    }
    #expect(a.hasPrefix("ambiguous: iova 0xfffff000-0xffffffff was mapped in 3 address spaces"))
  }

  /// More candidate spaces than `TraceReplayer.linearCandidates`: the same
  /// guess (the latest map) and the same note as with three.
  @Test func ambiguousAttributionAmongManySpaces() throws {
    var t = TraceBuilder()
    for i in 0..<12 { t.map(0xffff_f000, 0x1_0000_0000 + UInt64(i) << 24, 4096, cpu: i + 1) }
    t.unmap(0xffff_f000, 4096, cpu: 2)
    t.free(0x10_b000, cpu: 0)
    t.free(0x10_1000, cpu: 0)
    t.fault("dev", 0xffff_f000)
    let (reports, summary) = t.replay()
    #expect(summary.ambiguousAttributions == 1)
    #expect(reports.map(\.kind) == [.freedWhileMapped, .faultAfterUnmap])
    #expect(reports.first?.pfn == PFN(0x10_1000))
    let fault = try #require(reports.last)
    #expect(fault.phys == PhysicalAddress(0x1_0b00_0000))
    guard case .string(let a)? = fault.details.first(where: { $0.key == "attribution" })?.value else {
      Issue.record("no attribution detail")
      return
    }
    #expect(a.hasPrefix("ambiguous: iova 0xfffff000-0xffffffff was mapped in 12 address spaces"))
  }

  @Test func groupsShareAnAddressSpace() {
    var t = TraceBuilder()
    t.line("add_device_to_group", "IOMMU: groupID=7 device=0000:05:00.0")
    t.line("add_device_to_group", "IOMMU: groupID=7 device=0000:05:00.1")
    t.map(0xffff_f000, 0x8000_0000, 4096)
    t.dma("dma_map_page", "0000:05:00.0", 0xffff_f000, 4096)
    t.dma("dma_unmap_page", "0000:05:00.1", 0xffff_f000, 4096)
    t.unmap(0xffff_f000, 4096)
    t.fault("0000:05:00.1", 0xffff_f000)
    let (reports, summary) = t.replay()
    #expect(summary.groupSpaces == 1)
    #expect(summary.deviceSpaces == 0)
    #expect(reports.map(\.kind) == [.faultAfterUnmap])
    #expect(reports.first?.domain == "group 7")
  }

  @Test func faultAfterUnmapQuotesEveryEvent() throws {
    var t = TraceBuilder()
    t.map(0xfe98_0000, 0x1_0ec8_0000, 524288)
    t.dma("dma_alloc", "0000:c2:00.0", 0xfe98_0000, 524288)
    t.dma("dma_free", "0000:c2:00.0", 0xfe98_0000, 524288)
    t.unmap(0xfe98_0000, 524288)
    t.free(0x10ec80, order: 7)
    t.fault("0000:c2:00.0", 0xfe98_1040, driver: "ath12k_pci")
    let (reports, summary) = t.replay()
    let r = try #require(reports.first)
    #expect(reports.count == 1)
    #expect(r.kind == .faultAfterUnmap)
    #expect(r.source == .trace)
    #expect(r.iova == IOVA(0xfe98_1040))
    #expect(r.phys == PhysicalAddress(0x1_0ec8_1040))
    #expect(r.pfn == PFN(0x10ec81))
    let keys = r.details.map(\.key)
    for k in [
      "map line", "dma map line", "dma release line", "unmap line", "page free line", "fault line", "after unmap",
    ] {
      #expect(keys.contains(k), "missing \(k)")
    }
    #expect(r.details.first { $0.key == "page free line" }?.value == .int(5))
    let guilty = try #require(r.callTrace.first { $0.isGuilty })
    #expect(guilty.function == "ath12k_pci_io_page_fault")
    #expect(guilty.module == "ath12k_pci")
    #expect(KernelTextRenderer.expectedSyzkallerTitle(of: r) == "WARNING in ath12k_pci_io_page_fault")
    #expect(summary.faultsAfterUnmap == 1)
  }

  @Test func remappingAnIOVAForgetsItsRelease() {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8000_0000, 4096)
    t.unmap(0xffff_f000, 4096)
    t.map(0xffff_f000, 0x9000_0000, 4096)
    t.unmap(0xffff_e000, 4096)  // another CPU event window ends; the remap is settled
    t.fault("dev0", 0xffff_f000)
    let (reports, summary) = t.replay()
    #expect(reports.isEmpty)
    #expect(summary.faultsOnLiveMappings == 1)
  }

  @Test func unmapLargerThanRequestedOnce() {
    var t = TraceBuilder()
    t.map(0x4000_0000, 0x8000_0000, 2 << 20)
    t.unmap(0x4000_0000, 4096, unmapped: 2 << 20)
    t.map(0x5000_0000, 0x9000_0000, 2 << 20)
    t.unmap(0x5000_0000, 4096, unmapped: 2 << 20)
    t.free(0x80100)
    let (reports, summary) = t.replay()
    #expect(reports.map(\.kind) == [.unmapLargerThanRequested])
    #expect(summary.largerUnmaps == 2)
    #expect(summary.liveMappings == 0)
  }

  @Test func addressOverflows() {
    var t = TraceBuilder()
    t.map(0x1000, 0, 4096)
    t.map(0x2000, 0xffff_ffff_ffff_f000, 8192)
    t.unmap(0xffff_ffff_ffff_f000, 8192, unmapped: 0)
    let (reports, summary) = t.replay()
    // Two for the maps; two for the unmap: unmap_begin, and unmap_end
    // re-counting the range nothing was unmapped from.
    #expect(reports.map(\.kind) == [.addressOverflow, .addressOverflow, .addressOverflow, .addressOverflow])
    #expect(reports.map(\.headline)[0] == "iommu: phys is 0")
    #expect(summary.liveMappings == 1)
  }

  @Test func lostEventsAreNamedInLaterReports() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8000_0000, 4096)
    t.lines.append("CPU:3 [LOST 120 EVENTS]")
    t.free(0x80000)
    let (reports, summary) = t.replay()
    let r = try #require(reports.first)
    #expect(r.details.contains { $0.key == "lost events" })
    #expect(summary.lostEventMarkers == 1)
    #expect(summary.lostEvents == 120)
  }

  @Test func chunkBoundariesDoNotMatter() throws {
    var t = TraceBuilder()
    for i in 0..<200 {
      let iova = UInt64(0x1000_0000 + i * 0x1000)
      t.map(iova, UInt64(0x8000_0000 + i * 0x1000), 4096, cpu: i % 3)
      if i % 7 == 0 { t.free(UInt64(0x80000 + i), cpu: 1) }
      t.unmap(iova, 4096, cpu: i % 3)
    }
    t.fault("dev", 0x1000_5000)
    let text = t.text + "  last-1 [000] ..... 9.0: mm_page_free: page=1 pfn=0x80000 order=0"  // no final newline
    let whole = TraceReplay.replay(text: text)
    let wholeOut = whole.reports.map { JSONLinesRenderer().line($0) }
    #expect(whole.reports.count == 30)
    for size in [1, 7, 64, 4096] {
      var out: [String] = []
      let replayer = TraceReplayer { out.append(JSONLinesRenderer().line($0)) }
      let bytes = Array(text.utf8)
      var i = 0
      while i < bytes.count {
        let j = min(bytes.count, i + size)
        bytes[i..<j].withUnsafeBytes { replayer.consume($0) }
        i = j
      }
      let s = replayer.finish()
      #expect(out == wholeOut, "chunk size \(size)")
      #expect(s.lines == whole.summary.lines)
      #expect(s.events == whole.summary.events)
    }
  }

  @Test func outputIsDeterministic() {
    var t = TraceBuilder()
    for i in 0..<50 {
      t.map(UInt64(0xffff_0000 - i * 0x1000), UInt64(0x8000_0000 + (i % 5) * 0x1000), 4096, cpu: i % 4)
    }
    for i in 0..<5 { t.free(UInt64(0x80000 + i)) }
    let a = t.replay()
    let b = t.replay()
    #expect(a.reports == b.reports)
    #expect(a.summary.json.serialized == b.summary.json.serialized)
    #expect(a.summary.textLines == b.summary.textLines)
  }

  @Test func jsonSummaryHasNoKindAndIntegerPFN() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.free(0x80010)
    let (reports, summary) = t.replay()
    let report = try #require(
      try JSONSerialization.jsonObject(with: Data(JSONLinesRenderer().line(reports[0]).utf8)) as? [String: Any])
    #expect(report["pfn"] as? Int == 0x80010)
    #expect(report["source"] as? String == "kernel sanitizer")
    let s = try #require(try JSONSerialization.jsonObject(with: Data(summary.json.serialized.utf8)) as? [String: Any])
    #expect(s["kind"] == nil)
    let inner = try #require(s["summary"] as? [String: Any])
    #expect((inner["by_event"] as? [String: Any])?["map"] as? Int == 1)
    #expect(inner["exit_status"] as? Int == 1)
  }

  @Test func notATraceExitsTwo() {
    let (_, summary) = TraceReplay.replay(text: "hello\nworld\n")
    #expect(summary.exitStatus == 2)
    // docs/Replay.md: an input in which no line is a trace event exits 2,
    // empty and header-only ones too.
    let (_, empty) = TraceReplay.replay(text: "")
    #expect(empty.exitStatus == 2)
    #expect(empty.format == "empty")
    let (_, header) = TraceReplay.replay(text: "# tracer: nop\n#\n")
    #expect(header.exitStatus == 2)
  }

  @Test func lostEventsPastUInt64Saturate() {
    let trace =
      "CPU:1 [LOST 99999999999999999999 EVENTS]\n"
      + "  kworker/0:1-10    [000] .....  1.000001: map: IOMMU: iova=0x0000000000001000 - 0x0000000000002000 "
      + "paddr=0x0000000080000000 size=4096\n"
    let (_, summary) = TraceReplay.replay(text: trace)
    #expect(summary.malformedLines == 0)
    #expect(summary.lostEventMarkers == 1 && summary.lostEvents == .max)
    #expect(summary.firstLostEventsLine == 1)
  }

  @Test func keyedHashKeepsAdversarialPFNsApart() {
    // PFNs m * q with q from the continued fraction of the old multiplier
    // all fell into one probe cluster; the counts must still be exact.
    let q: UInt64 = 0x1_0000_0001
    var trace = ""
    for m in UInt64(1)...2000 {
      let iova = m * 4096
      let paddr = (m * q % (1 << 40)) * 4096
      trace +=
        "  kworker/0:1-10    [000] .....  1.\(String(1_000_000 + m).dropFirst()): map: IOMMU: iova=0x"
        + String(iova, radix: 16) + " - 0x" + String(iova + 4096, radix: 16) + " paddr=0x" + String(paddr, radix: 16)
        + " size=4096\n"
    }
    let (_, summary) = TraceReplay.replay(text: trace)
    #expect(summary.events == 2000 && summary.malformedLines == 0)
  }

  @Test func memoryIsBoundedByLiveMappings() {
    var faults: [Report] = []
    let replayer = TraceReplayer(options: ReplayOptions(releasedHistory: 100)) { faults.append($0) }
    var t = TraceBuilder()
    for round in 0..<20 {
      t.lines.removeAll(keepingCapacity: true)
      for i in 0..<1000 {
        let k = UInt64(round * 1000 + i)
        t.map(0x1_0000_0000 + k * 0x1000, 0x8000_0000 + (k % 64) * 0x1000, 4096)
        t.unmap(0x1_0000_0000 + k * 0x1000, 4096)
      }
      replayer.consume(t.text)
    }
    t.lines.removeAll()
    t.fault("dev", 0x1_0000_0000)  // released long ago: forgotten
    t.fault("dev", 0x1_0000_0000 + 19_999 * 0x1000)  // released recently
    replayer.consume(t.text)
    let s = replayer.finish()
    #expect(faults.count == 1)
    #expect(s.faultsUnknownIOVA == 1)
    #expect(s.liveMappings == 0)
    #expect(s.mappedPages == 0)
    #expect(s.events == 40002)
  }

  @Test func taskSymbolsKeepTitlesPerSite() throws {
    for (comm, symbol) in [
      ("kworker/u64:0", "kworker"), ("irq/26-AMD-Vi", "irq_AMD_Vi"), ("(udev-worker)", "udev_worker"),
      ("<idle>", "idle"), ("Web Content", "Web_Content"), ("---", "task"),
    ] {
      var t = TraceBuilder()
      t.map(0xffff_f000, 0x8000_0000, 4096)
      t.free(0x80000, comm: comm)
      let r = try #require(t.replay().reports.first)
      #expect(r.callTrace.first { $0.isGuilty }?.function == symbol + "_mm_page_free", "\(comm)")
    }
  }
}
