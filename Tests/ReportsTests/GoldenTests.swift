import Foundation
import KernelTypes
import MemoryModel
import Reports
import Testing

/// Golden renderings of `GoldenReports`, one report per kind, in
/// Tests/ReportsTests/GoldenRenderedReports/: <kind>.txt (kernel text) and
/// <kind>.jsonl (JSON Lines). `RECORD_GOLDEN=1 swift test` re-records them.
@Suite struct GoldenTests {
  static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("GoldenRenderedReports")

  func check(_ actual: String, against name: String) {
    expectGolden(actual, file: Self.goldenDirectory.appendingPathComponent(name).path)
  }

  @Test(arguments: ReportKind.allCases)
  func kernelText(kind: ReportKind) {
    let report = GoldenReports.report(kind)
    #expect(report.kind == kind)
    check(KernelTextRenderer().render(report), against: "\(kind.rawValue).txt")
  }

  @Test(arguments: ReportKind.allCases)
  func jsonLines(kind: ReportKind) {
    let report = GoldenReports.report(kind)
    check(JSONLinesRenderer().render(report), against: "\(kind.rawValue).jsonl")
  }

  @Test func renderingIsDeterministic() {
    for kind in ReportKind.allCases {
      let report = GoldenReports.report(kind)
      #expect(KernelTextRenderer().render(report) == KernelTextRenderer().render(report))
      #expect(JSONLinesRenderer().render(report) == JSONLinesRenderer().render(report))
    }
  }
}
