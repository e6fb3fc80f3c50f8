import Reports

extension HTMLRun {
  /// A fixture's run for the HTML report: its reports, its errors and failed
  /// expectations, and its status (`check`: pass or fail; `run`: the exit status).
  package init(_ result: FixtureResult, check: Bool) {
    self.init(name: result.file, status: check ? (result.passed ? .passed : .failed) : .exit(result.exitStatus))
    messages = result.errors.map(\.description) + result.failures.map(\.description)
    for r in result.reports { add(r) }
  }
}
