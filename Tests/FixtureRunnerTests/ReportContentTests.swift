import FixtureRunner
import Foundation
import KernelTypes
import Reports
import Testing

/// What a report tells beyond the kernel's lines: who still maps the page,
/// where it was freed and allocated again, and why an expectation missed.
@Suite struct ReportContentTests {
  static func run(_ text: String) -> FixtureResult {
    FixtureRunner.run(file: "t.fixture", source: Array(text.utf8))
  }

  static let topology = """
    memory 64M
    iommu vtd0 model=vtd
    device nic0 iommu=vtd0

    """

  @Test func freedWhileMappedNamesTheMappingAndItsStatement() throws {
    let r = Self.run(
      Self.topology + """
        buf = alloc_pages order=0
        h = dma_map nic0 buf size=4K dir=bidirectional
        free_pages buf
        """)
    let report = try #require(r.reports.first { $0.kind == .freedWhileMapped })
    let m = try #require(report.mappings.first)
    #expect(report.mappings.count == 1)
    #expect(m.binding == "h" && m.file == "t.fixture" && m.line == 5)
    #expect(m.attachments.map(\.device) == ["nic0"])
    #expect(m.leafSize == 4096 && m.size == 4096 && m.iova == m.pageIOVA)
    #expect(m.path.last == "dma_map_page_attrs" && m.path.first == "iommu_map")
    // The report itself names the mapping's IOVA, domain and device.
    #expect(report.iova == m.iova && report.device == "nic0" && report.domain == m.domain)
    let json = JSONLinesRenderer().line(report)
    #expect(json.contains(#""mappings":[{"domain":"#) && json.contains(#""binding":"h""#))
    #expect(KernelTextRenderer().render(report).contains("mapped at t.fixture:5 binding h via dma_map_page_attrs"))
  }

  @Test func anUnmappedPageHasNoMapping() throws {
    // Near miss: the page was mapped twice and unmapped once; only the live
    // mapping is listed, and after both unmaps the free is quiet.
    let r = Self.run(
      Self.topology + """
        buf = alloc_pages order=0
        h = dma_map nic0 buf size=4K dir=bidirectional
        g = dma_map nic0 buf size=4K dir=bidirectional
        dma_unmap h
        free_pages buf
        """)
    let report = try #require(r.reports.first { $0.kind == .freedWhileMapped })
    #expect(report.mappings.map(\.binding) == ["g"])
    let quiet = Self.run(
      Self.topology + """
        buf = alloc_pages order=0
        h = dma_map nic0 buf size=4K dir=bidirectional
        dma_unmap h
        free_pages buf
        """)
    #expect(quiet.reports.isEmpty)
  }

  @Test func reusedPageSaysWhereItWasFreedAndAllocatedAgain() throws {
    let r = Self.run(
      Self.topology + """
        buf = alloc_pages order=0
        h = dma_map nic0 buf size=4K dir=bidirectional
        free_pages buf
        again = alloc_pages order=0
        dma nic0 write h value=0x41
        """)
    let realloc = try #require(r.reports.first { $0.kind == .allocatedWhileMapped })
    #expect(realloc.freedAt?.line == 6 && realloc.reallocatedAt?.line == 7)
    let uaf = try #require(r.reports.first { $0.kind == .dmaUseAfterFree })
    #expect(uaf.freedAt?.line == 6 && uaf.reallocatedAt?.line == 7)
    // page_owner keeps the last free across the new allocation.
    #expect(uaf.pageOwner?.freeStack.isEmpty == false)
    #expect(!KernelTextRenderer().render(uaf).contains("translation epoch"))
  }

  @Test func aMissedExpectationSaysWhichFilterFailed() throws {
    let r = Self.run(
      """
      memory 64M
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      device nic1 iommu=vtd0
      buf = alloc_pages order=1
      h = dma_map nic0 buf size=8K dir=bidirectional
      free_pages buf
        expect report freed-while-mapped device=nic1 count=2
      """)
    let message = try #require(r.failures.first?.message)
    #expect(message.contains("0 match: got 2 freed-while-mapped, 0 with device=nic1"), "\(message)")
  }

  @Test func exitStatusCountsFaultsAndUnnamedErrors() {
    let error = Self.run(Self.topology + "buf = alloc_pages order=11\n")
    #expect(error.reports.isEmpty && error.exitStatus == 1)
    let named = Self.run(
      Self.topology + "buf = alloc_pages order=11\n  expect error ENOMEM\n")
    #expect(named.exitStatus == 0)
    let fault = Self.run(Self.topology + "dma nic0 read 0x1000\n  expect fault\n")
    #expect(fault.reports.isEmpty && fault.summary.faults == 1 && fault.exitStatus == 1)
  }

