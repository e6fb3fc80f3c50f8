import Foundation
import MemoryModel
import Replay
import Reports
import Testing

/// Replays every `Fixtures/traces/NAME.trace` against `NAME.expect`
/// (directives: Fixtures/traces/README.md).
@Suite struct TraceFixtureTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/traces")

  static var traceNames: [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".trace") }.map { String($0.dropLast(6)) }.sorted()
  }

  struct Expectation {
    var pageSize: UInt64 = 4096
    var exit: Int32?
    var format: String?
    var reports: [String: Int] = [:]
    var summary: [(key: String, value: Int64)] = []
    var details: [(kind: String, key: String, value: String)] = []
    var fields: [(kind: String, name: String, value: String)] = []
  }

  static func parseExpectation(_ text: String) throws -> Expectation {
    var e = Expectation()
    for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("#") { continue }
      let words = line.split(separator: " ").map(String.init)
      switch words[0] {
      case "page-size":
        e.pageSize = ["4K": 4096, "16K": 16384, "64K": 65536][words[1]] ?? 0
      case "exit": e.exit = Int32(words[1])
      case "format": e.format = words[1]
      case "report": e.reports[words[1]] = Int(words[2])
      case "summary": e.summary.append((words[1], Int64(words[2]) ?? -1))
      case "detail", "field":
        let parts = line.dropFirst(words[0].count + 1).components(separatedBy: " = ")
        let head = parts[0].split(separator: " ", maxSplits: 1).map(String.init)
        if words[0] == "detail" {
          e.details.append((head[0], head[1], parts[1]))
        } else {
          e.fields.append((head[0], head[1], parts[1]))
        }
      default:
        throw ExpectationError(message: "unknown directive '\(words[0])'")
      }
    }
    return e
  }

  struct ExpectationError: Error { var message: String }

  static func field(_ r: Report, _ name: String) -> String? {
    switch name {
    case "pfn": r.pfn?.description
    case "iova": r.iova?.description
    case "phys": r.phys?.description
    case "count": r.count.map { String($0) }
    case "device": r.device
    case "domain": r.domain
    case "line": r.statement.map { String($0.line) }
    case "comm": r.task.comm
    default: nil
    }
  }

  static func summaryValue(_ json: JSONValue, _ key: String) -> Int64? {
    var v: JSONValue? = json["summary"]
    for part in key.split(separator: ".") { v = v?[String(part)] }
    switch v {
    case .int(let i): return i
    case .uint(let u): return Int64(exactly: u)
    default: return nil
    }
  }

  @Test func thereAreTraceFixtures() {
    let names = Self.traceNames
    #expect(names.count >= 8)
    for required in [
      "ath12k-fault-after-unmap", "freed-while-mapped-kmem", "trace-cmd-freed-while-mapped", "old-format-decimal-pfn",
      "dma-6.18-freed-while-dma-mapped", "dma-api-unmap-checks", "trace-cmd-dma-6.18", "clean-real-capture-6.18",
    ] {
      #expect(names.contains(required))
    }
    #expect(names.contains { $0.hasPrefix("clean-") })
  }

  @Test(arguments: TraceFixtureTests.traceNames)
  func replayMatchesExpectation(name: String) throws {
    let tracePath = Self.directory.appendingPathComponent(name + ".trace").path
    let expectText = try String(
      contentsOfFile: Self.directory.appendingPathComponent(name + ".expect").path, encoding: .utf8)
    let e = try Self.parseExpectation(expectText)
    var reports: [Report] = []
    let options = ReplayOptions(pageSize: e.pageSize, traceName: "Fixtures/traces/\(name).trace")
    let summary = try TraceReplay.replay(path: tracePath, options: options) { reports.append($0) }

    if let exit = e.exit { #expect(summary.exitStatus == exit, "exit status") }
    if let f = e.format { #expect(summary.format == f, "format") }
    var byKind: [String: Int] = [:]
    for r in reports { byKind[r.kind.rawValue, default: 0] += 1 }
    #expect(byKind == e.reports, "reports by kind")
    #expect(summary.reports == reports.count)
    let json = summary.json
    for (key, value) in e.summary {
      #expect(Self.summaryValue(json, key) == value, "summary \(key)")
    }
    for d in e.details {
      let r = reports.first { $0.kind.rawValue == d.kind }
      let got = r?.details.first { $0.key == d.key }.map { KernelText.detailValue($0.value) }
      #expect(got == d.value, "detail \(d.kind) \(d.key)")
    }
    for f in e.fields {
      let r = reports.first { $0.kind.rawValue == f.kind }
      #expect(r.flatMap { Self.field($0, f.name) } == f.value, "field \(f.kind) \(f.name)")
    }
    // Every report renders in both formats; the JSON is one valid line with an integer pfn.
    for r in reports {
      let text = KernelTextRenderer().render(r)
      #expect(text.contains("iommusan: \(r.kind.rawValue) ("))
      #expect(text.contains("RIP: 0010:"))
      let line = JSONLinesRenderer().line(r)
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      if r.pfn != nil { #expect(object["pfn"] is Int) }
      #expect(object["file"] as? String == options.traceName)
      #expect(object["statement"] as? String != nil)
      #expect(r.callTrace.contains { $0.isGuilty })
    }
    // The summary record is a JSON object without a `kind` key.
    let summaryObject = try #require(
      try JSONSerialization.jsonObject(with: Data(json.serialized.utf8)) as? [String: Any])
    #expect(summaryObject["kind"] == nil)
    #expect((summaryObject["summary"] as? [String: Any])?["exit_status"] as? Int == Int(summary.exitStatus))
  }
}
