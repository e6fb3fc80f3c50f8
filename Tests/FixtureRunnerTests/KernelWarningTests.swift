import FixtureRunner
import Foundation
import KernelTypes
import Reports
import Testing

/// Issue 17, items 4, 9, 10, 11: every `WARNING:` line is a report, the
/// kernel's own WARNs where it has them, the drivers' own timeout lines, one
/// WARN site per DMA-API debug check, and kernel paths as WARN files.
@Suite struct KernelWarningTests {
  func run(_ source: String, file: String = "drv.fixture") -> FixtureResult {
    FixtureRunner.run(file: file, source: Array(source.utf8))
  }

  func kernelText(_ result: FixtureResult) -> String {
    RunOutputRenderer(format: .kernel, timestamps: false).stdout(result)
  }

  /// Issue 20 item 5: the `CPU:` line names the `emu.kernel=` release, the newest by default.
  @Test func releaseFollowsEmuKernel() {
    let body =
      "iommu vtd0 model=vtd\nd = domain vtd0\np = alloc_pages\niommu_map d iova=0x1000 phys=p size=4K\nfree_pages p\n"
    let old = kernelText(run("cmdline \"emu.kernel=6.19.11\"\n" + body))
    #expect(old.contains("Not tainted 6.19.11-iommusan #1"))
    let newest = kernelText(run(body))
    #expect(newest.contains("Not tainted \(KernelVersion.newest)-iommusan #1"))
    #expect(!newest.contains("7.0.0-iommusan"))
  }

  /// Each `WARNING:` line of the kernel text opens one report's splat, and
  /// each WARN-shaped report has one: over the whole corpus.
  @Test(arguments: corpus)
  func everyWarningLineIsAReport(_ path: String) {
    let result = FixtureRunner.run(path: repositoryRoot + "/" + path)
    let warnings = kernelText(result).split(separator: "\n").filter { $0.hasPrefix("WARNING: ") }.count
    let splats = result.reports.filter { $0.splat == .warning }.count
    #expect(warnings == splats, "\(warnings) WARNING: lines, \(splats) WARN reports")
    #expect(result.summary.reports == result.reports.count)
  }

  /// No WARN names an iommusan file: the file is a kernel path, so
  /// syzkaller's guilty file (the `WARNING:` line's) has maintainers.
  @Test(arguments: corpus)
  func warnFilesAreKernelPaths(_ path: String) {
    for report in FixtureRunner.run(path: repositoryRoot + "/" + path).reports {
      let file = report.warningSite.file
      #expect(["drivers/", "mm/", "kernel/", "include/"].contains { file.hasPrefix($0) }, "\(file)")
      #expect(!file.contains("iommusan"), "\(file)")
    }
  }

  static let partialUnmap = """
    iommu smmu0 model=smmuv3
    d = domain smmu0
    blk = alloc_pages order=9
    iommu_map d iova=0x4000_0000 phys=blk size=2M
    iommu_unmap d iova=0x4000_0000 size=4K
    iommu_unmap d iova=0x4000_2000 size=8K
    """

  /// `__arm_lpae_unmap()`'s WARN_ONCE: its message between the cut line
  /// and the WARNING line at io-pgtable-arm.c, once per run, counted and in JSON.
  @Test func partialLargeUnmapIsAWarnOnceReport() throws {
    let result = run(Self.partialUnmap)
    #expect(result.reports.map(\.kind) == [.unmapPartialLargePage])
    #expect(result.summary.reports == 1)
    let lines = kernelText(result).split(separator: "\n").map(String.init)
    let warning = try #require(lines.firstIndex { $0.hasPrefix("WARNING: ") })
    #expect(lines[warning - 1] == "Unmap of a partial large IOPTE is not allowed")
    #expect(lines[warning - 2] == "------------[ cut here ]------------")
    #expect(lines[warning].hasPrefix("WARNING: drivers/iommu/io-pgtable-arm.c:679 at __arm_lpae_unmap+"))
    let json = RunOutputRenderer(format: .json).stdout(result)
    #expect(json.contains("\"kind\":\"unmap-partial-large-page\""))
    #expect(json.contains("\"file\":\"drivers/iommu/io-pgtable-arm.c\",\"line\":679,\"function\":\"__arm_lpae_unmap\""))
  }

  /// The same unmaps on VT-d remove the whole large page: no WARN of io-pgtable-arm.
  @Test func partialUnmapOnVTdIsNotThisWarn() {
    let result = run(Self.partialUnmap.replacingOccurrences(of: "model=smmuv3", with: "model=vtd"))
    #expect(!result.reports.contains { $0.kind == .unmapPartialLargePage })
  }

