import KernelTypes
import MemoryModel
import Reports
import Testing

/// The kernel text as Linux 7.0 prints it: the WARNING line since commit
/// 28ea295f941e, the taint a first WARN leaves, printk timestamps, the boot
/// line, page_owner without an owner, and no headline after a bare WARN_ON.
@Suite struct KernelLogTests {
  @Test func warningLineIsTheSevenZeroShape() {
    let lines = KernelTextRenderer().lines(GoldenReports.freedWhileMapped)
    let warning = lines.first { $0.hasPrefix("WARNING: ") } ?? ""
    #expect(warning.hasPrefix("WARNING: drivers/iommu/iommu-debug-pagealloc.c:91 at __iommu_debug_check_unmapped+0x"))
    #expect(warning.hasSuffix(", CPU#0: acme-nvme-hmb/1042"))
  }

  @Test func everySplatAfterTheFirstIsTainted() {
    var log = KernelLog(timestamps: false)
    let first = log.report(GoldenReports.freedWhileMapped)
    let second = log.report(GoldenReports.freedWhileMapped)
    #expect(first.contains(" Not tainted 7.0.11-iommusan"))
    #expect(!first.contains("Tainted: [W]=WARN"))
    #expect(second.contains(" Tainted: G        W           7.0.11-iommusan"))
    #expect(second.contains("\nTainted: [W]=WARN\n"))
  }

  @Test func timestampsComeFromTheReportTime() {
    var log = KernelLog()
    var r = GoldenReports.freedWhileMapped
    r.time = 1_234_567_890
    let text = log.report(r)
    for line in text.split(separator: "\n") { #expect(line.hasPrefix("[    1.234567][ T1042] "), "\(line)") }
    #expect(log.boot() == "[    0.000000][    T1] " + KernelLog.bootLine + "\n")
    #expect(KernelLog.bootLine == "iommu: Debugging page allocations, expect overhead or disable iommu.debug_pagealloc")
  }

  @Test func pageOwnerNeverSet() {
    #expect(KernelTextRenderer.pageOwnerLines(.notPresent) == ["page_owner info is not present (never set?)"])
  }

  @Test func bareWarnOnPrintsNoHeadline() {
    let finding = Finding.mapCountUnderflow(
      pfn: PFN(0x80010), phys: PhysicalAddress(0x8001_0000), count: -1, iova: IOVA(0x1000), caller: .unmapBegin)
    let report = Report(
      finding, callers: [StackFrame("acme_unmap", isGuilty: true)], statement: nil,
      task: EmulatedTask(pid: 1, tgid: 1, comm: "t"), pageOwner: .notPresent)
    let r = KernelTextRenderer()
    let kernel = r.kernelLines(report)
    #expect(!kernel.contains { $0.contains("went below zero") })
    #expect(!kernel.contains { $0.contains("page_owner") })
    let block = KernelTextRenderer.iommusanLines(report)
    #expect(block.contains { $0.hasPrefix("iommusan:   what iommu: map count of pfn") })
    #expect(block.contains("iommusan:   page_owner: page_owner info is not present (never set?)"))
  }
}
