import FixtureRunner
import Foundation
import KernelTypes
import Replay
import Reports
import Testing

/// `--html`: the corpus's reports each get a timeline, and the page loads in
/// a real headless Chromium (`Browser`) with no console message, the lanes
/// and events the fixtures imply in its DOM, and a screenshot that is not
/// blank. The browser tests are skipped, with a message, where there is no
/// browser; `.ci/run` installs Debian's `chromium`.
@Suite(.serialized) struct HTMLBrowserTests {
  static let skip = "no headless browser (chromium) found: install Debian's chromium or set IOMMUSAN_CHROMIUM"

  static func fixture(_ path: String) -> FixtureResult {
    var options = RunOptions()
    options.logsInvalidations = true
    return FixtureRunner.run(path: repositoryRoot + "/" + path, options: options)
  }

  /// A strict unmap between a device's write and a second map of the page,
  /// then the free: the IOTLB entry's life ends at the invalidation.
  static let invalidatedSource = """
    iommu vtd0 model=vtd
    device nic0 iommu=vtd0
    buf = alloc_pages
    rx = dma_map nic0 buf size=4K dir=from-device
    dma nic0 write rx value=1
    dma_unmap rx
    rx2 = dma_map nic0 buf size=4K dir=from-device
    free_pages buf
    expect report freed-while-mapped
    """

  /// A page like `check --html`: the freed-while-mapped fixture, the
  /// reused page, and a replayed trace.
  static func storyPage() throws -> String {
    var doc = HTMLDocument(command: "iommusan check --html story.html")
    doc.runs = [
      HTMLRun(fixture("Fixtures/sanitizer/free-while-mapped.fixture"), check: true),
      HTMLRun(fixture("Fixtures/driver-bugs/reused-page-still-mapped.fixture"), check: true),
    ]
    let trace = "Fixtures/traces/ath12k-fault-after-unmap.trace"
    let box = ReportBox()
    _ = try TraceReplay.replay(
      path: repositoryRoot + "/" + trace, options: ReplayOptions(pageSize: 4096, traceName: trace),
      report: { box.add($0) })
    var replayed = HTMLRun(name: trace, status: .exit(1))
    for r in box.reports { replayed.add(r) }
    doc.runs.append(replayed)
    return try write(HTMLRenderer().render(doc), name: "story")
  }

