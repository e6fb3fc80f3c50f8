import KernelTypes
import Replay
import Testing

/// Every line format of report-and-trace-formats.md section 4, parsed.
@Suite struct ParserTests {
  func record(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TraceRecord {
    let parsed = TraceLine.parse(line)
    return try #require(parsed.record, "not an event: \(parsed.kind)", sourceLocation: sourceLocation)
  }

  // MARK: - The ath12k excerpt (section 4.3), rejoined

  @Test func ath12kMapNewFormat() throws {
    let r = try record(
      "   (udev-worker)-532     [010] .....     4.878076: map: IOMMU: iova=0x00000000fe980000 - 0x00000000fea00000 paddr=0x000000010ec80000 size=524288"
    )
    #expect(r.comm == "(udev-worker)")
    #expect(r.pid == 532)
    #expect(r.tgid == nil)
    #expect(r.cpu == 10)
    #expect(r.flags == ".....")
    #expect(r.timestamp.description == "4.878076")
    #expect(r.timestamp.nanoseconds == 4_878_076_000)
    #expect(r.type == .map)
    #expect(r.fields == .map(iova: 0xfe98_0000, paddr: 0x1_0ec8_0000, size: 524288, rangeFormat: true))
  }

  @Test func ath12kDMAAllocAndFree() throws {
    let a = try record(
      "   (udev-worker)-532     [010] .....     4.878079: dma_alloc: 0000:c2:00.0 dma_addr=fe980000 size=524288 virt_addr=000000006cadbcb1 flags=GFP_KERNEL attrs="
    )
    #expect(a.type == .dmaAlloc)
    #expect(a.fields == .dma(device: "0000:c2:00.0", ranges: [DMARange(address: 0xfe98_0000, size: 524288)], phys: nil))
    let f = try record(
      "   kworker/u64:0-12      [011] .....   327.747763: dma_free: 0000:c2:00.0 dma_addr=fe980000 size=524288 virt_addr=000000006cadbcb1 attrs="
    )
    #expect(f.comm == "kworker/u64:0")
    #expect(f.pid == 12)
    #expect(f.type == .dmaFree)
  }

  @Test func ath12kUnmapAndFault() throws {
    let u = try record(
      "   kworker/u64:0-12      [011] .....   327.747766: unmap: IOMMU: iova=0x00000000fe980000 - 0x00000000fea00000 size=524288 unmapped_size=524288"
    )
    #expect(u.fields == .unmap(iova: 0xfe98_0000, size: 524288, unmappedSize: 524288, rangeFormat: true))
    let f = try record(
      "irq/26-AMD-Vi-154     [006] .....   327.753942: io_page_fault: IOMMU:ath12k_pci 0000:c2:00.0 iova=0x00000000fe980000 flags=0x0001"
    )
    #expect(f.comm == "irq/26-AMD-Vi")
    #expect(f.pid == 154)
    #expect(f.cpu == 6)
    #expect(f.fields == .ioPageFault(driver: "ath12k_pci", device: "0000:c2:00.0", iova: 0xfe98_0000, flags: 1))
  }

  // MARK: - Other captured lines

  @Test func intelGfxNeedReschedFlags() throws {
    let r = try record(
      "gem_exec_gttfil-1010    [004] .N...    50.126420: map: IOMMU: iova=0x00003fffffc00000 - 0x0000400000000000 paddr=0x00000001b9400000 size=4194304"
    )
    #expect(r.comm == "gem_exec_gttfil")
    #expect(r.flags == ".N...")
    #expect(r.fields == .map(iova: 0x3fff_ffc0_0000, paddr: 0x1_b940_0000, size: 4_194_304, rangeFormat: true))
  }

  @Test func sevenFlagCharacters() throws {
    let u = try record(
      "qemu-kvm-4575    [008] .......   438.308478: unmap: IOMMU: iova=0x0000000000000000 - 0x0000000000001000 size=4096 unmapped_size=4096"
    )
    #expect(u.comm == "qemu-kvm")
    #expect(u.flags == ".......")
    let m = try record(
      "qemu-kvm-4575    [008] .......   438.308514: map: IOMMU: iova=0x0000000000000000 - 0x00000000000c0000 paddr=0x00000001a6800000 size=786432"
    )
    #expect(m.fields == .map(iova: 0, paddr: 0x1_a680_0000, size: 786432, rangeFormat: true))
  }

  @Test(arguments: ["...", "d..1", "d..1.", "dN.2.1", "DNhs1.1"])
  func threeToSevenFlags(flags: String) throws {
    let r = try record(
      "  swapper/0-0     [000] \(flags)   1.000000: mm_page_free: page=0000000000000001 pfn=0x10 order=0")
    #expect(r.flags == flags)
    #expect(r.comm == "swapper/0")
  }

  @Test func oldMapUnmapFormats() throws {
    let m = try record(
      "  kworker/0:2-170   [000] ....   812.100010: map: IOMMU: iova=0x0000000ffff36000 paddr=0x00000001164d8000 size=4096"
    )
    #expect(m.fields == .map(iova: 0xf_fff3_6000, paddr: 0x1_164d_8000, size: 4096, rangeFormat: false))
    let u = try record(
      "  kworker/0:2-170   [000] ....   812.100010: unmap: IOMMU: iova=0x0000000ffff36000 size=4096 unmapped_size=4096")
    #expect(u.fields == .unmap(iova: 0xf_fff3_6000, size: 4096, unmappedSize: 4096, rangeFormat: false))
  }

  @Test func kmemHashedPageHexPFN() throws {
    let r = try record(
      "kworker/10:1-440     [010] .....   355.369905: mm_page_free: page=00000000dc8c03bd pfn=0x182190 order=2")
    #expect(r.comm == "kworker/10:1")
    #expect(r.fields == .pageFree(pfn: 0x182190, order: 2))
  }

  @Test func kmemSymbolicGFP() throws {
    let r = try record(
      "  bash-1200  [001] .....  10.000000: mm_page_alloc: page=0xffffffff981685f3 pfn=0x122233 order=0 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE|__GFP_COMP"
    )
    #expect(r.fields == .pageAlloc(pfn: 0x122233, order: 0, gfpFlags: "GFP_HIGHUSER_MOVABLE|__GFP_COMP", failed: false))
  }

  @Test func kmemHexGFPAndDecimalPFN() throws {
    let r = try record(
      "  bash-1200  [001] ....  10.000000: mm_page_alloc: page=ffffea0004000400 pfn=1048592 order=3 migratetype=0 gfp_flags=0x140cca"
    )
    #expect(r.fields == .pageAlloc(pfn: 1_048_592, order: 3, gfpFlags: "0x140cca", failed: false))
  }

  @Test func kmemFailedAllocationAndOldBatched() throws {
    let a = try record(
      "  bash-1200  [001] .....  10.0: mm_page_alloc: page=(null) pfn=0x0 order=3 migratetype=0 gfp_flags=GFP_KERNEL")
    #expect(a.fields == .pageAlloc(pfn: 0, order: 3, gfpFlags: "GFP_KERNEL", failed: true))
    let b = try record(
      "  bash-1200  [001] .....  10.0: mm_page_free_batched: page=ffffea0004000400 pfn=1048592 order=0 cold=1")
    #expect(b.type == .mmPageFreeBatched)
    #expect(b.fields == .pageFree(pfn: 1_048_592, order: 0))
    let c = try record("  bash-1200  [001] .....  10.0: mm_page_free_batched: page=ffffea0004000400 pfn=1048592 cold=0")
    #expect(c.fields == .pageFree(pfn: 1_048_592, order: 0))
  }

  @Test func dmaMapPageAndSG() throws {
    let p = try record(
      "  nvme-1  [001] .....  1.000000: dma_map_page: 0000:01:00.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=4096 phys_addr=80010000 attrs=WEAK_ORDERING|SKIP_CPU_SYNC"
    )
    #expect(
      p.fields == .dma(device: "0000:01:00.0", ranges: [DMARange(address: 0xffff_f000, size: 4096)], phys: 0x8001_0000))
    let u = try record(
      "  nvme-1  [001] .....  1.000000: dma_unmap_page: 0000:01:00.0 dir=BIDIRECTIONAL dma_addr=fffff000 size=4096 attrs="
    )
    #expect(u.type == .dmaUnmapPage)
    let sg = try record(
      "  nvme-1  [001] .....  1.000000: dma_map_sg: 0000:01:00.0 dir=FROM_DEVICE dma_addrs={0xffff0000,0xfffe0000} sizes={0x8000,4096} phys_addrs={0x90010000,0x90020000} attrs="
    )
    #expect(
      sg.fields
        == .dma(
          device: "0000:01:00.0",
          ranges: [DMARange(address: 0xffff_0000, size: 0x8000), DMARange(address: 0xfffe_0000, size: 4096)],
          phys: nil))
    let r = try record(
      "  nvme-1  [001] .....  1.000000: dma_map_resource: 0000:01:00.0 dir=TO_DEVICE dma_addr=fee00000 size=4096 phys_addr=fee00000 attrs="
    )
    #expect(r.type == .dmaMapResource)
    let a = try record(
      "  nvme-1  [001] .....  1.000000: dma_alloc: 0000:01:00.0 dir=BIDIRECTIONAL dma_addr=ffe00000 size=8192 virt_addr=00000000abcdef01 flags=GFP_KERNEL attrs="
    )
    #expect(a.fields == .dma(device: "0000:01:00.0", ranges: [DMARange(address: 0xffe0_0000, size: 8192)], phys: nil))
  }

  @Test func groupAndAttachEvents() throws {
    let g = try record(
      "  swapper/0-1  [000] .....  0.500000: add_device_to_group: IOMMU: groupID=12 device=0000:01:00.0")
    #expect(g.fields == .group(id: 12, device: "0000:01:00.0"))
    let a = try record("  swapper/0-1  [000] .....  0.500000: attach_device_to_domain: IOMMU: device=0000:01:00.0")
    #expect(a.fields == .device("0000:01:00.0"))
  }

  // MARK: - Prefixes

  @Test func tgidColumn() throws {
    let a = try record(
      "   (udev-worker)-532     (    532) [010] .....     4.878076: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096")
    #expect(a.comm == "(udev-worker)")
    #expect(a.pid == 532)
    #expect(a.tgid == 532)
    let b = try record(
      "     kworker/1:1-90      (-------) [001] .....    30.000001: mm_page_free: page=0000000000000001 pfn=0x10 order=0"
    )
    #expect(b.tgid == nil)
    #expect(b.pid == 90)
  }

  @Test func commWithSpacesDashesAndBrackets() throws {
    let a = try record(
      "     Web Content-4100    [004] .......    20.000001: mm_page_free: page=0000000000000001 pfn=0x10 order=0")
    #expect(a.comm == "Web Content")
    #expect(a.pid == 4100)
    let b = try record(
      "nvme-poll-q-3-230    [005] d..1.    20.000020: mm_page_free: page=0000000000000001 pfn=0x10 order=0")
    #expect(b.comm == "nvme-poll-q-3")
    #expect(b.pid == 230)
    let c = try record(
      "[kworker] x-7 [2]-77    [003] .....   1.5: mm_page_free: page=0000000000000001 pfn=0x10 order=0")
    #expect(c.comm == "[kworker] x-7 [2]")
    #expect(c.pid == 77)
    let d = try record("<...>-94    [000] 77837.045742: sched_switch:         prev_comm=trace-cmd prev_pid=94")
    #expect(d.comm == "<...>")
    #expect(d.type == .other)
    #expect(d.eventName == "sched_switch")
    #expect(d.flags == nil)
  }

  @Test func traceCmdReport() throws {
    #expect(TraceLine.parse("cpus=4").kind == .header)
    #expect(TraceLine.parse("CPU 2 is empty").kind == .header)
    #expect(TraceLine.parse("version = 6").kind == .header)
    let r = try record(
      "        acme-nic-2001  [001]   100.000005: map:                  IOMMU: iova=0x00000000ffffe000 - 0x00000000fffff000 paddr=0x0000000100010000 size=4096"
    )
    #expect(r.flags == nil)
    #expect(r.fields == .map(iova: 0xffff_e000, paddr: 0x1_0001_0000, size: 4096, rangeFormat: true))
  }

  @Test func headersAndLostEvents() {
    #expect(TraceLine.parse("# tracer: nop").kind == .header)
    #expect(TraceLine.parse("# entries-in-buffer/entries-written: 13/13   #P:12").kind == .header)
    #expect(TraceLine.parse("#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION").kind == .header)
    #expect(TraceLine.parse("##### CPU 2 buffer started ####").kind == .header)
    #expect(TraceLine.parse("CPU:0 [LOST EVENTS]").kind == .lostEvents(cpu: 0, count: nil))
    #expect(TraceLine.parse("CPU:11 [LOST 4021 EVENTS]").kind == .lostEvents(cpu: 11, count: 4021))
    // trace-cmd report's own form (tracecmd/trace-read.c).
    #expect(TraceLine.parse("CPU:0 [3422 EVENTS DROPPED]").kind == .lostEvents(cpu: 0, count: 3422))
    #expect(TraceLine.parse("CPU:1 [EVENTS DROPPED]").kind == .lostEvents(cpu: 1, count: nil))
    #expect(TraceLine.parse("").kind == .blank)
    #expect(TraceLine.parse("   \t ").kind == .blank)
  }

  @Test func timestampsAndSystemPrefix() throws {
    let raw = try record("  a-1  [000] .....  123456789012: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096")
    #expect(raw.timestamp.description == "123456789012")
    #expect(raw.timestamp.digits == 0)
    let ns = try record("  a-1  [000] .....  5.000000001: iommu:map: IOMMU: iova=0x1000 paddr=0x2000 size=4096")
    #expect(ns.type == .map)
    #expect(ns.eventName == "map")
    #expect(ns.timestamp.description == "5.000000001")
    let crlf = try record("  a-1  [000] .....  5.5: unmap: IOMMU: iova=0x1000 size=4096 unmapped_size=4096\r")
    #expect(crlf.type == .unmap)
  }

  // MARK: - Malformed input

  @Test(arguments: [
    "garbage",
    "  a-1 [000] .....",
    "  a-1  [000] ........  1.0: map: IOMMU: iova=0x1000 paddr=0x2000 size=4096",
    "  a-1  [000] .....  1.0 map: IOMMU: iova=0x1000 paddr=0x2000 size=4096",
    "  a-1  [000] .....  1.0: map: IOMMU: iova=0x1000 paddr=0x2000",
    "  a-1  [000] .....  1.0: map: IOMMU: iova=0x1000 paddr=0x12345678901234567 size=4096",
    "  a-1  [000] .....  1.0: map: IOMMU: iova=0x1000 paddr=0x2000 size=99999999999999999999",
    "  a-1  [000] .....  1.0: unmap: IOMMU: iova=0x1000 size=4096",
    "  a-1  [000] .....  1.0: mm_page_alloc: page=1 pfn=0x10 order=21 migratetype=0 gfp_flags=",
    "  a-1  [000] .....  1.0: mm_page_free: page=1 pfn=-5 order=0",
    "  a-1  [000] .....  1.0: mm_page_free: page=1 order=0",
    "  a-1  [000] .....  1.0: io_page_fault: IOMMU:drv dev iova=0xzz flags=0x1",
    "  a-1  [99999999] .....  1.0: mm_page_free: page=1 pfn=0x1 order=0",
    "  a-99999999999  [000] .....  1.0: mm_page_free: page=1 pfn=0x1 order=0",
    "  a-1  [000] .....  1.0.0: mm_page_free: page=1 pfn=0x1 order=0",
    "  a-1  [000] .....  1.0: dma_map_page: dma_addr=1000 size=4096",
    "  a-1  [000] .....  1.0: dma_map_page: dev dir=NONE",
    "CPU:x [LOST EVENTS]",
  ])
  func malformedLines(line: String) {
    guard case .malformed = TraceLine.parse(line).kind else {
      Issue.record("parsed: \(TraceLine.parse(line).kind)")
      return
    }
  }
}

