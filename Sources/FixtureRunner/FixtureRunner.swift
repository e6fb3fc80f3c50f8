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
  /// `--html`: log the run's invalidations (`InvalidationLog`) for the timelines.
  package var logsInvalidations = false
  /// `--history`: pages (binding names or page frame numbers) whose whole
  /// life is printed after the run.
  package var history: [String] = []
  /// The most statements one run executes (loops unrolled); nil: the
  /// parser's `FixtureLimits.maxExecutedStatements` only. The fuzz target
  /// sets it so that a short loop cannot make one input run for hours.
  package var maximumStatements: Int?
  /// Called while a fixture is read (each 1 MiB chunk) and run (every
  /// `RunProgress.statementStride` statements), for a progress line.
  package var progress: (@Sendable (RunProgress) -> Void)?
  /// Driver symbols already made (`SyzkallerTitle.symbol` of a raw name), a
  /// pure function of the fixture: the explorer passes one schedule's to the
  /// next, so that only the first run pays for the skip-pattern regex.
  package var driverSymbols: [String: String] = [:]
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

/// How far a fixture has got: lines read, then statements run.
package struct RunProgress: Sendable, Hashable {
  /// Statements between two calls while a fixture runs.
  package static let statementStride = 4096
  package var file: String
  /// Lines parsed so far.
  package var linesRead: Int
  /// Statements run so far; nil while the fixture is being read.
  package var statementsRun: Int?
  /// The fixture's statements (0 while it is being read).
  package var statements: Int

  package init(file: String, linesRead: Int, statementsRun: Int?, statements: Int) {
    self.file = file
    self.linesRead = linesRead
    self.statementsRun = statementsRun
    self.statements = statements
  }
}

/// Runs fixtures: parse, build the machine, execute every statement under
/// the sanitizer, check expectations.
package enum FixtureRunner {
  package static func run(file: String, source: [UInt8], options: RunOptions = RunOptions()) -> FixtureResult {
    run(parsed: FixtureParser.parse(source: source, file: file), options: options)
  }

  /// Runs a fixture file from disk, read as a stream (`-`: standard input, named `<stdin>`).
  package static func run(path: String, options: RunOptions = RunOptions()) -> FixtureResult {
    run(parsed: parse(path: path, options: options), options: options)
  }

  /// Parses a fixture file from disk, read as a stream (`-`: standard input,
  /// named `<stdin>`); a file that cannot be read gives a diagnostic that says why.
  package static func parse(path: String, options: RunOptions = RunOptions()) -> ParsedFixture {
    let file = path == InputFile.standardInputPath ? standardInputName : path
    var parser = FixtureParser(file: file)
    do {
      try InputFile.read(path: path) { chunk in
        parser.consume(chunk)
        options.progress?(RunProgress(file: file, linesRead: parser.linesRead, statementsRun: nil, statements: 0))
        return !parser.isStopped
      }
    } catch {
      return ParsedFixture(
        file: file, diagnostics: [Diagnostic(file: file, message: "cannot read file: \(error.reason)")])
    }
    return parser.finish()
  }

  /// The name of a fixture read from standard input, as compilers call it.
  package static let standardInputName = "<stdin>"

  /// Runs a parsed fixture. Its warnings are part of the result, errors or not.
  package static func run(parsed: ParsedFixture, options: RunOptions = RunOptions()) -> FixtureResult {
    var parsed = parsed
    var diagnostics = parsed.diagnostics
    if let extra = options.cmdline { diagnostics += parsed.cmdline.apply(parameters: extra) }
    guard !diagnostics.contains(where: \.isError) else {
      return FixtureResult(
        file: parsed.file, diagnostics: diagnostics, outcomes: [], failures: [], stats: [], summary: RunSummary())
    }
    let execution: Execution
    do {
      execution = try Execution(parsed: parsed, options: options)
    } catch {
      return FixtureResult(
        file: parsed.file, diagnostics: diagnostics + [error.diagnostic], outcomes: [], failures: [], stats: [],
        summary: RunSummary())
    }
    var result = execution.run()
    result.diagnostics = diagnostics + result.diagnostics
    // Frees the machine and its emulated memory (they form reference cycles).
    execution.machine.tearDown()
    return result
  }
}

/// A runtime error that stops a fixture.
struct FatalError: Error {
  var diagnostic: Diagnostic
}

/// Converts the parser's machine description to the model's.
