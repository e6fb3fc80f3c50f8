import Dispatch
import Explore
import FixtureLanguage
import FixtureRunner
import Foundation
import KernelTypes
import Reports

enum Commands {
  static let run = CommandSpec(
    name: "run", abstract: "Run fixtures under the sanitizer and print what it reports.",
    usage:
      "iommusan run [--format <format>] [--cmdline <params>] [--max-ram <size>] [--max-resident <size>] [--max-reports <n>] [--history <pages>] [--html <file>] [--schedule <schedule>] [--stats] <file> ...",
    discussion: """
      Reports print in statement order, each statement's warnings and errors on standard error
      right after its reports. The summary counts reports and the distinct sites (kind and
      driver frame) they came from.
      Exit status: 0 when nothing happened; 1 when anything did that needs a look (a report, an
      I/O page fault, or a statement that failed with an errno no 'expect error' names); 2 on
      usage or parse errors, or a limit that stopped a fixture.
      """,
    options: [
      ("format", "format", "kernel (default): kernel log splats; json: JSON Lines."),
      (
        "history", "pages",
        "Print the whole life of these pages after the run: binding names or page frame numbers, comma-separated."
      ),
      (
        "html", "file",
        "Also write one self-contained HTML page: a timeline per page with reports and the reports' kernel text (docs/HTML.md)."
      ),
      (
        "max-reports", "n",
        "Print at most n reports per fixture (default: all, as the kernel prints every WARN); the summary says how many were not printed."
      ),
      ("cmdline", "params", "Kernel parameters applied over each fixture's own cmdline."),
      ("max-ram", "size", "The largest 'memory' a fixture may ask for (default: 1T)."),
      (
        "max-resident", "size",
        "The most memory the emulated machine may keep: frames, page tables, domains, devices (default: 1G)."
      ),
      (
        "schedule", "schedule",
        "Run the task blocks under this schedule ('cpu:2,dev:1', as 'iommusan explore' prints it)."
      ),
    ],
    flags: [
      ("stats", "Print IOMMU cache, walk and invalidation counters."),
      ("no-timestamps", "Leave out the printk timestamps ('[    0.000000][    T1] ') of kernel lines."),
    ],
    arguments: [("file", "Fixture files to run, in order ('-' reads standard input).")])

  static let check = CommandSpec(
    name: "check", abstract: "Run folders of fixtures as a test suite.",
    usage:
      "iommusan check [--jobs <n>] [--format <format>] [--html <file>] [--cmdline <params>] [--max-ram <size>] [--max-resident <size>] [<path> ...]",
    discussion:
      "A fixture passes when every expectation holds and nothing happened that no expectation names.\nEnds with the line 'N passed, N failed'. Exit status 0 only when all pass.",
    options: [
      ("jobs", "n", "Fixtures to run at once (default: the number of CPUs)."),
      ("format", "format", "kernel (default) or json."),
      ("html", "file", "Also write one HTML page: the fixtures and their status, a timeline per page with reports."),
      ("cmdline", "params", "Kernel parameters applied over each fixture's own cmdline."),
      ("max-ram", "size", "The largest 'memory' a fixture may ask for (default: 1T)."),
      (
        "max-resident", "size",
        "The most memory the emulated machine may keep: frames, page tables, domains, devices (default: 1G)."
      ),
    ],
    arguments: [("path", "Fixture files or folders (default: Fixtures).")])

  static let explain = CommandSpec(
    name: "explain", abstract: "Explain a report kind and how to fix its cause.",
    usage: "iommusan explain <kind>",
    arguments: [("kind", "A report kind, for example freed-while-mapped. Without one, the kinds are listed.")])

  static let help = CommandSpec(
    name: "help", abstract: "Show subcommand help information.", usage: "iommusan help [<subcommand>]",
    arguments: [
      (
        "subcommand",
        "A subcommand: run, check, explore, merge, conformance, explain, bench, replay or help. Without one, the overview."
      )
    ])

  static let all = [run, check, explore, merge, conformance, explain, bench, replay]

  /// ` (did you mean 'run'?)` for a misspelt subcommand, or "".
  static func didYouMean(_ name: String) -> String {
    let names = all.map(\.name) + ["help"]
    return names.min { editDistance($0, name) < editDistance($1, name) }.flatMap {
      editDistance($0, name) <= 2 ? " (did you mean '\($0)'?)" : nil
    } ?? ""
  }

