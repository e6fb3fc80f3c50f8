import FixtureLanguage
import KernelTypes
import Reports

/// One run of a fixture whose statements a scheduler above the runner
/// starts one at a time, from threads of its choosing, one thread at a time
/// (`iommusan explore`). The session only interprets statements: which
/// statement runs when is the scheduler's business.
package final class FixtureSession: @unchecked Sendable {
  private let execution: Execution
  /// The fixture, with the `--cmdline` parameters applied.
  package let parsed: ParsedFixture

  private init(execution: Execution, parsed: ParsedFixture) {
    self.execution = execution
    self.parsed = parsed
  }

  /// Builds the machine of a parsed fixture; `steps` is told at each
  /// `KernelStep`. A fixture that cannot run gives its result instead.
  package static func start(
    parsed: ParsedFixture, options: RunOptions, steps: (any KernelStepObserver)?
  ) -> Result<FixtureSession, FixtureFailure> {
    var parsed = parsed
    var diagnostics = parsed.diagnostics
    if let extra = options.cmdline { diagnostics += parsed.cmdline.apply(parameters: extra) }
    parsed.diagnostics = diagnostics
    guard !diagnostics.contains(where: \.isError) else {
      return .failure(
        FixtureFailure(
          result: FixtureResult(
            file: parsed.file, diagnostics: diagnostics, outcomes: [], failures: [], stats: [],
            summary: RunSummary())))
    }
    do {
      let execution = try Execution(parsed: parsed, options: options)
      execution.machine.memory.stepObserver = steps
      return .success(FixtureSession(execution: execution, parsed: parsed))
    } catch {
      return .failure(
        FixtureFailure(
          result: FixtureResult(
            file: parsed.file, diagnostics: diagnostics + [error.diagnostic], outcomes: [], failures: [], stats: [],
            summary: RunSummary())))
    }
  }

  /// Runs statement `i` and checks its `expect` lines. False when a fatal
  /// error (a limit, a machine error) stopped the fixture.
  package func runStatement(_ i: Int) -> Bool { execution.runStatement(i) }

  /// Runs statement `i` in the iteration `loops` of its `repeat` blocks
  /// (`ExecutionCursor`), as `run` does. False when a fatal error stopped the fixture.
  package func runStatement(_ i: Int, loops: LoopEnvironment) -> Bool { execution.runStatement(i, loops: loops) }

  /// Whether `name` is bound now (a task waits for a name another task binds).
  package func isBound(_ name: String) -> Bool { execution.bindings[name] != nil }

  /// Keeps what statement `i` produced so far: another task runs before it resumes.
  package func stash(statement i: Int) { execution.stash(statement: i) }

  /// Whether a report matches an expectation's kind and filters (names as bound now).
  package func matches(_ report: Report, _ want: ExpectedReport) -> Bool { execution.matches(report, want) }

  /// The result of the statements run, in the order they finished; frees the machine.
  package func finish() -> FixtureResult {
    var result = execution.result()
    result.diagnostics = parsed.diagnostics.filter { !$0.isError } + result.diagnostics
    execution.machine.tearDown()
    return result
  }
}

/// A fixture that could not start: its result holds the diagnostics.
package struct FixtureFailure: Error {
  package var result: FixtureResult
}

extension FixtureSession {
  /// The reports of the statements finished so far.
  package var currentReports: [Report] { execution.outcomes.flatMap(\.reports) }

  /// The driver symbols made so far (`RunOptions.driverSymbols` of the next run).
  package var driverSymbols: [String: String] { execution.driverSymbols }
}

extension FixtureSession {
  /// What the last statement run did.
  package var lastOutcome: StatementOutcome? { execution.outcomes.last }

  /// The first page frame of the page block bound to `name`, if it is one.
  package func pfn(of name: String) -> UInt64? {
    guard case .pages(let block)? = execution.bindings[name] else { return nil }
    return block.head.rawValue
  }

  /// For each CPU page of `pfns`: the sanitizer's map count and the ground
  /// truth, the number of leaves of every live domain's page table that
  /// overlap the page; and the leaves, as (IOVA, size, leaf shift) triples
  /// (`iommusan conformance`).
  package func countsAndTruth(pfns: Range<UInt64>) -> (pages: [(count: Int64, truth: Int64)], leaves: [UInt64]) {
    let shift = UInt64(execution.machine.memory.pageShift)
    var truth = [Int64](repeating: 0, count: pfns.count)
    var leaves: [UInt64] = []
    for domain in execution.machine.domains where !domain.isFreed {
      for run in domain.mappedLeaves() {
        leaves += [run.iova.rawValue, run.size, UInt64(run.leafShift)]
        let leaf: UInt64 = 1 << UInt64(run.leafShift)
        var phys = run.phys.rawValue
        let end = phys &+ run.size
        while phys < end {
          let first = phys >> shift
          let last = (phys &+ leaf &- 1) >> shift
          let lo = max(first, pfns.lowerBound)
          let hi = min(last &+ 1, pfns.upperBound)
          if lo < hi { for p in lo..<hi { truth[Int(p - pfns.lowerBound)] += 1 } }
          phys &+= leaf
        }
      }
    }
    let pages = pfns.enumerated().map { (execution.sanitizer.mapCount(PFN($1)), truth[$0]) }
    return (pages, leaves)
  }
}
