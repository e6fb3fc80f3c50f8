import Foundation
import KernelTypes
import MemoryModel
import Reports
import Testing

/// Golden files: Tests/ReportsTests/Golden/<kind>.txt (kernel text) and
/// <kind>.jsonl (JSON Lines). `RECORD_GOLDEN=1 swift test` re-records them.
@Suite struct GoldenTests {
  static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("Golden")
  static let recording = ProcessInfo.processInfo.environment["RECORD_GOLDEN"] == "1"

  func check(_ actual: String, against name: String) throws {
    let url = Self.goldenDirectory.appendingPathComponent(name)
    if Self.recording {
      try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
      try actual.write(to: url, atomically: true, encoding: .utf8)
      return
    }
    guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
      Issue.record("missing golden file \(name); run RECORD_GOLDEN=1 swift test")
      return
    }
    if actual != expected {
      let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
      let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
      let n = (0..<min(a.count, e.count)).first { a[$0] != e[$0] } ?? min(a.count, e.count)
      let got = n < a.count ? String(a[n]) : "<end>"
      let want = n < e.count ? String(e[n]) : "<end>"
      Issue.record("\(name) differs at line \(n + 1):\n  got:  \(got)\n  want: \(want)")
    }
  }

  @Test(arguments: ReportKind.allCases)
  func kernelText(kind: ReportKind) throws {
    let report = GoldenReports.report(kind)
    #expect(report.kind == kind)
    try check(KernelTextRenderer().render(report), against: "\(kind.rawValue).txt")
  }

  @Test(arguments: ReportKind.allCases)
  func jsonLines(kind: ReportKind) throws {
    let report = GoldenReports.report(kind)
    try check(JSONLinesRenderer().render(report), against: "\(kind.rawValue).jsonl")
  }

  @Test func renderingIsDeterministic() {
    for kind in ReportKind.allCases {
      let report = GoldenReports.report(kind)
      #expect(KernelTextRenderer().render(report) == KernelTextRenderer().render(report))
      #expect(JSONLinesRenderer().render(report) == JSONLinesRenderer().render(report))
    }
  }
}
