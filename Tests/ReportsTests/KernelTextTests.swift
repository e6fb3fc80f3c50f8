import KernelTypes
import MemoryModel
import Reports
import Testing

@Suite struct KernelTextTests {
  @Test func lineOrderFollowsTheKernel() {
    let lines = KernelTextRenderer().lines(GoldenReports.dmaUnmapMismatch)
    func index(_ prefix: String) -> Int { lines.firstIndex { $0.hasPrefix(prefix) } ?? -1 }
    let order = [
      index("------------[ cut here ]------------"), index("DMA-API: acme_nvme 0000:00:01.0:"),
      index("WARNING: kernel/dma/debug.c:1006 at check_unmap+0x"),
      index("Modules linked in: acme_nvme"),
      index("CPU: 0 UID: 0 PID: 1042 Comm: acme-nvme-prp Not tainted 7.0.11-iommusan #1 PREEMPT(full) "),
      index("Hardware name: iommusan emulated machine"), index("RIP: 0010:acme_nvme_unmap_data+0x"),
      index("Call Trace:"), index(" <TASK>"), index(" check_unmap+0x"), index(" </TASK>"),
      index("---[ end trace 0000000000000000 ]---"), index("DMA-API: Mapped at:"),
      index("iommusan: dma-unmap-mismatch (DMA-API debug)"),
    ]
    #expect(!order.contains(-1), "\(order)")
    #expect(order == order.sorted(), "\(order)")
    // The headline is the WARN message: printed once, inside the cut-here block.
    #expect(lines.filter { $0.hasPrefix("DMA-API: acme_nvme") }.count == 1)
  }

