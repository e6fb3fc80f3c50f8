import Foundation
import KernelTypes
import MemoryModel
import Replay
import Reports
import Testing

/// The `dma:` events of Linux 6.12 to 7.0, the DMA-API accounting, report histories and verdicts.
@Suite struct DMAReplayTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func record(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TraceRecord {
    let parsed = TraceLine.parse(line)
    return try #require(parsed.record, "not an event: \(parsed.kind)", sourceLocation: sourceLocation)
  }

  /// `iommusan replay`'s whole output for a fixture trace, as the command renders it.
  static func output(_ name: String, json: Bool) throws -> String {
    let path = root.appendingPathComponent("Fixtures/traces/\(name).trace").path
    var out = ""
    var kernel = KernelLog(renderer: KernelTextRenderer(includeHistory: true))
    let summary = try TraceReplay.replay(
      path: path, options: ReplayOptions(traceName: "Fixtures/traces/\(name).trace")
    ) { out += json ? JSONLinesRenderer().render($0) : kernel.report($0) }
    out += json ? summary.json.serialized + "\n" : summary.textLines.joined(separator: "\n") + "\n"
    return out
  }

  // MARK: - Parsing

  @Test(arguments: [
    // 6.18
    "kworker/2:1-88 [002] ..... 30.000110: dma_map_phys: 0000:01:00.0 dir=TO_DEVICE dma_addr=123450000 size=4096 phys_addr=123450000 attrs=",
    // 6.12-6.17
    "kworker/2:1-88 [002] ..... 30.000110: dma_map_page: 0000:01:00.0 dir=TO_DEVICE dma_addr=123450000 size=4096 phys_addr=123450000 attrs=SKIP_CPU_SYNC",
    "kworker/2:1-88 [002] ..... 30.000110: dma_map_resource: 0000:01:00.0 dir=TO_DEVICE dma_addr=123450000 size=4096 phys_addr=fe000000 attrs=",
    // trace-cmd report -R prints the direction's number
    "kworker/2:1-88 [002] 30.000110: dma_map_phys: 0000:01:00.0 dir=1 dma_addr=123450000 size=4096 phys_addr=123450000 attrs=0",
  ])
  func singleMapEvents(line: String) throws {
    let r = try record(line)
    #expect(r.type.name.hasPrefix("dma_map_"))
    #expect(r.dmaDirection == .toDevice)
    guard case .dma(let device, let ranges, let phys) = r.fields else {
      Issue.record("not a dma event: \(r.fields)")
      return
    }
    #expect(device == "0000:01:00.0")
    #expect(ranges == [DMARange(address: 0x1_2345_0000, size: 4096)])
    #expect(phys != nil)
  }

  @Test func sgEventsOf612And618AndTraceCmd() throws {
    let m618 = try record(
      "kworker/u8:3-77 [001] d..1. 30.000170: dma_map_sg: 0000:02:00.0 dir=FROM_DEVICE nents=2/130 ents=2/130 [TRUNCATED] dma_addrs={0x400000000,0x400002000} sizes={0x1000,0x1000} phys_addrs={0x400000000,0x400002000} attrs="
    )
    #expect(m618.type == .dmaMapSG)
    #expect(m618.physAddrs == [0x4_0000_0000, 0x4_0000_2000])
    let m612 = try record(
      "kworker/u8:3-77 [001] d..1. 30.000170: dma_map_sg: 0000:02:00.0 dir=FROM_DEVICE dma_addrs={0x400000000} sizes={0x2000} phys_addrs={0x400000000,0x400001000} attrs="
    )
    #expect(m612.physAddrs.count == 2)
    // dma_unmap_sg traces physical addresses only; trace-cmd prints array elements in decimal.
    let u = try record(
      "<idle>-0 [000] 30.000320: dma_unmap_sg: 0000:02:00.0 dir=FROM_DEVICE phys_addrs={17179869184,17179877376} attrs="
    )
    #expect(u.type == .dmaUnmapSG)
    #expect(u.physAddrs == [0x4_0000_0000, 0x4_0000_2000])
    #expect(u.fields == .dma(device: "0000:02:00.0", ranges: [], phys: nil))
    let err = try record(
      "kworker/u8:3-77 [001] ..... 40.000810: dma_map_sg_err: 0000:02:00.0 dir=TO_DEVICE dma_addrs={0x71000000} err=-12 attrs="
    )
    #expect(err.type == .dmaMapSGErr)
    #expect(err.physAddrs == [0x7100_0000])
    for line in [
      "a-1 [000] ..... 1.0: dma_sync_sg_for_cpu: 0000:02:00.0 dir=FROM_DEVICE dma_addrs={0x4000} sizes={0x1000}",
      "a-1 [000] ..... 1.0: dma_sync_sg_for_device: 0000:02:00.0 dir=TO_DEVICE dma_addrs={} sizes={}",
      "a-1 [000] ..... 1.0: dma_sync_single_for_cpu: 0000:02:00.0 dir=FROM_DEVICE dma_addr=4000 size=4096",
      "a-1 [000] ..... 1.0: dma_sync_single_for_device: 0000:02:00.0 dir=TO_DEVICE dma_addr=4000 size=4096",
      "a-1 [000] ..... 1.0: dma_alloc_sgt: 0000:02:00.0 dir=BIDIRECTIONAL dma_addr=4000 size=8192 phys_addrs={0x1000,0x5000} flags=GFP_KERNEL attrs=",
      "a-1 [000] ..... 1.0: dma_free_sgt: 0000:02:00.0 dir=BIDIRECTIONAL dma_addr=4000 size=8192 phys_addrs={0x1000,0x5000}",
      "a-1 [000] ..... 1.0: dma_alloc_sgt_err: 0000:02:00.0 dir=BIDIRECTIONAL dma_addr=0 size=8192 virt_addr=0000000000000000 flags=GFP_KERNEL attrs=",
      "a-1 [000] ..... 1.0: dma_alloc_pages: 0000:02:00.0 dir=BIDIRECTIONAL dma_addr=4000 size=8192 virt_addr=00000000cafe0001 flags=GFP_KERNEL attrs=",
      "a-1 [000] ..... 1.0: dma_free_pages: 0000:02:00.0 dir=BIDIRECTIONAL dma_addr=4000 size=8192 virt_addr=00000000cafe0001 attrs=",
      "a-1 [000] ..... 1.0: dma_unmap_phys: 0000:02:00.0 dir=TO_DEVICE dma_addr=4000 size=4096 attrs=",
      // 6.12: dma_alloc and dma_free print phys_addr= and no dir=.
      "a-1 [000] ..... 1.0: dma_alloc: 0000:02:00.0 dma_addr=4000 size=8192 phys_addr=1000 flags=GFP_KERNEL attrs=",
      "a-1 [000] ..... 1.0: dma_free: 0000:02:00.0 dma_addr=4000 size=8192 phys_addr=1000 attrs=",
    ] {
      let r = try record(line)
      #expect(r.type != .other, "\(line)")
    }
  }

  @Test func malformedDMAArraysAreMalformed() {
    for line in [
      "a-1 [000] ..... 1.0: dma_unmap_sg: 0000:02:00.0 dir=FROM_DEVICE attrs=",
      "a-1 [000] ..... 1.0: dma_unmap_sg: 0000:02:00.0 dir=FROM_DEVICE phys_addrs={0x1000,zz} attrs=",
      "a-1 [000] ..... 1.0: dma_map_sg: 0000:02:00.0 dir=FROM_DEVICE nents=1 dma_addrs={0x1} sizes={0x1}",
    ] {
      guard case .malformed = TraceLine.parse(line).kind else {
        Issue.record("not malformed: \(line)")
        continue
      }
    }
  }

  // MARK: - The DMA-API accounting

  @Test func dmaEventsAloneFindAPageFreedWhileMapped() throws {
    var t = TraceBuilder()
    t.alloc(0x1_2345)
    t.line(
      "dma_map_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=12345000 size=4096 phys_addr=12345000 attrs=", cpu: 1)
    t.free(0x1_2346)  // the next page: clean
    t.free(0x1_2345, comm: "kworker/u64:0")
    let (reports, summary) = t.replay()
    #expect(reports.count == 1)
    let r = try #require(reports.first)
    #expect(r.kind == .freedWhileMapped)
    #expect(r.pfn == PFN(0x1_2345))
    #expect(r.device == "0000:01:00.0")
    #expect(r.iova == IOVA(0x1234_5000))
    #expect(r.details.first { $0.key == "accounting" }?.value == .string("DMA-API mappings"))
    #expect(r.history.map(\.event) == ["mm_page_alloc", "dma_map_phys", "mm_page_free"])
    #expect(r.history.map(\.cpu) == [0, 1, 0])
    #expect(summary.pageReportsByDMAAPI == 1)
    #expect(summary.dmaAPILiveMappings == 1)
  }

  @Test func noHistoryKeepsNoTrail() throws {
    var t = TraceBuilder()
    t.alloc(0x1_2345)
    t.line("dma_map_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=12345000 size=4096 phys_addr=12345000 attrs=")
    t.free(0x1_2345)
    var options = ReplayOptions(traceName: "t.trace")
    options.pageHistory = false
    let (reports, _) = TraceReplay.replay(text: t.text, options: options)
    let r = try #require(reports.first)
    #expect(r.history.isEmpty)
    #expect(r.details.contains { $0.key == "verdict" })
  }

  @Test func unmapBeforeFreeAndOtherDevicesAreClean() {
    var t = TraceBuilder()
    t.line("dma_map_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=5000 size=4096 phys_addr=12345000 attrs=")
    t.line("dma_map_phys", "0000:02:00.0 dir=TO_DEVICE dma_addr=5000 size=4096 phys_addr=22345000 attrs=")
    t.line("dma_unmap_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=5000 size=4096 attrs=")
    t.free(0x1_2345)
    t.line("dma_unmap_phys", "0000:02:00.0 dir=TO_DEVICE dma_addr=5000 size=4096 attrs=")
    t.free(0x2_2345)
    let (reports, summary) = t.replay()
    #expect(reports.isEmpty)
    #expect(summary.exitStatus == 0)
    #expect(summary.dmaAPILiveMappings == 0)
  }

  @Test func coherentBufferOf612CountsItsPages() throws {
    var t = TraceBuilder()
    t.line("dma_alloc", "0000:01:00.0 dma_addr=fe980000 size=8192 phys_addr=10ec80000 flags=GFP_KERNEL attrs=")
    t.free(0x10_ec81)
    let (reports, _) = t.replay()
    let r = try #require(reports.first)
    #expect(r.pfn == PFN(0x10_ec81))
    #expect(r.iova == IOVA(0xfe98_1000))
  }

  @Test func bothAccountingsAgreeOnOneReport() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.line("dma_map_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=fffff000 size=4096 phys_addr=80010000 attrs=")
    // A VFIO-style iommu_map() with no dma event.
    t.map(0x1_0000_0000, 0x9000_0000, 4096)
    t.free(0x80010)
    t.free(0x90000)
    let (reports, summary) = t.replay()
    #expect(reports.count == 2)
    #expect(reports[0].details.first { $0.key == "accounting" }?.value == .string("IOMMU mappings, DMA-API mappings"))
    #expect(reports[0].device == "0000:01:00.0")
    #expect(reports[1].details.first { $0.key == "accounting" }?.value == .string("IOMMU mappings"))
    #expect(reports[1].details.contains { $0.key == "accountings differ" })
    #expect(summary.pageReportsByBoth == 1)
    #expect(summary.pageReportsByIOMMU == 1)
  }

  @Test func checkUnmapMessagesAreTheKernels() throws {
    var t = TraceBuilder()
    t.line("dma_map_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=10000 size=8192 phys_addr=10000 attrs=")
    t.line("dma_unmap_phys", "0000:01:00.0 dir=FROM_DEVICE dma_addr=10000 size=4096 attrs=")
    let (reports, _) = t.replay()
    #expect(
      reports.map(\.headline) == [
        "DMA-API: (unknown driver) 0000:01:00.0: device driver frees DMA memory with different size "
          + "[device address=0x0000000000010000] [map size=8192 bytes] [unmap size=4096 bytes]",
        // The direction's message prints the unmap's size (`ref->size`).
        "DMA-API: (unknown driver) 0000:01:00.0: device driver frees DMA memory with different direction "
          + "[device address=0x0000000000010000] [size=4096 bytes] [mapped with DMA_TO_DEVICE] "
          + "[unmapped with DMA_FROM_DEVICE]",
      ])
    #expect(reports.map(\.warningSite) == [.checkUnmapSize, .checkUnmapDirection])
    #expect(
      reports[0].callTrace.map(\.function).prefix(3) == ["check_unmap", "debug_dma_unmap_phys", "dma_unmap_phys"])
  }

  @Test func unmatchedDMAUnmapsOfAMidRunTraceAreCounted() {
    var t = TraceBuilder()
    t.line("dma_unmap_phys", "0000:01:00.0 dir=TO_DEVICE dma_addr=10000 size=4096 attrs=")
    t.line("dma_unmap_sg", "0000:01:00.0 dir=TO_DEVICE phys_addrs={0x20000} attrs=")
    let (reports, summary) = t.replay()
    #expect(reports.isEmpty)
    #expect(summary.dmaAPIUnmatchedUnmaps == 2)
  }

  /// The lazy flush-queue window is `[0, IOVA_FQ_TIMEOUT)`: a reuse and a fault exactly 10 ms after
  /// the unmap are outside it, 9,999 us after it inside.
  @Test func flushQueueWindowEndsAtTenMilliseconds() throws {
    var verdicts: [String] = []
    _ = try TraceReplay.replay(
      path: Self.root.appendingPathComponent("Fixtures/traces/fault-after-unmap-window-edge.trace").path,
      options: ReplayOptions()
    ) { r in
      if case .string(let v)? = r.details.first(where: { $0.key == "verdict" })?.value { verdicts.append(v) }
    }
    #expect(verdicts.count == 2)
    #expect(verdicts.first.map { !$0.contains("window") } == true)
    #expect(verdicts.last?.contains("page reused inside the lazy flush-queue window") == true)
  }

  @Test func faultInsideTheFlushQueueWindowOnAReusedPage() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.unmap(0xffff_f000, 4096)
    t.free(0x80010)
    t.alloc(0x80010)
    t.fault("0000:03:00.0", 0xffff_f000)
    let (reports, _) = t.replay()
    let r = try #require(reports.first { $0.kind == .faultAfterUnmap })
    guard case .string(let v)? = r.details.first(where: { $0.key == "verdict" })?.value else {
      Issue.record("no verdict")
      return
    }
    #expect(v.hasPrefix("device used the address after the unmap: 0000:03:00.0 wrote to iova 0xfffff000"))
    #expect(v.contains("page reused inside the lazy flush-queue window: allocated again at line 4"))
    #expect(r.history.map(\.event) == ["map", "unmap", "mm_page_free", "mm_page_alloc", "io_page_fault"])
  }

  // MARK: - Whole outputs

  @Test(arguments: ["dma-6.18-freed-while-dma-mapped", "dma-api-unmap-checks", "dma-api-sync-checks"])
  func goldenOutput(name: String) throws {
    for json in [false, true] {
      let out = try Self.output(name, json: json)
      expectGolden(
        out,
        file: Self.root.appendingPathComponent(
          "Tests/ReplayTests/GoldenReplayOutput/\(name).\(json ? "jsonl" : "txt")"
        ).path)
    }
  }

  @Test func traceCmdTextGivesTheSameReportsAsTracefsText() throws {
    func reports(_ name: String) throws -> [String] {
      var out: [String] = []
      _ = try TraceReplay.replay(
        path: Self.root.appendingPathComponent("Fixtures/traces/\(name).trace").path, options: ReplayOptions()
      ) { r in
        out.append(
          "\(r.kind.rawValue) \(r.pfn?.description ?? "-") \(r.device ?? "-") \(r.iova?.description ?? "-") "
            + r.headline)
      }
      return out
    }
    let a = try reports("dma-6.18-freed-while-dma-mapped")
    #expect(!a.isEmpty)
    #expect(a == (try reports("trace-cmd-dma-6.18")))
  }
}
