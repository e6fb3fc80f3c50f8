import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Sanitizer

/// Options of `iommusan run` and `check`.
package struct RunOptions: Sendable {
  /// `--cmdline "..."`, applied over the fixture's own `cmdline`.
  package var cmdline: String?
  /// `--stats`: collect the machine's counters.
  package var stats: Bool
  /// The largest `memory` a fixture may ask for (`--max-ram`).
  package var maximumRAM: UInt64
  /// The most memory the emulated machine may keep, in bytes (`--max-resident`,
  /// `ResidentBudget`):
  /// past it the fixture stops with an error that names the limit.
  package var maximumResident: UInt64
  /// An observer attached beside the sanitizer (`Machine.addObserver`): a
  /// test's recorder of the machine's events. No command sets it.
  package var observer: (any MachineObserver & PageAllocatorObserver)?
  package init(
    cmdline: String? = nil, stats: Bool = false, maximumRAM: UInt64 = MemoryConfiguration.defaultMaximumRAM,
    maximumResident: UInt64 = MemoryConfiguration.defaultMaximumResident
  ) {
    self.cmdline = cmdline
    self.stats = stats
    self.maximumRAM = maximumRAM
    self.maximumResident = maximumResident
  }
}

/// Runs fixtures: parse, build the machine, execute every statement under
/// the sanitizer, check expectations.
package enum FixtureRunner {
  package static func run(file: String, source: [UInt8], options: RunOptions = RunOptions()) -> FixtureResult {
    var parsed = FixtureParser.parse(source: source, file: file)
    var diagnostics = parsed.errors
    if let extra = options.cmdline {
      diagnostics += parsed.cmdline.apply(parameters: extra).filter(\.isError)
    }
    guard diagnostics.isEmpty else {
      return FixtureResult(
        file: file, diagnostics: diagnostics, outcomes: [], failures: [], stats: [], summary: RunSummary())
    }
    parsed.diagnostics = []
    let execution: Execution
    do {
      execution = try Execution(parsed: parsed, options: options)
    } catch {
      return FixtureResult(
        file: file, diagnostics: [error.diagnostic], outcomes: [], failures: [], stats: [], summary: RunSummary())
    }
    let result = execution.run()
    // Frees the machine and its emulated memory (they form reference cycles).
    execution.machine.tearDown()
    return result
  }

  /// Runs a fixture file from disk.
  package static func run(path: String, options: RunOptions = RunOptions()) -> FixtureResult {
    guard let bytes = readFile(path) else {
      return FixtureResult(
        file: path,
        diagnostics: [Diagnostic(file: path, line: 1, column: 1, message: "cannot read file (ENOENT or EACCES)")],
        outcomes: [], failures: [], stats: [], summary: RunSummary())
    }
    return run(file: path, source: bytes, options: options)
  }
}

/// A runtime error that stops a fixture.
struct FatalError: Error {
  var diagnostic: Diagnostic
}

/// Converts the parser's machine description to the model's.
