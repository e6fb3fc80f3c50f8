import FixtureLanguage
import FixtureRunner
import KernelTypes

extension ConformanceClass {
  /// The example as a fixture that `iommusan run` (and `check`) reproduces:
  /// the sequence, then a free of the block when it is still allocated, with
  /// an `expect` line for every report and error the run gives.
  package var exampleFixture: String {
    var ops = example.ops
    let allocated = ops.reduce(true) { $1.allocatedAfter($0) }
    if allocated { ops.append(.free) }
    let text = Conformance.fixtureText(format: example.format, accounting: example.accounting, ops: ops)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    let result = FixtureRunner.run(file: "example.fixture", source: Array(text.utf8))
    var expectations: [Int: [String]] = [:]
    for outcome in result.outcomes {
      var more: [String] = []
      if let error = outcome.error { more.append("expect error \(error.name)") }
      var kinds: [String: Int] = [:]
      var order: [String] = []
      for r in outcome.reports {
        if kinds[r.kind.rawValue] == nil { order.append(r.kind.rawValue) }
        kinds[r.kind.rawValue, default: 0] += 1
      }
      more += order.map { "expect report \($0) count=\(kinds[$0]!)" }
      if more.isEmpty && outcome.line > 5 { more.append("expect no-report") }
      expectations[outcome.line, default: []] += more
    }
    var out = [
      "# iommusan conformance: \(key.accountingName) accounting, after \(key.trigger.rawValue): "
        + "\(key.direction.rawValue)\(key.granuleTails ? " (granule tails)" : "") on \(example.format.name), "
        + "emu.kernel=\(example.accounting.kernel)"
    ]
    if allocated { out.append("# The last free shows what the counts say.") }
    for (i, line) in lines.enumerated() {
      out.append(line)
      out += expectations[i + 1] ?? []
    }
    return out.joined(separator: "\n") + "\n"
  }
}
