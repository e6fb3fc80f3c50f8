import KernelTypes

/// Renders an `HTMLDocument` as one self-contained HTML page (`--html
/// FILE`): no network, no external script, font or style. An overview
/// (reports by kind and site, the runs and their status, notes), then one
/// section per page (or IOVA) with reports: an inline SVG timeline with a
/// lane per actor, the list of its events, and the reports' kernel text.
///
/// Everything is readable with JavaScript off (SVG `<title>` elements give
/// each event's statement on hover); the script only highlights a selected
/// event in the list. Colours follow `prefers-color-scheme`; `@media print`
/// drops the interaction. Every string from the input is escaped
/// (`HTMLText`). Output is deterministic and bounded: `HTMLRun` keeps a
/// bounded number of reports, and at most `maximumDrawnSubjects` timelines
/// are drawn per document.
package struct HTMLRenderer: Sendable {
  package static let maximumDrawnSubjects = 512
  package init() {}

  package func render(_ doc: HTMLDocument) -> String {
    var h = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    h += "<meta name=\"color-scheme\" content=\"light dark\">\n"
    h += "<title>iommusan: \(HTMLText.escape(doc.command))</title>\n"
    h += "<style>\n\(HTMLStyle.css)</style>\n</head>\n<body>\n<header>\n<h1>iommusan</h1>\n"
    h += "<p class=\"cmd\"><code>\(HTMLText.escape(doc.command))</code></p>\n"
    let total = doc.runs.reduce(0) { $0 + $1.reportCount }
    let subjects = doc.runs.reduce(0) { $0 + $1.subjects.count }
    h += "<p class=\"counts\">\(plural(total, "report")) in \(plural(doc.runs.count, "run"))"
    h += ", \(plural(subjects, "timeline")).</p>\n</header>\n<main>\n"
    h += overview(doc)
    var drawn = 0
    var notDrawn = 0
    // Past the bound, the timelines the overview's sites link to are still drawn (at most as many again).
    var linked: Set<String> = []
    for s in Self.sites(doc) {
      if let f = s.site.firstSubject { linked.insert("r\(s.run)-s\(f)") }
    }
    var extra = 0
    for (r, run) in doc.runs.enumerated() where run.reportCount > 0 {
      h += "<section class=\"run\" id=\"r\(r)\">\n<h2>\(HTMLText.escape(run.name))</h2>\n"
      h += schedule(run)
      if run.notKept > 0 {
        h += "<p class=\"note\">\(plural(run.notKept, "report")) counted above but not drawn (bounded output).</p>\n"
      }
      for (s, subject) in run.subjects.enumerated() {
        if drawn < Self.maximumDrawnSubjects {
          drawn += 1
        } else if linked.contains("r\(r)-s\(s)") && extra < Self.maximumDrawnSubjects {
          extra += 1
        } else {
          notDrawn += 1
          continue
        }
        h += section(subject, id: "r\(r)-s\(s)", tasks: run.tasks, release: run.release)
      }
      if !run.otherReports.isEmpty {
        h += "<section class=\"other\">\n<h3>Reports about no page or IOVA</h3>\n"
        for rep in run.otherReports { h += kernelText(rep, open: true, release: run.release) }
        h += "</section>\n"
      }
      h += "</section>\n"
    }
    if notDrawn > 0 {
      h +=
        "<p class=\"note\">\(plural(notDrawn, "more timeline")) not drawn (at most \(Self.maximumDrawnSubjects), "
        + "and the first timeline of each report site).</p>\n"
    }
    h += "</main>\n<script>\n\(HTMLStyle.script)</script>\n</body>\n</html>\n"
    return h
  }

  // MARK: - Overview

  private func overview(_ doc: HTMLDocument) -> String {
    var h = "<section class=\"overview\">\n"
    for note in doc.notes {
      h += "<h2>\(HTMLText.escape(note.title))</h2>\n<pre class=\"note\">"
      h += note.lines.map(HTMLText.escape).joined(separator: "\n") + "</pre>\n"
    }
    // Reports by kind, then by site (kind at guilty function).
    var byKind: [(ReportKind, Int)] = []
    for run in doc.runs {
      for s in run.sites {
        if let i = byKind.firstIndex(where: { $0.0 == s.kind }) {
          byKind[i].1 += s.count
        } else {
          byKind.append((s.kind, s.count))
        }
      }
    }
    let sites = Self.sites(doc)
    if !byKind.isEmpty {
      h +=
        "<h2>Reports by kind</h2>\n<table class=\"kinds\">\n<thead><tr><th>kind</th><th>reports</th><th>what it means</th></tr></thead>\n<tbody>\n"
      for (kind, n) in byKind.sorted(by: { ($1.1, $0.0.rawValue) < ($0.1, $1.0.rawValue) }) {
        h += "<tr><td><span class=\"kind k-\(kind.rawValue)\">\(kind.rawValue)</span></td><td class=\"num\">\(n)</td>"
        h += "<td>\(HTMLText.escape(kind.title))</td></tr>\n"
      }
      h += "</tbody>\n</table>\n"
      h +=
        "<h2>Reports by site</h2>\n<table class=\"sites\">\n<thead><tr><th>kind</th><th>guilty function</th><th>reports</th><th>runs</th><th>first</th></tr></thead>\n<tbody>\n"
      for s in sites {
        h +=
          "<tr data-site=\"\(HTMLText.escape(s.site.kind.rawValue + " " + s.site.guilty))\"><td>\(s.site.kind.rawValue)</td>"
        h += "<td><code>\(HTMLText.escape(s.site.guilty))</code></td><td class=\"num\">\(s.site.count)</td>"
        h += "<td class=\"num\">\(s.runs.count)</td><td>"
        if let f = s.site.firstSubject {
          h += "<a href=\"#r\(s.run)-s\(f)\">\(HTMLText.escape(doc.runs[s.run].name))</a>"
        } else {
          h += HTMLText.escape(doc.runs[s.run].name)
        }
        h += "</td></tr>\n"
      }
      h += "</tbody>\n</table>\n"
    } else {
      h += "<p>No reports.</p>\n"
    }
    if !doc.runs.isEmpty {
      let hasStatus = doc.runs.contains { $0.status != nil }
      let hasSchedule = doc.runs.contains { $0.schedule != nil }
      h += "<h2>Runs</h2>\n<table class=\"runs\">\n<thead><tr>"
      h += hasStatus ? "<th>status</th>" : ""
      h += "<th>file</th>" + (hasSchedule ? "<th>finding</th><th>schedule</th>" : "")
      h += "<th>reports</th><th>messages</th></tr></thead>\n<tbody>\n"
      for (r, run) in doc.runs.enumerated() {
        h += "<tr>"
        switch run.status {
        case .passed: h += "<td class=\"status pass\">PASS</td>"
        case .failed: h += "<td class=\"status fail\">FAIL</td>"
        case .exit(let n): h += "<td class=\"status\(n == 0 ? " pass" : " fail")\">exit \(n)</td>"
        case nil: h += hasStatus ? "<td></td>" : ""
        }
        let name = HTMLText.escape(run.name)
        h += "<td>" + (run.reportCount > 0 ? "<a href=\"#r\(r)\">\(name)</a>" : name) + "</td>"
        if hasSchedule {
          h += "<td>\(HTMLText.escape(run.finding ?? ""))</td>"
          h += "<td>" + (run.schedule.map(scheduleCode) ?? "") + "</td>"
        }
        h += "<td class=\"num\">\(run.reportCount)</td><td>"
        if !run.messages.isEmpty {
          h += "<ul class=\"messages\">" + run.messages.map { "<li>\(HTMLText.escape($0))</li>" }.joined() + "</ul>"
        }
        h += "</td></tr>\n"
      }
      h += "</tbody>\n</table>\n"
    }
    return h + "</section>\n"
  }

  /// A schedule as `run --schedule` takes it; the empty one is the default order.
  private func scheduleCode(_ schedule: String) -> String {
    schedule.isEmpty
      ? "<code class=\"schedule\">''</code> (the default order)"
      : "<code class=\"schedule\">\(HTMLText.escape(schedule))</code>"
  }

  /// An `explore` finding's key and schedule, and the command that replays it.
  private func schedule(_ run: HTMLRun) -> String {
    guard let schedule = run.schedule else { return "" }
    var h = "<p class=\"schedule\">"
    if let f = run.finding { h += "<span class=\"finding\">\(HTMLText.escape(f))</span> " }
    h += "under schedule \(scheduleCode(schedule)); replay: <code>"
    // As `explore` prints it.
    h += HTMLText.escape("iommusan run --schedule '\(schedule)' \(run.name)") + "</code></p>\n"
    return h
  }

  /// The report sites of all runs, each with the run whose timeline its
  /// overview row links to (the first run that drew one) and the runs it is in.
  static func sites(_ doc: HTMLDocument) -> [(site: HTMLRun.Site, run: Int, runs: Set<Int>)] {
    var sites: [(site: HTMLRun.Site, run: Int, runs: Set<Int>)] = []
    var siteIndex: [String: Int] = [:]
    for (r, run) in doc.runs.enumerated() {
      for s in run.sites {
        let key = s.kind.rawValue + " " + s.guilty
        if let i = siteIndex[key] {
          sites[i].site.count += s.count
          sites[i].runs.insert(r)
          if sites[i].site.firstSubject == nil, s.firstSubject != nil {
            (sites[i].site.firstSubject, sites[i].run) = (s.firstSubject, r)
          }
        } else {
          siteIndex[key] = sites.count
          sites.append((s, r, [r]))
        }
      }
    }
    return sites
  }

  // MARK: - One subject

  private func section(_ s: HTMLRun.SubjectReports, id: String, tasks: [String], release: String) -> String {
    let first = s.reports[0]
    var title: String
    switch s.subject {
    case .page(let pfn) where s.pageCount > 1:
      let last = pfn &+ UInt64(s.pageCount - 1)
      title = "pages pfn \(pfn.hexAlt)-\(last.hexAlt) (\(s.pageCount) pages, drawn for the first)"
    case .page(let pfn):
      title = "page pfn \(pfn.hexAlt)"
      if let phys = first.phys { title += " (phys \(phys))" }
    case .iova(let device, let iova):
      title = "iova \(iova.hexAlt)" + (device.map { " of \($0)" } ?? "")
    }
    var h = "<section class=\"subject\" id=\"\(id)\">\n<h3>\(HTMLText.escape(title)) "
    var kinds: [ReportKind] = []
    for r in s.reports where !kinds.contains(r.kind) { kinds.append(r.kind) }
    h += kinds.map { "<span class=\"kind k-\($0.rawValue)\">\($0.rawValue)</span>" }.joined(separator: " ")
    h += "</h3>\n"
    let t = HTMLTimeline(reports: s.reports, tasks: tasks)
    h += svg(t, id: id, title: title)
    h += "<div class=\"story\">\n<div class=\"time\">\n"
    h += "<p class=\"selected\" aria-live=\"polite\"></p>\n"
    if t.earlierNotDrawn > 0 { h += "<p class=\"note\">\(plural(t.earlierNotDrawn, "earlier event")) not drawn.</p>\n" }
    h += "<ol class=\"steps\">\n"
    for (i, step) in t.steps.enumerated() {
      h += "<li data-step=\"\(i)\" class=\"st-\(step.event)\"><span class=\"n\">\(i + 1)</span> "
      if let l = step.location { h += "<code>\(HTMLText.escape(l))</code> " }
      h += "<b>\(HTMLText.escape(step.event))</b> \(HTMLText.escape(step.text))"
      if let q = step.statement { h += "<br><code class=\"stmt\">\(HTMLText.escape(q))</code>" }
      h += "</li>\n"
    }
    h += "</ol>\n</div>\n<div class=\"ktexts\">\n"
    for (i, r) in s.reports.enumerated() { h += kernelText(r, open: i == 0, release: release) }
    if s.notKept > 0 { h += "<p class=\"note\">\(plural(s.notKept, "more report")) about it not shown.</p>\n" }
    if s.folded > 0 {
      h += "<p class=\"note\">\(plural(s.folded, "more report")) of the same kind from the same statement "
      h += "about the next pages of the range.</p>\n"
    }
    return h + "</div>\n</div>\n</section>\n"
  }

  private func kernelText(_ r: Report, open: Bool, release: String) -> String {
    var h = "<details class=\"report\"\(open ? " open" : "")><summary><span class=\"kind k-\(r.kind.rawValue)\">"
    h += "\(r.kind.rawValue)</span> \(HTMLText.escape(r.headline))"
    if let s = r.statement { h += " <code>\(HTMLText.escape("\(s.file):\(s.line)"))</code>" }
    let text = KernelTextRenderer(release: release).render(r)
    h += "</summary>\n<pre class=\"ktext\">\(HTMLText.escape(text))</pre>\n</details>\n"
    return h
  }

  // MARK: - SVG

  static let laneLabelWidth = 176
  static let stepWidth = 104
  static let laneHeight = 66
  static let top = 26

  private func svg(_ t: HTMLTimeline, id: String, title: String) -> String {
    // Room on the right for a last label wider than its step (a report kind).
    let width = Self.laneLabelWidth + max(1, t.steps.count) * Self.stepWidth + 48
    let height = Self.top + max(1, t.lanes.count) * Self.laneHeight + 6
    var h = "<div class=\"scroll\"><svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" "
    h += "width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" "
    h += "aria-labelledby=\"\(id)-t\">\n<title id=\"\(id)-t\">\(HTMLText.escape("Timeline of \(title)"))</title>\n"
    for (i, lane) in t.lanes.enumerated() {
      let y = Self.top + i * Self.laneHeight
      h += "<g class=\"lane lane-\(lane.kind.name)\" data-lane=\"\(lane.kind.name):\(HTMLText.escape(lane.label))\">"
      h += "<rect class=\"lane-bg\" x=\"0\" y=\"\(y)\" width=\"\(width)\" height=\"\(Self.laneHeight)\"/>"
      h +=
        "<line class=\"lane-line\" x1=\"\(Self.laneLabelWidth)\" y1=\"\(y + 18)\" x2=\"\(width - 6)\" y2=\"\(y + 18)\"/>"
      h += "<text class=\"lane-kind\" x=\"8\" y=\"\(y + 16)\">\(lane.kind.name)</text>"
      h += "<text class=\"lane-label\" x=\"8\" y=\"\(y + 34)\">\(HTMLText.escape(Self.short(lane.label, 24)))"
      h += "<title>\(HTMLText.escape(lane.label))</title></text></g>\n"
    }
    for r in t.reaches {
      let x0 = Self.laneLabelWidth + r.from * Self.stepWidth + Self.stepWidth / 2
      let x1 = r.to.map { Self.laneLabelWidth + $0 * Self.stepWidth + Self.stepWidth / 2 } ?? (width - 6)
      let y = Self.top + r.lane * Self.laneHeight + 12
      let iova = r.iova.map { " at iova \($0.hexAlt)" } ?? ""
      let (what, label) =
        r.isCache
        ? r.invalidated
          ? ("held the translation\(iova) from its fill until it was invalidated", "cached")
          : ("held the translation\(iova) from its fill to its last use (no invalidation recorded)", "cached")
        : r.to == nil
          ? ("can reach the page\(iova), still mapped at the end", "mapped")
          : ("can reach the page\(iova) until the unmap", "mapped until unmap")
      h += "<g class=\"reach\(r.isCache ? " cached" : "")\" data-lane-index=\"\(r.lane)\">"
      h += "<title>\(HTMLText.escape(t.lanes[r.lane].label + " " + what))</title>"
      h += "<rect x=\"\(x0)\" y=\"\(y)\" width=\"\(max(2, x1 - x0))\" height=\"12\" rx=\"6\"/>"
      // Right of the mark's own label (`fill`) on a cache lane.
      h += "<text class=\"md reach-label\" x=\"\(x0 + (r.isCache ? 24 : 10))\" y=\"\(y + 24)\">\(label)</text></g>\n"
    }
    for (i, step) in t.steps.enumerated() {
      let x = Self.laneLabelWidth + i * Self.stepWidth + Self.stepWidth / 2
      h += "<text class=\"step-n\" x=\"\(x)\" y=\"16\">\(i + 1)</text>\n"
      if step.isReport {
        h += "<line class=\"report-line\" x1=\"\(x)\" y1=\"\(Self.top)\" x2=\"\(x)\" y2=\"\(height - 4)\"/>\n"
      }
    }
    for (i, step) in t.steps.enumerated() {
      let x = Self.laneLabelWidth + i * Self.stepWidth + Self.stepWidth / 2
      var tip = (step.location.map { $0 + ": " } ?? "") + step.event + ": " + step.text
      if let q = step.statement { tip += "\n" + q }
      h += "<g class=\"ev ev-\(step.event)\" data-step=\"\(i)\" data-event=\"\(step.event)\" tabindex=\"0\">"
      h += "<title>\(HTMLText.escape(tip))</title>"
      let ys = step.marks.map { Self.top + $0.lane * Self.laneHeight + 18 }
      if let lo = ys.min(), let hi = ys.max(), lo != hi {
        h += "<line class=\"link\" x1=\"\(x)\" y1=\"\(lo)\" x2=\"\(x)\" y2=\"\(hi)\"/>"
      }
      for (m, y) in zip(step.marks, ys) {
        h += "<g class=\"mark m-\(m.event)\" data-lane-index=\"\(m.lane)\">" + shape(m.event, x: x, y: y)
        for (k, line) in m.lines.enumerated() where !line.isEmpty {
          h += "<text class=\"\(k == 0 ? "ml" : "md")\" x=\"\(x)\" y=\"\(y + 20 + k * 12)\">"
          h += "\(HTMLText.escape(Self.short(line, m.event == "report" ? 24 : 16)))</text>"
        }
        h += "</g>"
      }
      h += "</g>\n"
    }
    return h + "</svg></div>\n"
  }

  private func shape(_ event: String, x: Int, y: Int) -> String {
    switch event {
    case "report":
      "<polygon class=\"shape\" points=\"\(x),\(y - 9) \(x + 9),\(y) \(x),\(y + 9) \(x - 9),\(y)\"/>"
    case "alloc", "realloc", "free":
      "<rect class=\"shape\" x=\"\(x - 7)\" y=\"\(y - 7)\" width=\"14\" height=\"14\" rx=\"2\"/>"
    case "call": "<circle class=\"shape\" cx=\"\(x)\" cy=\"\(y)\" r=\"3\"/>"
    case "inval":
      "<path class=\"shape\" d=\"M\(x - 7),\(y - 7) L\(x + 7),\(y + 7) M\(x + 7),\(y - 7) L\(x - 7),\(y + 7)\"/>"
    case "fill", "hit":
      "<polygon class=\"shape\" points=\"\(x),\(y - 7) \(x + 7),\(y + 6) \(x - 7),\(y + 6)\"/>"
    default: "<circle class=\"shape\" cx=\"\(x)\" cy=\"\(y)\" r=\"7\"/>"
    }
  }

  static func short(_ s: String, _ n: Int) -> String { s.count <= n ? s : String(s.prefix(n - 1)) + "…" }

  private func plural(_ n: Int, _ word: String) -> String { n == 1 ? "1 \(word)" : "\(n) \(word)s" }
}

/// Escaping for HTML text and attribute values.
package enum HTMLText {
  /// `&`, `<`, `>`, `"` and `'` as character references; control
  /// characters other than tab and newline (which HTML does not allow) as
  /// U+FFFD.
  package static func escape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for u in s.unicodeScalars {
      switch u {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      case "\t", "\n": out.unicodeScalars.append(u)
      default:
        if u.value < 0x20 || (u.value >= 0x7f && u.value < 0xa0) || (u.value >= 0xfdd0 && u.value <= 0xfdef) {
          out += "\u{FFFD}"
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    return out
  }
}
