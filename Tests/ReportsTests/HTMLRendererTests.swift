import KernelTypes
import MemoryModel
import Reports
import Testing

/// The HTML report without a browser: lanes and steps from a history,
/// history merging, the timeline of a report without history (a trace),
/// escaping, self-containment and bounds. `HTMLBrowserTests` loads pages in
/// Chromium.
@Suite struct HTMLRendererTests {
  static let task = EmulatedTask(pid: 1000, tgid: 1000, comm: "drv")

  static func report(
    _ kind: ReportKind = .freedWhileMapped, pfn: UInt64? = 0x80001, line: Int = 8, text: String = "free_pages buf",
    device: String? = nil, history: [PageHistoryEvent] = [], details: [Detail] = []
  ) -> Report {
    var r = Report(
      kind: kind, headline: "iommu: Detected page leak!", warningSite: .checkUnmapped,
      callTrace: [StackFrame("drv_free", sourceFile: "t.fixture", sourceLine: line, isGuilty: true)],
      statement: StatementLocation(file: "t.fixture", line: line, text: text), task: task,
      pfn: pfn.map { PFN($0) }, iova: IOVA(0xffff_f000), domain: "d", device: device, details: details)
    r.history = history
    return r
  }

  static let story: [PageHistoryEvent] = [
    PageHistoryEvent(event: "alloc", file: "t.fixture", line: 5, text: "allocated", task: task),
    PageHistoryEvent(
      event: "map", file: "t.fixture", line: 6, text: "mapped", task: task, domain: "d", iova: 0xffff_f000),
    PageHistoryEvent(
      event: "dma", file: "t.fixture", line: 7, text: "dev0 wrote", task: task, device: "dev0", isWrite: true,
      iommu: "vtd0", path: "walk", iova: 0xffff_f000),
    PageHistoryEvent(event: "free", file: "t.fixture", line: 8, text: "freed", task: task),
    PageHistoryEvent(event: "report", file: "t.fixture", line: 8, text: "freed-while-mapped", task: task),
    PageHistoryEvent(event: "alloc", file: "t.fixture", line: 9, text: "allocated", task: task),
  ]

  @Test func lanesAndStepsFollowTheHistory() {
    let t = HTMLTimeline(reports: [Self.report(history: Self.story)])
    #expect(t.lanes.map(\.kind) == [.task, .device, .cache, .allocator])
    #expect(t.lanes.map(\.label) == ["drv/1000", "dev0", "vtd0 IOTLB", "page allocator"])
    #expect(t.steps.map(\.event) == ["alloc", "map", "dma", "free", "report", "alloc"])
    // The allocation after the free is a reallocation; the walk filled the IOTLB.
    #expect(t.steps[5].marks[0].event == "realloc")
    #expect(t.steps[2].marks.map(\.event) == ["dma", "fill"])
    #expect(t.steps[2].marks[0].lines == ["write", "iova 0xfffff000"])
    #expect(t.steps[4].statement == "free_pages buf")
  }

  @Test func historiesOfOnePageMergeOnTheirOverlap() {
    let a = Array(Self.story.prefix(4))
    let b = Array(Self.story.suffix(4))
    #expect(HTMLTimeline.merge([a, b]) == Self.story)
    #expect(HTMLTimeline.merge([Self.story, Self.story]) == Self.story)
  }

  @Test func aReportWithoutHistoryDrawsTheLinesItsDetailsName() {
    let r = Self.report(
      .faultAfterUnmap, line: 9, text: "irq-1 [000] 2.0: io_page_fault: ...", device: "0000:c2:00.0",
      details: [
        Detail("map line", .int(5)), Detail("map ts", .string("1.0")), Detail("dma map line", .int(6)),
        Detail("unmap line", .int(8)), Detail("fault line", .int(9)),
      ])
    let t = HTMLTimeline(reports: [r])
    #expect(t.steps.map(\.event) == ["map", "dma-api", "unmap", "report"])
    #expect(t.steps.map(\.location) == ["t.fixture:5", "t.fixture:6", "t.fixture:8", "t.fixture:9"])
    #expect(t.lanes.map(\.kind) == [.task, .device, .domain])
    #expect(t.steps[3].statement == "irq-1 [000] 2.0: io_page_fault: ...")
  }

  @Test func everythingFromTheInputIsEscaped() {
    var run = HTMLRun(name: "<b>x</b>.fixture", status: .failed)
    run.messages = ["t.fixture:1:1: error: '<script>alert(1)</script>'"]
    run.add(Self.report(text: "free_pages \"><img src=x onerror=alert(1)>", device: "<svg onload=alert(2)>"))
    var doc = HTMLDocument(command: "iommusan run '<i>'")
    doc.runs = [run]
    let html = HTMLRenderer().render(doc)
    #expect(!html.contains("<img"))
    #expect(!html.contains("<svg onload"))
    #expect(!html.contains("<b>x"))
    #expect(!html.contains("<i>"))
    #expect(html.components(separatedBy: "<script>").count == 2)
    #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    #expect(HTMLText.escape("a\u{0}b\u{1b}c\td\n&'\"") == "a\u{FFFD}b\u{FFFD}c\td\n&amp;&#39;&quot;")
  }