  @Test func maxReportsPrintsTheFirstAndSaysHowManyWereLeftOut() throws {
    let r = Self.run(
      Self.topology + """
        buf = alloc_pages order=2
        h = dma_map nic0 buf size=16K dir=bidirectional
        free_pages buf
        """)
    #expect(r.summary.reports == 4 && r.summary.sites == 1)
    let all = RunOutputRenderer(format: .kernel).stdout(r)
    #expect(all.contains("4 reports at 1 site (freed-while-mapped x4)"))
    let first = RunOutputRenderer(format: .kernel, maxReports: 1).stdout(r)
    #expect(first.components(separatedBy: "cut here").count == 2)
    #expect(first.contains("3 not printed (--max-reports 1)"))
  }

  @Test func messagesFollowTheirStatement() {
    let r = Self.run(
      Self.topology + """
        buf = alloc_pages order=0
        h = dma_map nic0 buf size=4K dir=bidirectional
        free_pages buf
        big = alloc_pages order=11
        """)
    let pieces = RunOutputRenderer(format: .kernel).pieces(r)
    // The report of line 6, its warning, line 7's warning, then the summary.
    let text = pieces.map { piece -> String in
      switch piece {
      case .out(let s):
        "out:" + (s.contains("Detected page leak") ? "report" : s.contains("1 report at") ? "summary" : s)
      case .err(let s): "err:" + s.split(separator: " ")[0]
      }
    }
    // The boot line of iommu_debug_init() first.
    #expect(text.first?.contains("iommu: Debugging page allocations") == true)
    #expect(text.dropFirst() == ["out:report", "err:t.fixture:6:1:", "err:t.fixture:7:1:", "out:summary"])
  }

  @Test func historyFollowsAPageThroughItsLife() throws {
    let text =
      Self.topology + """
        buf = alloc_pages order=0
        h = dma_map nic0 buf size=4K dir=bidirectional
        dma nic0 write h value=0x41
        dma_unmap h
        free_pages buf
        """
    var options = RunOptions()
    options.history = ["buf", "nope"]
    let r = FixtureRunner.run(file: "t.fixture", source: Array(text.utf8), options: options)
    let life = try #require(r.histories.first)
    #expect(r.histories.count == 1 && life.page == "buf")
    // The unmap's IOTLB flush (strict mode) is in the history too.
    #expect(life.events.map(\.event) == ["alloc", "map", "dma", "unmap", "invalidation", "free"])
    #expect(life.events.map(\.line) == [4, 5, 6, 7, 7, 8])
    #expect(r.warnings.contains { $0.message.contains("--history nope: no name 'nope' is bound") })
    // Every report about a page carries the page's last events.
    let leak = Self.run(Self.topology + "buf = alloc_pages order=0\nh = dma_map nic0 buf size=4K\nfree_pages buf\n")
    let report = try #require(leak.reports.first)
    #expect(report.history.map(\.event) == ["alloc", "map", "free", "report"])
  }
}

/// Invalidations in a page's history (`run --history`).
@Suite struct InvalidationHistoryTests {
  func history(_ source: String, page: String) throws -> [PageHistoryEvent] {
    var options = RunOptions()
    options.history = [page]
    let r = FixtureRunner.run(file: "t.fixture", source: Array(source.utf8), options: options)
    return try #require(r.histories.first).events
  }

  @Test func strictUnmapFlushIsInTheHistory() throws {
    let events = try history(
      """
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      buf = alloc_pages
      h = dma_map nic0 buf size=4K dir=from-device
      dma_unmap h
      """, page: "buf")
    let inv = try #require(events.first { $0.event == "invalidation" })
    #expect(inv.line == 5)
    #expect(inv.cache == "IOTLB" && inv.state == "issued and completed")
    #expect(inv.domain == "nic0:default" && inv.iova == 0xffff_f000 && inv.iovaLast == 0xffff_ffff)
    #expect(inv.text.hasPrefix("invalidation of the IOTLB (IOTLB PSI IH=1 on vtd0) for nic0:default iova 0xfffff000-"))
    #expect(events.map(\.event) == ["alloc", "map", "unmap", "invalidation"])
  }

  @Test func atcTimeoutStaysIssued() throws {
    let events = try history(
      String(
        decoding: try Data(
          contentsOf: URL(fileURLWithPath: repositoryRoot + "/Fixtures/driver-bugs/reset-with-ats-pending.fixture")),
        as: UTF8.self),
      page: "buf")
    let atc = try #require(events.last { $0.event == "invalidation" })
    #expect(atc.cache == "ATC of gpu0" && atc.state == "issued, timed out")
  }

  @Test func aPageOutsideTheRangeGetsNoInvalidation() throws {
    let events = try history(
      """
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      a = alloc_pages
      b = alloc_pages
      ha = dma_map nic0 a size=4K dir=from-device
      hb = dma_map nic0 b size=4K dir=from-device
      dma_unmap ha
      """, page: "b")
    #expect(!events.contains { $0.event == "invalidation" })
  }
}