  @Test func headlineFollowsTheEndMarkerThenPageOwner() {
    let lines = KernelTextRenderer().lines(GoldenReports.freedWhileMapped)
    let end = lines.firstIndex(of: "---[ end trace 0000000000000000 ]---")!
    #expect(lines[end + 1] == "iommu: Detected page leak!")
    #expect(lines[end + 2] == "page_owner tracks the page as allocated")
    #expect(
      lines[end + 3]
        == "page last allocated via order 0, migratetype Unmovable, gfp_mask 0xcc0(GFP_KERNEL), pid 1042, tgid 1042 (acme-nvme-hmb), ts 3000000, free_ts 7000000"
    )
    #expect(lines[end + 4].hasPrefix(" post_alloc_hook+0x"))
    #expect(lines.contains("page last free pid 1042 tgid 1042 stack trace:"))
    #expect(lines.contains("Modules linked in: acme_nvme"))
  }

  @Test func pageOwnerMissingStacks() {
    let owner = PageOwnerRecord(
      isAllocated: false, order: 3, gfp: GFPFlags(names: ["__GFP_MOVABLE"])!, pid: 1, tgid: 1,
      comm: "swapper/0", ts: 0, freeTs: 0, allocStack: [], freePid: nil, freeTgid: nil, freeStack: [])
    #expect(
      KernelTextRenderer.pageOwnerLines(owner) == [
        "page_owner tracks the page as freed",
        "page last allocated via order 3, migratetype Movable, gfp_mask 0x8(__GFP_MOVABLE), pid 1, tgid 1 (swapper/0), ts 0, free_ts 0",
        "page_owner allocation stack trace missing",
        "page_owner free stack trace missing",
      ])
  }

  @Test func iommusanBlock() {
    let lines = KernelTextRenderer.iommusanLines(GoldenReports.freedWhileMapped)
    #expect(
      lines == [
        "iommusan: freed-while-mapped (kernel sanitizer)",
        "iommusan:   statement Fixtures/acme-nvme-hmb.fixture:14:1: free_pages hmb",
        "iommusan:   pfn 0x80010 phys 0x80010000 count 1",
        "iommusan:   iova 0xfffff000 domain nvme0.dma device nvme0",
        "iommusan:   order 0",
        "iommusan:   mapped at Fixtures/acme-nvme-hmb.fixture:9:1",
      ])
    let bare = Report(
      kind: .mappingLeak, headline: "", warningSite: WarningSite(file: "f.c", line: 1, function: "f"),
      callTrace: [], statement: nil, task: EmulatedTask(pid: 1, tgid: 1, comm: "x"))
    #expect(KernelTextRenderer.iommusanLines(bare) == ["iommusan: mapping-leak (emulator)"])
    #expect(!KernelTextRenderer().lines(bare).contains(""))
  }

  @Test func taintedAndModernFormats() {
    let report = GoldenReports.freedWhileMapped
    let tainted = KernelTextRenderer(taints: .warn).lines(report)
    #expect(
      tainted.contains(
        "CPU: 0 UID: 0 PID: 1042 Comm: acme-nvme-hmb Tainted: G        W           7.0.11-iommusan #1 PREEMPT(full) "))
    let cpu = tainted.firstIndex { $0.hasPrefix("CPU: ") }!
    #expect(tainted[cpu + 1] == "Tainted: [W]=WARN")
    let modern = KernelTextRenderer(warningLineFormat: .modern).lines(report)
    #expect(
      modern.contains {
        $0.hasPrefix("WARNING: drivers/iommu/iommu-debug-pagealloc.c:91 at __iommu_debug_check_unmapped+0x")
          && $0.hasSuffix(", CPU#0: acme-nvme-hmb/1042")
      })
    let kernelOnly = KernelTextRenderer(includeIOMMUSanBlock: false).lines(report)
    #expect(!kernelOnly.contains { $0.hasPrefix("iommusan:") })
  }

  @Test func framesCarrySourceBeforeModule() {
    let lines = KernelTextRenderer().lines(GoldenReports.freedWhileMapped)
    let frame = lines.first { $0.hasPrefix(" acme_nvme_free_host_mem+0x") }!
    #expect(frame.hasSuffix(" Fixtures/acme-nvme-hmb.fixture:14 [acme_nvme]"))
    let (off, size) = StackFrame("acme_nvme_free_host_mem").offsetAndSize
    #expect(frame.hasPrefix(" acme_nvme_free_host_mem+0x\(String(off, radix: 16))/0x\(String(size, radix: 16)) "))
    #expect(lines.contains { $0.hasPrefix("RIP: 0010:acme_nvme_free_host_mem+0x") && $0.hasSuffix(" [acme_nvme]") })
  }

  @Test func hostileStringsCannotBreakLines() {
    let evil = "a\nb\r\u{0}\u{1b}[31m\u{7f}\u{85}\u{2028}\u{2029}\u{202e}\t\"\\ é 😀"
    let report = Report(
      kind: .dmaUseAfterFree, headline: evil + "\n", warnMessage: [evil, "two\nlines\n"],
      warningSite: WarningSite(file: evil, line: -1, function: evil),
      callTrace: [StackFrame(evil, module: evil, sourceFile: evil, sourceLine: 0, isGuilty: true)],
      statement: StatementLocation(file: evil, line: 0, column: 0, text: evil),
      task: EmulatedTask(pid: -1, tgid: 0, comm: evil + evil + evil, cpu: 99),
      pfn: PFN(.max), phys: PhysicalAddress(.max), iova: IOVA(.max), domain: evil, device: "", pasid: .max,
      count: .min, details: [Detail(evil, .string(evil)), Detail("", .string("")), Detail("h", .hex(.max))],
      pageOwner: PageOwnerRecord(
        isAllocated: true, order: -1, gfp: GFPFlags(names: [evil], mask: .max), pid: 0, tgid: 0,
        comm: evil, ts: .max, freeTs: .max, allocStack: [StackFrame("")], freePid: nil, freeTgid: nil,
        freeStack: [StackFrame(evil)]),
      trailer: [evil])
    for format in KernelTextRenderer.WarningLineFormat.allCases {
      let renderer = KernelTextRenderer(warningLineFormat: format, taints: .warn)
      let text = renderer.render(report)
      let lines = renderer.lines(report)
      #expect(text == lines.joined(separator: "\n") + "\n")
      for line in lines {
        for scalar in line.unicodeScalars {
          #expect(scalar.value >= 0x20 && scalar.value != 0x7f, "control in \(line)")
          #expect(![0x85, 0x2028, 0x2029, 0x202e].contains(scalar.value), "separator in \(line)")
        }
      }
      // printk semantics: an embedded newline makes two lines, a trailing one none.
      #expect(lines.contains("two"))
      #expect(lines.contains("lines"))
      // Values with spaces or nothing in them are quoted, so the last token is the value.
      #expect(
        lines.contains {
          $0.hasPrefix("iommusan:   iova 0xffffffffffffffff domain \"") && $0.contains(" device \"\" pasid 4294967295")
        })
    }
    #expect(KernelText.symbol("") == "unknown")
    #expect(KernelText.symbol("a-b c.isra.0") == "a_b_c.isra.0")
    #expect(KernelText.sanitize("x\ny") == "x\\x0ay")
    #expect(KernelText.sanitize("\u{2028}") == "\\u{2028}")
    #expect(KernelText.value("two words") == "\"two words\"")
    #expect(KernelText.value("q\"b\\") == "\"q\\\"b\\\\\"")
    #expect(KernelText.value("plain") == "plain")
    #expect(KernelText.printkLines("") == [""])
    #expect(KernelText.printkLines("a\r\nb\n") == ["a", "b"])
  }

  @Test func printkPrefix() {
    #expect(KernelText.printkPrefix(nanoseconds: 554_863_972_000) == "[  554.863972] ")
    #expect(KernelText.printkPrefix(nanoseconds: 7_731_955_123, pid: 11919) == "[    7.731955][T11919] ")
    #expect(KernelText.printkPrefix(nanoseconds: 0, pid: 1) == "[    0.000000][    T1] ")
  }
}

