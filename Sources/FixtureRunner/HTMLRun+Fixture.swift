import Reports

extension HTMLRun {
  /// A fixture's run for the HTML report: its reports, its errors and failed
  /// expectations, and its status (`check`: pass or fail; `run`: the exit status).
  /// With the run's `InvalidationLog`, each report's history gets the
  /// invalidations that covered its page.
  package init(_ result: FixtureResult, check: Bool) {
    self.init(name: result.file, status: check ? (result.passed ? .passed : .failed) : .exit(result.exitStatus))
    messages = result.errors.map(\.description) + result.failures.map(\.description)
    release = KernelTextRenderer.release(result.kernel)
    for var r in result.reports {
      if let log = result.invalidationLog, let pfn = r.pfn { r.history = log.annotate(r.history, pfn: pfn.rawValue) }
      add(r)
    }
  }
}