  static let mainHelp = """
    OVERVIEW: An emulator of the Linux IOMMU and page allocator that runs fixture
    drivers under an IOMMU_DEBUG_PAGEALLOC-style sanitizer.

    USAGE: iommusan <subcommand>

    OPTIONS:
      --version               Show the version.
      -h, --help              Show help information.

    SUBCOMMANDS:
      run                     Run fixtures under the sanitizer and print what it reports.
      check                   Run folders of fixtures as a test suite.
      explore                 Search the interleavings of a fixture's task blocks for reports.
      merge                   Merge the JSON output of 'explore --shard' runs.
      conformance             Check the checker: map counts against the page tables, per kernel.
      explain                 Explain a report kind and how to fix its cause.
      bench                   Measure the sanitizer's overhead as dma_map_benchmark does.
      replay                  Replay an ftrace log of iommu, kmem and dma events.
      help                    Show subcommand help information.

      See 'iommusan help <subcommand>' for detailed help.

    """

  // MARK: - run

  static func runCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try run.parse(args)
    if p.flags.contains("help") { return printHelp(run) }
    let format = try outputFormat(p)
    var options = try runOptions(p)
    options.stats = p.flags.contains("stats")
    options.history = p.options["history"].map { $0.split(separator: ",").map(String.init) } ?? []
    options.logsInvalidations = p.options["html"] != nil
    guard !p.positionals.isEmpty else { throw UsageError(message: "Missing expected argument '<file> ...'") }
    var maxReports: Int?
    if let text = p.options["max-reports"] {
      guard let n = Int(text), n >= 0 else {
        throw UsageError(message: "The value '\(text)' is invalid for '--max-reports <n>': expected a whole number")
      }
      maxReports = n
    }
    var status: Int32 = 0
    var html = p.options["html"].map { _ in HTMLDocument(command: commandLine("run", args)) }
    let progress = ProgressLine()
    options.progress = { progress.update("iommusan: run: " + progressText($0)) }
    for file in p.positionals {
      var result: FixtureResult
      if let schedule = p.options["schedule"] {
        let (scheduled, mismatch) = try scheduledRun(file, schedule: schedule, options: options)
        result = scheduled
        if let mismatch {
          write(mismatch + "\n", to: .standardError)
          status = 2
        }
      } else {
        // Task blocks run their default schedule: blocks in file order,
        // except that a task waits for a name a later block binds.
        let parsed = FixtureRunner.parse(path: file, options: options)
        result =
          parsed.hasTaskBlocks && !parsed.hasErrors
          ? Explorer.replay(parsed, schedule: Schedule(), options: options).0
          : FixtureRunner.run(parsed: parsed, options: options)
      }
      progress.clear()
      html?.runs.append(HTMLRun(result, check: false))
      let r = RunOutputRenderer(
        format: format, maxReports: maxReports, sourceLines: true, color: Terminal.colorsStandardError,
        timestamps: !p.flags.contains("no-timestamps"))
      let printsOutput = !result.hasErrors || !result.outcomes.isEmpty
      for piece in r.pieces(result) {
        switch piece {
        case .out(let s): if printsOutput { write(s, to: .standardOutput) }
        case .err(let s): write(s, to: .standardError)
        }
      }
      status = max(status, result.exitStatus)
    }
    if let html, let path = p.options["html"], !writeHTML(html, to: path) { return 2 }
    return status
  }

  // MARK: - check

  static func checkCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try check.parse(args)
    if p.flags.contains("help") { return printHelp(check) }
    let format = try outputFormat(p)
    var jobs = ProcessInfo.processInfo.activeProcessorCount
    if let j = p.options["jobs"] {
      guard let n = Int(j), n >= 1, n <= 1024 else {
        throw UsageError(message: "--jobs takes a whole number from 1 to 1024")
      }
      jobs = n
    }
    let paths = p.positionals.isEmpty ? ["Fixtures"] : p.positionals
    let (files, missing) = fixtureFiles(under: paths)
    for m in missing { write("\(m): error: \(InputFileError.reason(ENOENT))\n", to: .standardError) }
    if !missing.isEmpty { return 2 }
    var options = try runOptions(p)
    options.logsInvalidations = p.options["html"] != nil
    let progress = ProgressLine()
    let done = Slots<Bool>(count: files.count)
    options.progress = { step in
      progress.update(
        "iommusan: check: \(done.filled) of \(plural(files.count, "fixture")) done; " + progressText(step))
    }
    let results = runAll(files, jobs: jobs, options: options) { index in
      done.set(index, true)
      progress.update("iommusan: check: \(done.filled) of \(plural(files.count, "fixture")) done")
    }
    progress.clear()
    var passed = 0
    var failed = 0
    var out = ""
    // Warnings go to standard error, as a compiler's do; they do not fail a fixture.
    let color = Terminal.colorsStandardError
    write(results.flatMap(\.warnings).map { $0.rendered(color: color) }.joined(), to: .standardError)
    for r in results {
      if r.passed { passed += 1 } else { failed += 1 }
      switch format {
      case .kernel:
        guard !r.passed else { continue }
        out += "FAIL \(r.file)\n"
        for d in r.errors { out += "  " + d.description + "\n" }
        for f in r.failures { out += "  " + f.description + "\n" }
      case .json:
        out +=
          JSONLinesRenderer.record([
            "fixture": .string(r.file), "passed": .bool(r.passed),
            "failures": .array((r.errors.map(\.description) + r.failures.map(\.description)).map { .string($0) }),
            "reports": .int(Int64(r.summary.reports)),
          ]) + "\n"
      }
    }
    switch format {
    case .kernel: out += "\(passed) passed, \(failed) failed\n"
    case .json:
      out +=
        JSONLinesRenderer.record(["summary": .object(["passed": .int(Int64(passed)), "failed": .int(Int64(failed))])])
        + "\n"
    }
    write(out, to: .standardOutput)
    if let path = p.options["html"] {
      var html = HTMLDocument(command: commandLine("check", args))
      html.runs = results.map { HTMLRun($0, check: true) }
      html.notes = [HTMLNote(title: "Result", lines: ["\(passed) passed, \(failed) failed"])]
      if !writeHTML(html, to: path) { return 2 }
    }
    return failed == 0 ? 0 : 1
  }

  /// Runs fixtures on `jobs` threads; results come back in file order.
  static func runAll(
    _ files: [String], jobs: Int, options: RunOptions, finished: @escaping @Sendable (Int) -> Void = { _ in }
  ) -> [FixtureResult] {
    let box = Slots<FixtureResult>(count: files.count)
    let queue = DispatchQueue(label: "iommusan.check", attributes: .concurrent)
    let sem = DispatchSemaphore(value: max(1, jobs))
    let group = DispatchGroup()
    for (i, f) in files.enumerated() {
      sem.wait()
      queue.async(group: group) {
        let parsed = FixtureRunner.parse(path: f, options: options)
        // A fixture with `expect schedules=` lines is checked over its schedules.
        // One with task blocks runs its default schedule (a task may wait
        // for a name a later block binds), which is file order otherwise.
        let result =
          !parsed.scheduleExpectations.isEmpty
          ? Explorer.check(parsed, options: options)
          : parsed.hasTaskBlocks
            ? Explorer.replay(parsed, schedule: Schedule(), options: options).0
            : FixtureRunner.run(parsed: parsed, options: options)
        box.set(i, result)
        finished(i)
        sem.signal()
      }
    }
    group.wait()
    return box.values
  }

  // MARK: - explain

  static func explainCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try explain.parse(args)
    if p.flags.contains("help") { return printHelp(explain) }
    guard let name = p.positionals.first else {
      var s = "Report kinds:\n"
      for k in ReportKind.allCases {
        s += "  " + k.rawValue.padding(toLength: 32, withPad: " ", startingAt: 0) + k.title + "\n"
      }
      write(s, to: .standardOutput)
      return 0
    }
    guard p.positionals.count == 1 else { throw UsageError(message: "Unexpected argument '\(p.positionals[1])'") }
    guard let kind = ReportKind(rawValue: name) else {
      let hint =
        ReportKind.suggest(name).map { "; did you mean '\($0.rawValue)'?" } ?? "; 'iommusan explain' lists them"
      throw UsageError(message: "unknown report kind '\(name)'\(hint)")
    }
    write(kind.explanation.hasSuffix("\n") ? kind.explanation : kind.explanation + "\n", to: .standardOutput)
    return 0
  }

  // MARK: - Helpers

  static func outputFormat(_ p: ParsedArguments) throws(UsageError) -> OutputFormat {
    guard let f = p.options["format"] else { return .kernel }
    guard let v = OutputFormat(rawValue: f) else {
      throw UsageError(message: "The value '\(f)' is invalid for '--format <format>': use kernel or json")
    }
    return v
  }

  /// `--cmdline`, `--max-ram` and `--max-resident`.
  static func runOptions(_ p: ParsedArguments) throws(UsageError) -> RunOptions {
    var o = RunOptions(cmdline: p.options["cmdline"])
    o.maximumRAM = try size(p, "max-ram", default: o.maximumRAM)
    o.maximumResident = try size(p, "max-resident", default: o.maximumResident)
    return o
  }

  static func size(_ p: ParsedArguments, _ name: String, default value: UInt64) throws(UsageError) -> UInt64 {
    guard let text = p.options[name] else { return value }
    switch SizeArgument.parse(text) {
    case .success(let v) where v > 0: return v
    case .success: throw UsageError(message: "The value '\(text)' is invalid for '--\(name) <size>': it must not be 0")
    case .failure(let f):
      throw UsageError(message: "The value '\(text)' is invalid for '--\(name) <size>': \(f.message)")
    }
  }

  /// `FILE: 400000 of 900000 statements`, or `FILE: 120000 lines read` while it is read.
  static func progressText(_ p: RunProgress) -> String {
    guard let run = p.statementsRun else { return "\(p.file): \(plural(p.linesRead, "line")) read" }
    return "\(p.file): \(run) of \(plural(p.statements, "statement"))"
  }

  /// The command as typed, for the HTML page's heading.
  static func commandLine(_ name: String, _ args: [String]) -> String {
    (["iommusan", name] + args).map { a in
      a.isEmpty || a.contains(where: { " \"'$\\".contains($0) })
        ? "'" + a.replacingOccurrences(of: "'", with: "'\\''") + "'" : a
    }.joined(separator: " ")
  }

  /// Writes `--html FILE`; on failure prints `FILE: error: REASON` and returns false.
  static func writeHTML(_ doc: HTMLDocument, to path: String) -> Bool {
    let bytes = Array(HTMLRenderer().render(doc).utf8)
    guard let f = fopen(path, "w") else {
      write("\(path): error: \(InputFileError.reason(errno))\n", to: .standardError)
      return false
    }
    let written = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
    let writeErrno = errno
    if fclose(f) != 0 || written != bytes.count {
      write(
        "\(path): error: \(InputFileError.reason(written != bytes.count ? writeErrno : errno))\n", to: .standardError)
      return false
    }
    return true
  }

  static func printHelp(_ c: CommandSpec) -> Int32 {
    write(c.help, to: .standardOutput)
    return 0
  }
}

/// One slot per worker, written from several threads and read after they
/// finish (`check --jobs`, `bench -t`).
final class Slots<T>: @unchecked Sendable {
  private let lock = NSLock()
  private var slots: [T?]
  init(count: Int) { slots = Array(repeating: nil, count: count) }
  func set(_ i: Int, _ value: T) {
    lock.lock()
    slots[i] = value
    lock.unlock()
  }
  /// How many slots are set.
  var filled: Int {
    lock.lock()
    defer { lock.unlock() }
    return slots.count { $0 != nil }
  }
  var values: [T] {
    lock.lock()
    defer { lock.unlock() }
    return slots.compactMap { $0 }
  }
}

enum Stream { case standardOutput, standardError }

func write(_ s: String, to stream: Stream) {
  guard !s.isEmpty else { return }
  let handle = stream == .standardOutput ? FileHandle.standardOutput : FileHandle.standardError
  handle.write(Data(s.utf8))
}

/// `1 fixture`, `2 fixtures`: a count with its noun.
func plural(_ n: Int, _ noun: String) -> String { Plural.count(n, noun) }