/// The IOMMU drivers' own ATS invalidation timeout lines (issue 17, item 10).
@Suite struct ATSTimeoutLogTests {
  typealias Inv = Finding.ATSInvalidation

  @Test func sourceIDIsBusDevFnFromTheBDF() {
    #expect(Inv(model: .vtd, unit: "dmar0", bdf: "0000:00:01.0", pasid: nil, range: nil).sourceID == 0x8)
    #expect(Inv(model: .vtd, unit: "dmar0", bdf: "0000:53:00.0", pasid: nil, range: nil).sourceID == 0x5300)
    #expect(Inv(model: .vtd, unit: "dmar0", bdf: "0000:af:03.1", pasid: nil, range: nil).sourceID == 0xaf19)
    #expect(Inv(model: .vtd, unit: "dmar0", bdf: "bogus", pasid: nil, range: nil).sourceID == 0)
  }

  /// `qi_flush_dev_iotlb()`'s encodings; the Proxmox log's descriptor for
  /// SID 0x5300 is `qw0 = 0x5300530000000003`, and the whole space is
  /// `qw1 = 0x7ffffffffffff001` (as in Nilesh's log).
  @Test func vtdDescriptorsAsTheDriverBuildsThem() {
    let log = Finding.atsTimeoutLog(Inv(model: .vtd, unit: "dmar0", bdf: "0000:53:00.0", pasid: nil, range: nil))
    #expect(
      log == [
        "DMAR: VT-d detected Invalidation Time-out Error: SID 5300",
        "DMAR: QI HEAD: Device-TLB Invalidation qw0 = 0x5300530000000003, qw1 = 0x7ffffffffffff001",
        "DMAR: QI PRIOR: Invalidation Wait qw0 = 0x200000025, qw1 = 0x100000000",
        "DMAR: Invalidation Time-out Error (ITE) cleared",
      ])
    #expect(Finding.vtdAddress(0x10_0000...0x10_0fff) == (0x10_0000, false))
    // 8K at 0x102000: mask 1, addr |= (1 << 12) - 1, then the page mask; size bit.
    #expect(Finding.vtdAddress(0x10_2000...0x10_3fff) == (0x10_2000, true))
    // 16K at 0x104000: mask 2 sets bit 12.
    #expect(Finding.vtdAddress(0x10_4000...0x10_7fff) == (0x10_5000, true))
  }

  @Test func smmuAndAMDLines() {
    #expect(
      Finding.atsTimeoutLog(Inv(model: .smmuv3, unit: "smmu0", bdf: "0000:00:01.0", pasid: nil, range: nil)) == [
        "arm-smmu-v3 smmu0: CMDQ error (cons 0x03000001): ATC invalidate timeout"
      ])
    #expect(
      Finding.atsTimeoutLog(Inv(model: .amd, unit: "ivhd0", bdf: "0000:63:00.0", pasid: nil, range: nil)) == [
        "AMD-Vi: Completion-Wait loop timed out",
        "iommu ivhd0: AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=0000:63:00.0 address=0x100000000]",
      ])
  }

  /// The driver's lines come before the cut line, not after the end marker.
  @Test func kernelLogPrecedesTheSplat() {
    let lines = KernelTextRenderer().lines(GoldenReports.atsInvalidationTimeout)
    let cut = lines.firstIndex(of: "------------[ cut here ]------------") ?? -1
    #expect(cut == 4)
    #expect(lines[0] == "DMAR: VT-d detected Invalidation Time-out Error: SID 18")
    #expect(lines.filter { $0.hasPrefix("DMAR: ") }.count == 4)
  }
}
