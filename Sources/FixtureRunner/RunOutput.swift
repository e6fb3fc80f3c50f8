import FixtureLanguage
import Reports
import Sanitizer

/// Output formats of `run` and `check`.
package enum OutputFormat: String, Sendable, CaseIterable {
  case kernel, json
}

/// Turns a fixture result into what `iommusan run` prints.
package struct RunOutputRenderer: Sendable {
  package var format: OutputFormat
  /// Print at most this many reports (`--max-reports`); nil prints all, as
  /// the kernel prints every `WARN_ON()` that fires.
  package var maxReports: Int?
  /// Print a parse error's source line and a caret under its column, as clang does.
  package var sourceLines: Bool
  /// Colour diagnostics as clang does on a terminal (`Diagnostic.rendered(color:)`).
  package var color: Bool
  /// printk timestamps on kernel lines (`KernelLog.timestamps`).
  package var timestamps: Bool
  package init(
    format: OutputFormat, maxReports: Int? = nil, sourceLines: Bool = false, color: Bool = false,
    timestamps: Bool = true
  ) {
    self.format = format
    self.maxReports = maxReports
    self.sourceLines = sourceLines
    self.color = color
    self.timestamps = timestamps
  }

  /// A diagnostic as this renderer prints it, with its line feed.
  func render(_ diagnostic: Diagnostic) -> String {
    var diagnostic = diagnostic
    if !sourceLines { diagnostic.sourceLine = nil }
    return diagnostic.rendered(color: color)
  }

  /// A piece of output for one stream, in the order things happened.
  package enum Piece: Sendable, Hashable {
    case out(String)
    case err(String)
  }

  /// Standard output: reports and events in order, then stats and the summary.
  package func stdout(_ result: FixtureResult) -> String {
    pieces(result, err: false).map { if case .out(let s) = $0 { s } else { "" } }.joined()
  }

  /// Standard error: diagnostics (the parser's warnings among them) and failed
  /// expectations, in the order of their lines, as a compiler prints them.
  package func stderr(_ result: FixtureResult) -> String {
    pieces(result, out: false).map { if case .err(let s) = $0 { s } else { "" } }.joined()
  }

  /// Both streams interleaved in statement order: a statement's reports,
  /// then the messages about it (its failed expectations, its errors),
  /// then the next statement's; the summary last.
  /// `out: false` or `err: false` leaves that stream out (and does not render it).
  package func pieces(_ result: FixtureResult, out wantsOut: Bool = true, err wantsErr: Bool = true) -> [Piece] {
    var messages = result.diagnostics.map { (line: $0.line, column: $0.column, text: render($0)) }
    for f in result.failures {
      let warning = Diagnostic(file: f.file, line: f.line, column: f.column, severity: .warning, message: f.message)
      messages.append((f.line, f.column, render(warning)))
    }
    let sorted = messages.enumerated().sorted { a, b in
      (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
    }.map(\.element)
    var next = 0
    var pieces: [Piece] = []
    func flush(before line: Int) {
      var text = ""
      while next < sorted.count && sorted[next].line < line {
        text += sorted[next].text
        next += 1
      }
      if !text.isEmpty && wantsErr { pieces.append(.err(text)) }
    }
    var kernel = KernelLog(
      renderer: KernelTextRenderer(release: KernelTextRenderer.release(result.kernel)), timestamps: timestamps)
    let json = JSONLinesRenderer()
    var printed = 0
    if format == .kernel && result.debugPageAlloc && !result.outcomes.isEmpty { pieces.append(.out(kernel.boot())) }
    for (k, o) in result.outcomes.enumerated() {
      flush(before: o.line)
      var out = ""
      for item in o.outputs where wantsOut {
        switch (item, format) {
        case (.report, _) where maxReports.map({ printed >= $0 }) ?? false:
          continue
        case (.report(let r), .kernel):
          printed += 1
          out += kernel.report(r)
        case (.report(let r), .json):
          printed += 1
          out += json.render(r)
        case (.event(let e), .kernel): out += kernel.line(e.text, time: e.time, pid: e.task.pid)
        case (.event(let e), .json): out += eventJSON(e, file: result.file, line: o.line) + "\n"
        }
      }
      if !out.isEmpty { pieces.append(.out(out)) }
      flush(before: k + 1 < result.outcomes.count ? result.outcomes[k + 1].line : .max)
    }
    flush(before: .max)
    var out = ""
    for life in result.histories { out += history(life) }
    switch format {
    case .kernel:
      for s in result.stats { out += "iommusan: stats: " + s + "\n" }
      out += "iommusan: \(result.file): " + summaryText(result) + "\n"
    case .json:
      if !result.stats.isEmpty {
        out += JSONLinesRenderer.record(["stats": .array(result.stats.map { .string($0) })]) + "\n"
      }
      out += summaryJSON(result) + "\n"
    }
    pieces.append(.out(out))
    return pieces
  }

  /// A page's life: `iommusan: history of NAME (pfn 0x...)` and one line
  /// per event, or one JSON record `{"kind":"history",...}`.
  func history(_ life: PageLife) -> String {
    switch format {
    case .kernel:
      var out = "iommusan: history of \(life.page) (pfn \(life.pfn)): \(plural(life.events.count, "event"))\n"
      for e in life.events {
        let at = e.file.flatMap { f in e.line.map { "\(f):\($0)" } } ?? "(no statement)"
        out += "iommusan:   \(at): \(e.event): \(e.text)\n"
      }
      return out
    case .json:
      return JSONLinesRenderer.record([
        "kind": "history", "page": .string(life.page), "pfn": .uint(life.pfn.rawValue),
        "events": .array(life.events.map(JSONLinesRenderer.json)),
      ]) + "\n"
    }
  }

  /// Reports not printed because of `maxReports`.
  func notPrinted(_ result: FixtureResult) -> Int {
    maxReports.map { max(0, result.summary.reports - $0) } ?? 0
  }

  func summaryText(_ r: FixtureResult) -> String {
    let s = r.summary
    let kinds = s.byKind.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }
    var reports = plural(s.reports, "report")
    if s.reports > 0 { reports += " at " + plural(s.sites, "site") }
    if !kinds.isEmpty { reports += " (" + kinds.joined(separator: ", ") + ")" }
    let hidden = notPrinted(r)
    if hidden > 0 { reports += ", \(hidden) not printed (--max-reports \(maxReports ?? 0))" }
    return
      "\(plural(s.statements, "statement")), \(reports), \(plural(s.faults, "fault")), \(plural(s.errors, "error"))"
  }

  func plural(_ n: Int, _ noun: String) -> String { Plural.count(n, noun) }

  func summaryJSON(_ r: FixtureResult) -> String {
    let s = r.summary
    let kinds = JSONValue.object(s.byKind.sorted { $0.key < $1.key }.map { JSONMember($0.key, .int(Int64($0.value))) })
    return JSONLinesRenderer.record([
      "summary": .object([
        JSONMember("file", .string(r.file)), JSONMember("statements", .int(Int64(s.statements))),
        JSONMember("reports", .int(Int64(s.reports))), JSONMember("sites", .int(Int64(s.sites))),
        JSONMember("not_printed", .int(Int64(notPrinted(r)))), JSONMember("by_kind", kinds),
        JSONMember("faults", .int(Int64(s.faults))), JSONMember("errors", .int(Int64(s.errors))),
        JSONMember("expectation_failures", .int(Int64(r.failures.count))),
        JSONMember("exit_status", .int(Int64(r.exitStatus))),
      ])
    ])
  }

  func eventJSON(_ e: MachineEventRecord, file: String, line: Int) -> String {
    var m: [JSONMember] = [
      JSONMember("event", .string(e.kind.rawValue)), JSONMember("text", .string(e.text)),
      JSONMember("file", .string(file)), JSONMember("line", .int(Int64(line))),
    ]
    if let d = e.device { m.append(JSONMember("device", .string(d))) }
    if let i = e.iova { m.append(JSONMember("iova", .hex(i.rawValue))) }
    m.append(JSONMember("pid", .int(Int64(e.task.pid))))
    m.append(JSONMember("comm", .string(e.task.comm)))
    return JSONLinesRenderer.record(m)
  }
}