  @Test func thePageIsSelfContained() {
    var run = HTMLRun(name: "t.fixture", status: .exit(1))
    run.add(Self.report(history: Self.story))
    var doc = HTMLDocument(command: "iommusan run t.fixture")
    doc.runs = [run]
    let html = HTMLRenderer().render(doc)
    let withoutNamespace = html.replacingOccurrences(of: "xmlns=\"http://www.w3.org/2000/svg\"", with: "")
    #expect(!withoutNamespace.contains("http:") && !withoutNamespace.contains("https:"))
    #expect(!html.contains(" src=") && !html.contains("<link") && !html.contains("@import") && !html.contains("url("))
    #expect(html.contains("prefers-color-scheme: dark") && html.contains("@media print"))
    #expect(HTMLRenderer().render(doc) == html)
  }

  @Test func aRunKeepsABoundedNumberOfReports() {
    var run = HTMLRun(name: "big.trace")
    // Every other page: consecutive pages from one statement would fold into one timeline.
    for k in 0..<UInt64(HTMLRun.maximumSubjects + 100) { run.add(Self.report(pfn: 2 * k)) }
    for _ in 0..<20 { run.add(Self.report(pfn: 0)) }
    for _ in 0..<(HTMLRun.maximumOtherReports + 5) {
      var r = Self.report(pfn: nil)
      r.iova = nil
      run.add(r)
    }
    #expect(run.reportCount == HTMLRun.maximumSubjects + 100 + 20 + HTMLRun.maximumOtherReports + 5)
    #expect(run.subjects.count == HTMLRun.maximumSubjects)
    #expect(run.subjects[0].reports.count == HTMLRun.maximumReportsPerSubject)
    #expect(run.subjects[0].notKept == 21 - HTMLRun.maximumReportsPerSubject)
    #expect(run.otherReports.count == HTMLRun.maximumOtherReports)
    #expect(run.notKept == 100 + 21 - HTMLRun.maximumReportsPerSubject + 5)
    #expect(run.sites.count == 1 && run.sites[0].count == run.reportCount)
  }
}

extension HTMLRendererTests {
  /// A mapped order-2 block freed: four reports of one kind from one
  /// statement on consecutive pages are one timeline of four pages.
  @Test func pagesReportedAlikeByOneStatementAreOneTimeline() {
    var run = HTMLRun(name: "t.fixture")
    for pfn in UInt64(0x100)..<0x104 { run.add(Self.report(pfn: pfn)) }
    run.add(Self.report(pfn: 0x104, line: 9))
    run.add(Self.report(.allocatedWhileMapped, pfn: 0x105, line: 9))
    #expect(run.subjects.map(\.pageCount) == [4, 1, 1])
    #expect(run.subjects[0].folded == 3 && run.subjects[0].reports.count == 1)
    #expect(run.subjects[0].covers(pfn: 0x103) && !run.subjects[0].covers(pfn: 0x104))
    var doc = HTMLDocument(command: "iommusan run t.fixture")
    doc.runs = [run]
    #expect(HTMLRenderer().render(doc).contains("pages pfn 0x100-0x103 (4 pages, drawn for the first)"))
  }
}

extension HTMLRendererTests {
  /// Lazy unmap: the IOTLB entry a walk filled is used after the unmap and
  /// the free; the cache lane shows it held from the fill to that hit.
  @Test func aCacheLaneShowsAnEntryFromItsFillToItsLastHit() throws {
    func dma(_ line: Int, _ path: String) -> PageHistoryEvent {
      PageHistoryEvent(
        event: "dma", file: "t.fixture", line: line, text: "eth0 wrote", task: Self.task, device: "eth0", isWrite: true,
        iommu: "vtd0", path: path, iova: 0xffff_f000)
    }
    let history = [
      Self.story[0], Self.story[1], dma(7, "walk"),
      PageHistoryEvent(event: "unmap", file: "t.fixture", line: 8, text: "unmapped", task: Self.task, domain: "d"),
      Self.story[3], dma(10, "iotlb"),
    ]
    let t = HTMLTimeline(reports: [Self.report(.dmaUseAfterFree, history: history)])
    let cache = t.lanes.firstIndex { $0.kind == .cache }
    try #require(t.reaches.count == 1)
    let r = t.reaches[0]
    #expect(r.isCache && r.lane == cache && r.from == 2 && r.to == 5 && r.iova == 0xffff_f000)
    #expect(t.steps[5].marks.map(\.event) == ["dma", "hit"])
  }
}