  /// `pci_dev_reset_iommu_prepare()`'s bare WARN_ON: a counted report (the run
  /// said "0 reports" beside a bare `WARNING:` line before), no message of its
  /// own after the splat, the EBUSY error kept.
  @Test func resetReentryIsABareWarnOnReport() throws {
    // Before 0d5fd7a9323c made re-entry legal (the default kernel nests it).
    let source = """
      cmdline "emu.kernel=7.0.0"
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0 ats=on
      reset_prepare nic0
      reset_prepare nic0
      expect error EBUSY
      expect report reset-prepare-reentry device=nic0
      reset_done nic0
      """
    let result = run(source)
    #expect(result.reports.map(\.kind) == [.resetPrepareReentry])
    #expect(result.failures.isEmpty)
    let lines = kernelText(result).split(separator: "\n").map(String.init)
    let warning = try #require(lines.firstIndex { $0.hasPrefix("WARNING: ") })
    #expect(lines[warning - 1] == "------------[ cut here ]------------")
    #expect(lines[warning].hasPrefix("WARNING: drivers/iommu/iommu.c:3975 at pci_dev_reset_iommu_prepare+"))
    let end = try #require(lines.firstIndex { $0.hasPrefix("---[ end trace") })
    #expect(lines[end + 1].hasPrefix("iommusan: reset-prepare-reentry"))
    #expect(!lines.contains { $0.hasPrefix("iommusan: pci_dev_reset_iommu_prepare") })
  }

  static func atsTimeout(_ model: String, unit: String) -> String {
    """
    cmdline "emu.reset=none"
    iommu \(unit) model=\(model)
    device nic0 iommu=\(unit) ats=on
    buf = alloc_pages
    h = dma_map nic0 buf size=4K
    ats_translate nic0 h
    flr_begin nic0
    dma_unmap h
    flr_end nic0
    """
  }

  /// Each driver's own timeout lines come before the splat, whose WARN file
  /// is that driver's.
  @Test(arguments: [
    (
      "vtd", "dmar0", "drivers/iommu/intel/dmar.c",
      [
        "DMAR: VT-d detected Invalidation Time-out Error: SID 8",
        "DMAR: QI HEAD: Device-TLB Invalidation qw0 = 0x800008003, qw1 = 0xfffff000",
        "DMAR: QI PRIOR: Invalidation Wait qw0 = 0x200000025, qw1 = 0x100000000",
        "DMAR: Invalidation Time-out Error (ITE) cleared",
      ]
    ),
    (
      "smmuv3", "smmu0", "drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c",
      ["arm-smmu-v3 smmu0: CMDQ error (cons 0x03000001): ATC invalidate timeout"]
    ),
    (
      "amd", "ivhd0", "drivers/iommu/amd/iommu.c",
      [
        "AMD-Vi: Completion-Wait loop timed out",
        "iommu ivhd0: AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=0000:00:01.0 address=0x100000000]",
      ]
    ),
  ])
  func atsTimeoutAsEachDriverLogsIt(_ model: String, _ unit: String, _ file: String, _ log: [String]) throws {
    let result = run(Self.atsTimeout(model, unit: unit))
    #expect(result.reports.map(\.kind) == [.atsInvalidationTimeout])
    let lines = kernelText(result).split(separator: "\n").map(String.init)
    let cut = try #require(lines.firstIndex(of: "------------[ cut here ]------------"))
    #expect(Array(lines[(cut - log.count)..<cut]) == log)
    #expect(lines[cut + 1].hasPrefix("WARNING: \(file):"))
    // The driver's lines are printed once, before the splat, not again after it.
    #expect(lines.filter { $0 == log[0] }.count == 1)
    #expect(RunOutputRenderer(format: .json).stdout(result).contains("\"kernel_log\":["))
  }

  /// Every `err_printk()` of `check_unmap()` has its own WARN line; the
  /// entry's `Mapped at:` stack follows when the entry was found.
  @Test func dmaDebugWarnsAtEachErrPrintk() throws {
    let source = """
      iommu vtd0 model=vtd
      device nvme0 iommu=vtd0
      buf = alloc_pages order=1
      h = dma_map nvme0 buf size=6K dir=to-device
      dma_unmap h size=8K dir=from-device
      dma_unmap h
      """
    let result = run(source)
    #expect(result.reports.map(\.warningSite) == [.checkUnmapSize, .checkUnmapDirection, .checkUnmapNotAllocated])
    #expect(Set([1006, 1045, 996]) == Set(result.reports.map(\.warningSite.line)))
    let text = kernelText(result)
    #expect(text.contains("WARNING: kernel/dma/debug.c:1006 at check_unmap+"))
    #expect(text.contains("WARNING: kernel/dma/debug.c:1045 at check_unmap+"))
    #expect(text.contains("WARNING: kernel/dma/debug.c:996 at check_unmap+"))
    #expect(!text.contains("debug.c:1011"))
    let lines = text.split(separator: "\n").map(String.init)
    let mapped = lines.indices.filter { lines[$0] == "DMA-API: Mapped at:" }
    // The two mismatches found the entry; the unmap of a freed entry did not.
    #expect(mapped.count == 2)
    for i in mapped {
      #expect(lines[i - 1].hasPrefix("---[ end trace"))
      #expect(lines[i + 1].hasPrefix(" debug_dma_map_phys+"))
      #expect(lines[i + 2].hasPrefix(" dma_map_phys+"))
      #expect(lines[i + 3].hasPrefix(" dma_map_page_attrs+"))
      #expect(lines[i + 4].hasPrefix(" drv_dma_map_h+") && lines[i + 4].hasSuffix(" [drv]"))
    }
  }
}