/// Hex fields are read eight digits at a time where eight are there: every
/// length, case and leading-zero count gives what `UInt64(_:radix:)` gives,
/// and more than 16 significant digits is an error, as digit by digit.
@Suite struct HexFieldTests {
  func mapFields(_ iova: String, _ paddr: String) -> TraceEventFields? {
    TraceLine.parse("  drv-1  [000] .....  1.000001: map: IOMMU: iova=\(iova) paddr=\(paddr) size=4096").record?.fields
  }

  @Test func everyLengthCaseAndPaddingReadsAsUInt64() {
    var state: UInt64 = 18
    func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      return splitMix64Mix(state)
    }
    let digits = Array("0123456789abcdefABCDEF")
    for n in 1...24 {
      for _ in 0..<40 {
        var s = ""
        for k in 0..<n { s.append(k < n - 16 ? "0" : digits[Int(next() % UInt64(digits.count))]) }
        let want = UInt64(s, radix: 16)!
        #expect(mapFields("0x" + s, s) == .map(iova: want, paddr: want, size: 4096, rangeFormat: false), "\(s)")
      }
    }
    // 17 significant digits, and a non-digit in each position of an eight-byte group.
    #expect(mapFields("0x1" + String(repeating: "0", count: 16), "0x1000") == nil)
    for k in 0..<8 {
      var s = Array("12345678")
      s[k] = "g"
      #expect(mapFields("0x" + String(s) + "9", "0x1000") == nil)
    }
    #expect(
      mapFields("0x123456789abcdef0", "0x1000")
        == .map(iova: 0x1234_5678_9abc_def0, paddr: 0x1000, size: 4096, rangeFormat: false))
  }
}