extension HTMLRendererTests {
  /// Past `maximumSubjects` pages, a report of a site not drawn yet still
  /// gets its timeline; a second statement that reports a folded range
  /// alike folds in too (allocated-while-mapped after freed-while-mapped).
  @Test func everySiteHasATimelinePastTheBound() {
    var run = HTMLRun(name: "big.fixture")
    for k in 0..<UInt64(HTMLRun.maximumSubjects + 10) { run.add(Self.report(pfn: 2 * k)) }
    #expect(run.subjects.count == HTMLRun.maximumSubjects && run.notKept == 10)
    // A new site (another kind) past the bound: drawn.
    run.add(Self.report(.dmaUseAfterFree, pfn: 0x10_0000, line: 12))
    #expect(run.subjects.count == HTMLRun.maximumSubjects + 1)
    #expect(run.sites.map { $0.firstSubject != nil } == [true, true])
    // Its second report on another page: counted only.
    run.add(Self.report(.dmaUseAfterFree, pfn: 0x20_0000, line: 12))
    #expect(run.subjects.count == HTMLRun.maximumSubjects + 1 && run.notKept == 11)

    var folded = HTMLRun(name: "t.fixture")
    for pfn in UInt64(0x100)..<0x104 { folded.add(Self.report(pfn: pfn)) }
    for pfn in UInt64(0x100)..<0x104 { folded.add(Self.report(.allocatedWhileMapped, pfn: pfn, line: 9)) }
    #expect(folded.subjects.count == 1 && folded.notKept == 0)
    #expect(folded.subjects[0].reports.map(\.kind) == [.freedWhileMapped, .allocatedWhileMapped])
    #expect(folded.subjects[0].folded == 6)
  }

  /// A trace's history (`mm_page_alloc`, `dma_map_page`, `io_page_fault`,
  /// `dma_unmap_page`): the device is a lane with its DMA-API calls and the
  /// fault; the allocator's events are on the allocator lane.
  @Test func aTraceHistoryHasTheDeviceLane() {
    func traced(_ event: String, _ line: Int, device: String? = nil) -> PageHistoryEvent {
      PageHistoryEvent(
        event: event, file: "t.trace", line: line, text: event, device: device, iova: 0x1000, ts: "1.0", cpu: 0,
        pid: 7)
    }
    let history = [
      traced("mm_page_alloc", 1), traced("dma_map_page", 2, device: "0000:01:00.0"),
      traced("dma_unmap_page", 3, device: "0000:01:00.0"), traced("mm_page_free", 4),
      traced("io_page_fault", 5, device: "0000:01:00.0"),
    ]
    let t = HTMLTimeline(reports: [Self.report(.faultAfterUnmap, line: 5, history: history)])
    #expect(t.lanes.map(\.label).contains("0000:01:00.0"))
    let device = t.lanes.firstIndex { $0.kind == .device }
    #expect(t.steps.map { $0.marks[0].event } == ["alloc", "map", "unmap", "free", "dma", "report"])
    #expect(t.steps[1...2].allSatisfy { $0.marks[0].lane == device } && t.steps[4].marks[0].lane == device)
    // The device can reach the page from its DMA-API map to its unmap.
    #expect(t.reaches.contains { $0.lane == device && $0.from == 1 && $0.to == 2 })
  }

  /// An `explore` finding: its schedule in the overview and above its run,
  /// with the command that replays it, and a lane for each task, also one
  /// that did not touch the page.
  @Test func anExploreFindingShowsItsScheduleAndTasks() {
    var run = HTMLRun(name: "race.fixture", status: .exit(1))
    run.add(Self.report(history: Self.story))
    (run.finding, run.schedule, run.tasks) = ("freed-while-mapped drv_free", "cpu:2,nic:1", ["drv", "timer"])
    var doc = HTMLDocument(command: "iommusan explore --html x.html race.fixture")
    doc.runs = [run]
    let html = HTMLRenderer().render(doc)
    #expect(html.contains("<td><code class=\"schedule\">cpu:2,nic:1</code></td>"))
    #expect(html.contains("iommusan run --schedule &#39;cpu:2,nic:1&#39; race.fixture"))
    let t = HTMLTimeline(reports: run.subjects[0].reports, tasks: run.tasks)
    #expect(t.lanes.filter { $0.kind == .task }.map(\.label) == ["drv/1000", "timer"])
    #expect(html.contains("data-lane=\"task:timer\""))
  }

  /// An invalidation in a history (whoever recorded it) is drawn on its
  /// unit's IOTLB lane, and ends the IOTLB entry's bar.
  @Test func anInvalidationEndsTheCachedBar() {
    let inval = PageHistoryEvent(
      event: "inval", file: "t.fixture", line: 8, text: "IOTLB PSI: vtd0 IOTLB, issued and completed", task: Self.task,
      iommu: "vtd0", path: "iotlb", iova: 0xffff_f000)
    let history = Array(Self.story.prefix(3)) + [inval] + [Self.story[3]]
    let t = HTMLTimeline(reports: [Self.report(history: history)])
    let cache = t.lanes.firstIndex { $0.kind == .cache && $0.label == "vtd0 IOTLB" }
    #expect(t.steps[3].marks[0].event == "inval" && t.steps[3].marks[0].lane == cache)
    #expect(t.steps[3].marks[0].lines.first == "inval done")
    #expect(t.reaches.contains { $0.isCache && $0.invalidated && $0.from == 2 && $0.to == 3 })
  }
}
