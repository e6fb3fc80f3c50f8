import Foundation
import KernelTypes
import MemoryModel
import Reports
import Testing

/// syzkaller must title every report after its guilty driver frame, so that
/// different bug sites get different titles and no title names a detector.
@Suite struct SyzkallerTitleTests {
  let parser: SyzkallerParser

  init() throws { parser = try SyzkallerParser() }

  @Test func parserFollowsTheReferenceExample() throws {
    // report/715 of the reference: the RIP function is on the skip list, so
    // the title comes from the Call Trace.
    let text = """
      ------------[ cut here ]------------
      WARNING: CPU: 1 PID: 5000 at kernel/rcu/srcutree.c:671 cleanup_srcu_struct+0x39c/0x520
      Modules linked in:
      RIP: 0010:cleanup_srcu_struct+0x39c/0x520
      Call Trace:
       <TASK>
       kvm_put_kvm+0x5e6/0xc70
       kvm_vm_release+0x43/0x50
       </TASK>
      """
    let parsed = try #require(parser.parse(text))
    #expect(parsed.title == "WARNING in kvm_put_kvm")
    #expect(parsed.corrupted == nil)
  }

  /// A WARN is titled after its guilty driver frame (the kernel's own BUG
  /// and KASAN reports: `KernelReportTitleTests`).
  @Test(arguments: ReportKind.allCases.filter { GoldenReports.report($0).splat == .warning })
  func titleIsTheGuiltyFrame(kind: ReportKind) throws {
    let report = GoldenReports.report(kind)
    let guilty = try #require(report.callTrace.first { $0.isGuilty })
    let expected = "WARNING in \(guilty.function)"
    for format in KernelTextRenderer.WarningLineFormat.allCases {
      for tainted in [false, true] {
        let text = KernelTextRenderer(warningLineFormat: format, taints: tainted ? .warn : []).render(report)
        let parsed = try #require(parser.parse(text))
        #expect(parsed.title == expected, "\(format) tainted=\(tainted)")
        #expect(parsed.corrupted == nil, "\(parsed.corrupted ?? "")")
        #expect(KernelTextRenderer.expectedSyzkallerTitle(of: report) == parsed.title)
      }
    }
  }

  /// One title per kind, but for the two causes of `put_page_testzero()`'s
  /// `VM_BUG_ON_PAGE()`: the kernel prints the same oops for a double free
  /// and a free of a page never allocated.
  @Test func titlesAreDistinctPerBugSite() throws {
    var titles: Set<String> = []
    let kinds = ReportKind.allCases.filter { $0 != .pageFreeNeverAllocated }
    for kind in kinds {
      let text = KernelTextRenderer().render(GoldenReports.report(kind))
      titles.insert(try #require(parser.parse(text)).title)
    }
    #expect(titles.count == kinds.count)
    let neverAllocated = KernelTextRenderer().render(GoldenReports.report(.pageFreeNeverAllocated))
    let doubleFree = KernelTextRenderer().render(GoldenReports.report(.pageDoubleFree))
    #expect(try #require(parser.parse(neverAllocated)).title == (try #require(parser.parse(doubleFree)).title))
  }

  @Test func sameDetectorDifferentDriversGetDifferentTitles() throws {
    var a = GoldenReports.freedWhileMapped
    var b = a
    a.callTrace[3] = StackFrame("acme_a_free", module: "acme_a", isGuilty: true)
    b.callTrace[3] = StackFrame("acme_b_free", module: "acme_b", isGuilty: true)
    let ta = try #require(parser.parse(KernelTextRenderer().render(a))).title
    let tb = try #require(parser.parse(KernelTextRenderer().render(b))).title
    #expect(ta == "WARNING in acme_a_free")
    #expect(tb == "WARNING in acme_b_free")
  }

  @Test func noDetectorFunctionOnTheRIPLine() {
    // The kernel's own BUG names the function holding the BUG(), as a kernel does.
    for kind in ReportKind.allCases where GoldenReports.report(kind).splat == .warning {
      let report = GoldenReports.report(kind)
      let rip = KernelTextRenderer().lines(report).first { $0.hasPrefix("RIP: ") } ?? ""
      #expect(!rip.contains(report.warningSite.function), "\(kind): \(rip)")
    }
  }

  @Test func withoutAGuiltyFlagRIPPrefersFixtureCode() throws {
    var report = GoldenReports.freedWhileMapped
    report.callTrace = report.callTrace.map {
      var f = $0
      f.isGuilty = false
      return f
    }
    #expect(KernelTextRenderer.ripFrame(of: report).function == "acme_nvme_free_host_mem")
    report.callTrace = report.callTrace.map {
      var f = $0
      f.sourceFile = nil
      f.sourceLine = nil
      return f
    }
    // Next preference: the first module frame.
    #expect(KernelTextRenderer.ripFrame(of: report).function == "acme_nvme_free_host_mem")
    report.callTrace = [StackFrame("__iommu_debug_check_unmapped"), StackFrame("__free_pages")]
    #expect(KernelTextRenderer.ripFrame(of: report).function == "__iommu_debug_check_unmapped")
    report.callTrace = []
    #expect(KernelTextRenderer.ripFrame(of: report).function == "__iommu_debug_check_unmapped")
    // An empty call trace still gives a parseable report (the WARN site as its only frame).
    let parsed = try #require(parser.parse(KernelTextRenderer().render(report)))
    #expect(parsed.corrupted == nil)
  }

  @Test func oddFunctionNamesStayParseable() throws {
    var report = GoldenReports.freedWhileMapped
    report.callTrace[3] = StackFrame(
      "acme-nvme free\nhost", module: "acme-nvme", sourceFile: "a b.fixture", sourceLine: 3, isGuilty: true)
    let text = KernelTextRenderer().render(report)
    let parsed = try #require(parser.parse(text))
    #expect(parsed.title == "WARNING in acme_nvme_free_host")
    #expect(text.contains("RIP: 0010:acme_nvme_free_host+"))
    #expect(text.contains("[acme_nvme]"))
  }
}

/// The kernel's own BUG and KASAN reports get the title syzbot gives that
/// kernel message, by syzkaller's own parser (`../shared/tools/syzparse`,
/// beside the repository; the test is skipped when it is absent).
@Suite struct KernelReportTitleTests {
  static let syzparse: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<4 { url.deleteLastPathComponent() }
    return url.appendingPathComponent("shared/tools/syzparse/syzparse").path
  }()

  @Test(
    .enabled(if: FileManager.default.isExecutableFile(atPath: syzparse)),
    arguments: [
      (ReportKind.pageDoubleFree, "kernel BUG in __free_pages"),
      (.pageFreeNeverAllocated, "kernel BUG in __free_pages"),
      (.domainUseAfterFree, "KASAN: slab-use-after-free Read in iommu_domain_free"),
      (.vfreeNonexistentArea, "WARNING in acme_fw_release"),
      (.badPageState, "BUG: Bad page state in acme_ring_refill"),
    ])
  func title(kind: ReportKind, expected: String) throws {
    let report = GoldenReports.report(kind)
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("iommusan-syz-\(kind.rawValue).txt")
    try KernelTextRenderer().render(report).write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: Self.syzparse)
    process.arguments = ["-json", file.path]
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let first = try #require(String(decoding: data, as: UTF8.self).split(separator: "\n").first)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
    #expect(object["Title"] as? String == expected)
    #expect(object["Corrupted"] as? Bool == false)
    #expect(KernelTextRenderer.expectedSyzkallerTitle(of: report) == expected)
  }
}