  static func write(_ html: String, name: String) throws -> String {
    let path = NSTemporaryDirectory() + "iommusan-\(name)-\(UUID().uuidString).html"
    try html.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  /// Each timeline section of a dumped DOM: its id, its lanes and its events in order.
  static func sections(_ dom: String) -> [(id: String, lanes: [String], events: [String])] {
    dom.components(separatedBy: "<section class=\"subject\"").dropFirst().map { s in
      let id = attribute("id", in: s).first ?? ""
      let body = s.components(separatedBy: "</section>")[0]
      return (id, attribute("data-lane", in: body), attribute("data-event", in: body))
    }
  }

  static func attribute(_ name: String, in text: String) -> [String] {
    text.components(separatedBy: " \(name)=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
  }

  // MARK: - Without a browser

  /// `check --html Fixtures`: every report about a page or an IOVA is drawn
  /// on its subject's timeline, every fixture is listed with its status.
  @Test func everyReportOfTheCorpusHasATimeline() throws {
    var doc = HTMLDocument(command: "iommusan check --html corpus.html Fixtures")
    var subjects = 0
    for path in corpus {
      let result = Self.fixture(path)
      let run = HTMLRun(result, check: true)
      for r in result.reports {
        if let pfn = r.pfn?.rawValue {
          #expect(run.subjects.contains { $0.covers(pfn: pfn) }, "\(path): pfn \(pfn)")
        } else if let iova = r.iova?.rawValue {
          #expect(run.subjects.contains { $0.subject == .iova(device: r.device, iova: iova) }, "\(path)")
        }
      }
      // Within the bounds: a 2M block freed while mapped (512 reports) is one
      // timeline of a range, and a second statement that reports the range
      // alike folds in too (Fixtures/iommupt/unmap-inside-1g-page-amd.fixture).
      #expect(run.notKept == 0, "\(path)")
      // Every site links to a timeline that holds one of its reports.
      for site in run.sites {
        let first = site.firstSubject
        let hasSubject = result.reports.contains { r in
          r.kind == site.kind && (r.pfn != nil || r.iova != nil)
            && KernelText.symbol(KernelTextRenderer.ripFrame(of: r).function) == site.guilty
        }
        if hasSubject {
          let f = try #require(first, "\(path): \(site.kind.rawValue) \(site.guilty)")
          #expect(run.subjects[f].reports.contains { $0.kind == site.kind }, "\(path): \(site.kind.rawValue)")
        }
      }
      subjects += run.subjects.count
      doc.runs.append(run)
    }
    let html = HTMLRenderer().render(doc)
    #expect(html.components(separatedBy: "<section class=\"subject\"").count - 1 == subjects)
    #expect(html.components(separatedBy: "<td class=\"status pass\">PASS</td>").count - 1 == corpus.count)
    for (i, run) in doc.runs.enumerated() {
      for k in run.subjects.indices { #expect(html.contains("id=\"r\(i)-s\(k)\"")) }
    }
    guard Browser.available else { return }
    let file = try Self.write(html, name: "corpus")
    defer { try? FileManager.default.removeItem(atPath: file) }
    let (dom, err) = try Browser.run(["--dump-dom"], file: file)
    #expect(Browser.consoleMessages(err).isEmpty, "\(Browser.consoleMessages(err))")
    #expect(Self.sections(dom).count == subjects)
  }

  /// Invalidations that covered the page are on its IOMMU's cache lane,
  /// between the unmap and the next map, and end the IOTLB entry's bar.
  @Test func invalidationsAreOnTheCacheLane() throws {
    var options = RunOptions()
    options.logsInvalidations = true
    let result = FixtureRunner.run(file: "inval.fixture", source: Array(Self.invalidatedSource.utf8), options: options)
    #expect(result.passed, "\(result.failures)")
    let run = HTMLRun(result, check: true)
    let t = HTMLTimeline(reports: try #require(run.subjects.first).reports)
    // The sanitizer's page history holds the invalidation (the log adds none then).
    #expect(t.steps.map(\.event) == ["alloc", "map", "dma", "unmap", "invalidation", "map", "free", "report"])
    let inval = try #require(t.steps.first { $0.event == "invalidation" })
    #expect(inval.location == "inval.fixture:6")
    #expect(inval.text.hasPrefix("invalidation of the IOTLB (IOTLB PSI"))
    #expect(inval.text.hasSuffix("issued and completed"))
    let lane = t.lanes[inval.marks[0].lane]
    #expect(lane.kind == .cache && lane.label == "vtd0 IOTLB")
    #expect(t.reaches.contains { $0.isCache && $0.invalidated && $0.from == 2 && $0.to == 4 })
    // Without the log the history has the same invalidation.
    let plain = HTMLRun(
      FixtureRunner.run(file: "inval.fixture", source: Array(Self.invalidatedSource.utf8)), check: true)
    #expect(HTMLTimeline(reports: plain.subjects[0].reports).steps.map(\.event) == t.steps.map(\.event))
  }

  // MARK: - In a browser

  /// With JavaScript blocked the page still has its lanes, its events and
  /// each event's statement (SVG `<title>` and the list), and draws.
  @Test(.enabled(if: Browser.available, Comment(rawValue: skip)))
  func withoutJavaScriptTheTimelinesAreThere() throws {
    let file = try Self.storyPage()
    defer { try? FileManager.default.removeItem(atPath: file) }
    let (dom, err) = try Browser.run(["--dump-dom"], file: file, javaScript: false)
    #expect(Browser.consoleMessages(err).isEmpty, "\(Browser.consoleMessages(err))")
    // The script did not run (it adds the `js` class), and the page is whole.
    #expect(dom.contains("<html lang=\"en\">"))
    #expect(!dom.contains("class=\"js\""))
    let s = Self.sections(dom)
    try #require(s.count == 3)
    #expect(s[0].lanes == ["task:free-while-mapp/1000", "device:nic0", "allocator:page allocator"])
    #expect(s[0].events == ["alloc", "map", "free", "report"])
    #expect(s[1].events == ["alloc", "map", "free", "report", "alloc", "report", "dma", "report"])
    #expect(s[2].events == ["map", "dma-api", "dma-api", "unmap", "io_page_fault", "report"])
    // Every event's statement: its SVG <title> names FILE:LINE, and the list has a line per event.
    let events = dom.components(separatedBy: "<g class=\"ev ").dropFirst()
    #expect(events.count == s.reduce(0) { $0 + $1.events.count })
    for e in events {
      let title = e.components(separatedBy: "<title>").dropFirst().first?.components(separatedBy: "</title>").first
      #expect(title.map { $0.contains(".fixture:") || $0.contains(".trace:") } == true, "\(e.prefix(200))")
    }
    #expect(dom.components(separatedBy: "<li data-step=").count - 1 == events.count)
    #expect(dom.contains("free_pages buf</title>"))
    // And it draws: the screenshot is not blank and shows the report's red.
    let png = file + ".png"
    defer { try? FileManager.default.removeItem(atPath: png) }
    _ = try Browser.run(
      ["--screenshot=\(png)", "--window-size=1200,1000", "--hide-scrollbars"], file: file, javaScript: false)
    let image = try PNGImage(Array(try Data(contentsOf: URL(fileURLWithPath: png))))
    #expect(image.distinctColours() > 50)
    #expect(image.count { r, g, b in r > 180 && g < 80 && b < 90 } > 40)
  }

  @Test(.enabled(if: Browser.available, Comment(rawValue: skip)))
  func theDOMHasTheLanesAndEventsTheFixturesImply() throws {
    let file = try Self.storyPage()
    defer { try? FileManager.default.removeItem(atPath: file) }
    let (dom, err) = try Browser.run(["--dump-dom"], file: file)
    #expect(Browser.consoleMessages(err).isEmpty, "\(Browser.consoleMessages(err))")
    // The script ran.
    #expect(dom.contains("<html lang=\"en\" class=\"js\">"))
    let s = Self.sections(dom)
    try #require(s.count == 3)
    // free_pages of a page nic0 still maps: alloc, map, free, the report.
    #expect(s[0].id == "r0-s0")
    #expect(s[0].lanes == ["task:free-while-mapp/1000", "device:nic0", "allocator:page allocator"])
    #expect(s[0].events == ["alloc", "map", "free", "report"])
    // Freed, reallocated, written by the device through a fresh IOTLB fill.
    #expect(s[1].lanes == ["task:reused-page-sti/1000", "device:dsp0", "cache:vtd0 IOTLB", "allocator:page allocator"])
    #expect(s[1].events == ["alloc", "map", "free", "report", "alloc", "report", "dma", "report"])
    #expect(dom.contains(">realloc<"))
    // The trace: the page's traced history (map, unmap, the fault), the
    // DMA-API lines its report names (dma_alloc has no physical address),
    // then the report; the device is a lane with its DMA-API calls and the fault.
    #expect(s[2].events == ["map", "dma-api", "dma-api", "unmap", "io_page_fault", "report"])
    #expect(s[2].lanes.contains("trace:IOMMU"))
    #expect(s[2].lanes.contains("device:0000:c2:00.0"))
    // Hover text: the statement's FILE:LINE and its text.
    #expect(
      dom.contains(
        "<title>\(repositoryRoot)/Fixtures/sanitizer/free-while-mapped.fixture:8: report: freed-while-mapped"))
    #expect(dom.contains("free_pages buf</title>"))
  }

  @Test(.enabled(if: Browser.available, Comment(rawValue: skip)))
  func theScreenshotIsNotBlank() throws {
    var doc = HTMLDocument(command: "iommusan run --html page.html Fixtures/sanitizer/free-while-mapped.fixture")
    doc.runs = [HTMLRun(Self.fixture("Fixtures/sanitizer/free-while-mapped.fixture"), check: false)]
    let file = try Self.write(HTMLRenderer().render(doc), name: "shot")
    let png = file + ".png"
    defer {
      try? FileManager.default.removeItem(atPath: file)
      try? FileManager.default.removeItem(atPath: png)
    }
    let (_, err) = try Browser.run(["--screenshot=\(png)", "--window-size=1200,1000", "--hide-scrollbars"], file: file)
    #expect(Browser.consoleMessages(err).isEmpty, "\(Browser.consoleMessages(err))")
    let image = try PNGImage(Array(try Data(contentsOf: URL(fileURLWithPath: png))))
    #expect(image.width == 1200 && image.height == 1000)
    #expect(image.distinctColours() > 50)
    // The report's red diamond and dashed line (#cf222e in the light scheme).
    let red = image.count { r, g, b in r > 180 && g < 80 && b < 90 }
    #expect(red > 40, "\(red) red pixels")
  }
}

private final class ReportBox: @unchecked Sendable {
  private let lock = NSLock()
  private var kept: [Report] = []
  func add(_ r: Report) {
    lock.lock()
    kept.append(r)
    lock.unlock()
  }
  var reports: [Report] {
    lock.lock()
    defer { lock.unlock() }
    return kept
  }
}