/// A `dma:` event in the kernel's single-mapping layout is read in one pass;
/// the same fields spaced, ordered or extended otherwise go through the token
/// loop, and both give the same record.
@Suite struct DMASingleLayoutTests {
  func record(_ payload: String) -> TraceRecord? {
    TraceLine.parse("  nvme-1  [001] .....  1.000000: dma_map_page: \(payload)").record
  }

  @Test func variantsReadAsTheKernelLayout() throws {
    let kernel = try #require(
      record("0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 phys_addr=80010000 attrs=SKIP_CPU_SYNC"))
    #expect(
      kernel.fields
        == .dma(device: "0000:01:00.0", ranges: [DMARange(address: 0xffff_f000, size: 4096)], phys: 0x8001_0000))
    #expect(kernel.dmaDirection == .fromDevice)
    for variant in [
      "0000:01:00.0  dir=FROM_DEVICE dma_addr=fffff000 size=4096 phys_addr=80010000 attrs=SKIP_CPU_SYNC",
      "0000:01:00.0 dir=FROM_DEVICE\tdma_addr=fffff000 size=4096 phys_addr=80010000 attrs=SKIP_CPU_SYNC",
      "0000:01:00.0 dma_addr=fffff000 dir=FROM_DEVICE size=4096 phys_addr=80010000 attrs=SKIP_CPU_SYNC",
      "0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 phys_addr=80010000 attrs=SKIP_CPU_SYNC extra=1",
      "0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 attrs= phys_addr=80010000",
    ] {
      #expect(record(variant)?.fields == kernel.fields, "\(variant)")
      #expect(record(variant)?.dmaDirection == .fromDevice, "\(variant)")
    }
    // A later token overrides, in the loop; an unmap has no phys_addr=.
    #expect(
      record("0000:01:00.0 dir=FROM_DEVICE dma_addr=fffff000 size=4096 attrs= size=8192")?.fields
        == .dma(device: "0000:01:00.0", ranges: [DMARange(address: 0xffff_f000, size: 8192)], phys: nil))
    #expect(record("0000:01:00.0 dir=TO_DEVICE dma_addr=1000 size=99999999999999999999 attrs=") == nil)
  }
}

/// Timestamps are read up to seven digits a word: every length of either part
/// gives the digits' value, as digit by digit.
@Suite struct TimestampWordTests {
  @Test func everyLengthOfBothParts() throws {
    for wholeDigits in 1...19 {
      for fractionDigits in [1, 3, 6, 7, 8, 9, 10, 12] {
        let whole = String((0..<wholeDigits).map { Character(String(($0 * 7 + 3) % 10)) })
        let fraction = String((0..<fractionDigits).map { Character(String(($0 * 3 + 1) % 10)) })
        let line = "  drv-1  [000] .....  \(whole).\(fraction): mm_page_free: page=00000000deadbeef pfn=0x1000 order=0"
        // 19 digits: past the fast prefix's 18, read by the general search.
        let t = try #require(TraceLine.parse(line).record?.timestamp, "\(line)")
        #expect(t.whole == UInt64(whole)!, "\(line)")
        #expect(t.fraction == UInt32(fraction.prefix(9))!, "\(line)")
        #expect(Int(t.digits) == min(fractionDigits, 9), "\(line)")
      }
    }
  }
}
