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
  package init(format: OutputFormat) { self.format = format }

  /// Standard output: reports and events in order, then stats and the summary.
  package func stdout(_ result: FixtureResult) -> String {
    var out = ""
    let kernel = KernelTextRenderer()
    let json = JSONLinesRenderer()
    for o in result.outcomes {
      for item in o.outputs {
        switch (item, format) {
        case (.report(let r), .kernel): out += kernel.render(r)
        case (.report(let r), .json): out += json.render(r)
        case (.event(let e), .kernel): out += e.text + "\n"
        case (.event(let e), .json): out += eventJSON(e, file: result.file, line: o.line) + "\n"
        }
      }
    }
    switch format {
    case .kernel:
      for s in result.stats { out += "iommusan: stats: " + s + "\n" }
      out += "iommusan: \(result.file): " + summaryText(result.summary) + "\n"
    case .json:
      if !result.stats.isEmpty {
        out += JSONLinesRenderer.record(["stats": .array(result.stats.map { .string($0) })]) + "\n"
      }
      out += summaryJSON(result) + "\n"
    }
    return out
  }

  /// Standard error: diagnostics (the parser's warnings among them) and failed
  /// expectations, in the order of their lines, as a compiler prints them.
  package func stderr(_ result: FixtureResult) -> String {
    var lines = result.diagnostics.map { (line: $0.line, column: $0.column, text: $0.description) }
    for f in result.failures {
      lines.append((f.line, f.column, "\(f.file):\(f.line):\(f.column): warning: \(f.message)"))
    }
    let sorted = lines.enumerated().sorted { a, b in
      (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
    }
    return sorted.map { $0.element.text + "\n" }.joined()
  }

  func summaryText(_ s: RunSummary) -> String {
    let kinds = s.byKind.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }
    return
      "\(s.statements) statements, \(s.reports) reports\(kinds.isEmpty ? "" : " (" + kinds.joined(separator: ", ") + ")"), \(s.faults) faults, \(s.errors) errors"
  }

  func summaryJSON(_ r: FixtureResult) -> String {
    let s = r.summary
    let kinds = JSONValue.object(s.byKind.sorted { $0.key < $1.key }.map { JSONMember($0.key, .int(Int64($0.value))) })
    return JSONLinesRenderer.record([
      "summary": .object([
        JSONMember("file", .string(r.file)), JSONMember("statements", .int(Int64(s.statements))),
        JSONMember("reports", .int(Int64(s.reports))), JSONMember("by_kind", kinds),
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
