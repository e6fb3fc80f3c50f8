import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Sanitizer

/// One run of one fixture.
final class Execution {
  let parsed: ParsedFixture
  let options: RunOptions
  let machine: Machine
  let sanitizer: Sanitizer
  /// `--html`'s log of invalidations (`RunOptions.logsInvalidations`).
  private(set) var invalidationLog: InvalidationLog?
  let moduleName: String
  /// `driverSymbol` by its raw name (the skip-list check is a regex search).
  var driverSymbols: [String: String] = [:]
  var bindings: [String: Binding] = [:]
  /// The owner generation of each `alloc_pages` name's block, so that a
  /// second `free_pages` is told from a free of the page's next owner.
  var pageGenerations: [String: UInt64] = [:]
  /// Names bound by statements that failed, with the line.
  var failedBindings: [String: Int] = [:]
  var tasks: [String: EmulatedTask] = [:]
  let mainTask: EmulatedTask
  var nextPID = 1001
  /// What the statements run so far produced (`run()`, `runStatement(_:)`).
  var outcomes: [StatementOutcome] = []
  var failures: [ExpectationFailure] = []
  var runDiagnostics: [Diagnostic] = []
  var summary = RunSummary()
  /// Sanitizer output of statements that another task interrupted, by statement index.
  var stashed: [Int: [SanitizerOutput]] = [:]
  /// The statements started so far, loops unrolled (`RunOptions.maximumStatements`).
  var executedSteps = 0

  var file: String { parsed.file }

  init(parsed: ParsedFixture, options: RunOptions) throws(FatalError) {
    self.parsed = parsed
    self.options = options
    driverSymbols = options.driverSymbols
    let config = parsed.memory
    let memoryLine = parsed.statements.first { $0.verb == .memory }?.location ?? SourceLocation(line: 1, column: 1)
    if let err = config.validate(maximumRAM: options.maximumRAM) {
      let hint = err.errno == .E2BIG ? "; --max-ram SIZE raises the limit" : ""
      throw FatalError(
        diagnostic: Diagnostic(
          file: parsed.file, location: memoryLine, message: "memory: \(err.reason) (\(err.errno.name))\(hint)"))
    }
    let c = parsed.cmdline
    let policy = MachinePolicy(
      strict: c.strict, kvaFlush: c.kvaFlush, notifier: c.notifier, reset: c.reset, kernel: c.kernel)
    machine = Machine(memory: PhysicalMemory(config: config, residentLimit: options.maximumResident), policy: policy)
    mainTask = EmulatedTask(pid: 1000, tgid: 1000, comm: parsed.mainTaskComm)
    moduleName = Execution.identifier(parsed.mainTaskComm.isEmpty ? "fixture" : Execution.baseName(parsed.file))
    var sc = Sanitizer.Configuration()
    sc.debugPageAlloc = c.debugPagealloc
    sc.pageOwner = c.pageOwner
    sc.accounting = c.accounting
    sc.driverName = moduleName
    sc.mapCountMax = Int64(c.mapCountMax)
    sc.dmaAssertIdle = c.dmaAssertIdle
    if !options.history.isEmpty { sc.historyDepth = nil }
    sanitizer = Sanitizer(machine: machine, configuration: sc)
    sanitizer.attach()
    if let extra = options.observer { machine.addObserver(extra) }
    if options.logsInvalidations {
      invalidationLog = InvalidationLog(pageSize: config.pageSize)
      machine.addObserver(invalidationLog!)
    }
  }

  static func baseName(_ path: String) -> String {
    var name = Substring(path)
    if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
    if let dot = name.lastIndex(of: "."), dot != name.startIndex { name = name[..<dot] }
    return String(name)
  }

  /// A C identifier made of a name: other characters become `_`.
  static func identifier(_ s: String) -> String {
    var out = ""
    for u in s.unicodeScalars.prefix(48) {
      out.append(u.isASCII && (u.properties.isAlphabetic || ("0"..."9").contains(u) || u == "_") ? Character(u) : "_")
    }
    if out.isEmpty || out.first!.isNumber { out = "drv_" + out }
    return out
  }

  func fatal(_ location: SourceLocation, _ message: String) -> FatalError {
    FatalError(diagnostic: Diagnostic(file: file, location: location, message: message))
  }

  // MARK: - Running

  func run() -> FixtureResult {
    var cursor = parsed.executionOrder()
    while let i = cursor.current {
      guard runStatement(i, loops: cursor.loops) else { break }
      cursor.advance()
    }
    return result()
  }

  /// Runs statement `i` in the iteration `loops` of its `repeat` blocks
  /// (counted against `RunOptions.maximumStatements`). False when a fatal
  /// error stopped the fixture.
  func runStatement(_ i: Int, loops: LoopEnvironment) -> Bool {
    let template = parsed.statements[i]
    executedSteps += 1
    if let limit = options.maximumStatements, executedSteps > limit {
      runDiagnostics.append(
        Diagnostic(
          file: file, location: template.verbLocation,
          message: "this run stops after \(limit) statements (the limit of this runner)"))
      return false
    }
    if let progress = options.progress, executedSteps % RunProgress.statementStride == 0 {
      progress(
        RunProgress(
          file: parsed.file, linesRead: template.line, statementsRun: executedSteps,
          statements: parsed.executedStatements))
    }
    var badName: NameReference?
    guard let stmt = template.instantiated(in: loops, failed: &badName) else {
      let ref = badName ?? NameReference(name: template.text, location: template.location)
      runDiagnostics.append(
        Diagnostic(
          file: file, location: ref.location,
          message: "the index of '\(ref.name)' is negative when \(loops.description)"))
      return false
    }
    // The driver frame is the template's: every iteration is one bug site.
    return runStatement(i, stmt, context: context(for: template, index: i))
  }

  /// Runs statement `i` and checks its expectations. False when a fatal
  /// error stopped the fixture (its diagnostic is kept for the result).
  func runStatement(_ i: Int) -> Bool {
    let stmt = parsed.statements[i]
    return runStatement(i, stmt, context: context(for: stmt, index: i))
  }

  /// Runs `stmt` (statement `i`, or an iteration of it with its loop
  /// variables bound) in `context`.
  func runStatement(_ i: Int, _ stmt: Statement, context: CallContext) -> Bool {
    var outcome: StatementOutcome
    do {
      try checkWorkLimits(stmt)
      outcome = try execute(stmt, index: i, context: context)
      try checkResourceLimits(stmt)
    } catch {
      runDiagnostics.append(error.diagnostic)
      outcomes.append(finish(StatementOutcome(index: i, line: stmt.line, outputs: [], faulted: false), stmt))
      return false
    }
    outcome = finish(outcome, stmt)
    if outcome.error != nil, let b = stmt.binding { failedBindings[b.name] = stmt.line }
    failures += check(stmt, outcome)
    summary.statements += 1
    summary.faults += outcome.faulted ? 1 : 0
    summary.errors += outcome.error != nil ? 1 : 0
    if outcome.error != nil
      && !stmt.expectations.contains(where: { if case .error = $0.kind { true } else { false } })
    {
      summary.unexpectedErrors += 1
    }
    for r in outcome.reports {
      summary.reports += 1
      summary.byKind[r.kind.rawValue, default: 0] += 1
      summary.siteKeys.insert(r.kind.rawValue + " " + KernelTextRenderer.ripFrame(of: r).function)
    }
    outcomes.append(outcome)
    return true
  }

  /// Keeps what the sanitizer emitted so far for statement `index`, which is
  /// not finished: another task runs before it resumes (`iommusan explore`).
  func stash(statement index: Int) {
    let items = sanitizer.drain()
    if !items.isEmpty { stashed[index, default: []] += items }
  }

  /// The run so far as a result: outcomes in the order statements finished.
  func result() -> FixtureResult {
    let diagnostics = runDiagnostics
    let stats = options.stats ? statsLines() : []
    var result = FixtureResult(
      file: file, diagnostics: diagnostics, outcomes: outcomes, failures: failures, stats: stats, summary: summary)
    result.debugPageAlloc = sanitizer.configuration.debugPageAlloc
    result.kernel = machine.policy.kernel
    result.invalidationLog = invalidationLog
    for page in options.history {
      switch historyPages(page) {
      case .success(let pfns):
        for pfn in pfns {
          result.histories.append(PageLife(page: page, pfn: pfn, events: sanitizer.history(of: pfn)))
        }
      case .failure(let error):
        result.diagnostics.append(
          Diagnostic(file: file, line: 0, column: 0, severity: .warning, message: "--history \(page): \(error.message)")
        )
      }
    }
    return result
  }

  /// The pages `--history NAME|PFN` names: a page frame number, or the
  /// pages of a name bound to pages or to a coherent DMA buffer.
  private func historyPages(_ page: String) -> Result<[PFN], HistoryError> {
    if let n = page.hasPrefix("0x") ? UInt64(page.dropFirst(2), radix: 16) : UInt64(page) { return .success([PFN(n)]) }
    let block: PageBlock?
    switch bindings[page] {
    case .pages(let b)?: block = b
    case .dmaHandle(let h)?: block = h.coherent
    case nil: return .failure(HistoryError(message: "no name '\(page)' is bound, and it is not a page frame number"))
    case let other?: return .failure(HistoryError(message: "'\(page)' is \(other.noun), not pages"))
    }
    guard let block else { return .failure(HistoryError(message: "'\(page)' is a streaming DMA handle, not pages")) }
    return .success((0..<block.pageCount).map { block.head.advanced(by: Int64($0)) })
  }

  struct HistoryError: Error {
    var message: String
  }

  /// Collects what the sanitizer emitted and stamps reports with the statement.
  private func finish(_ outcome: StatementOutcome, _ stmt: Statement) -> StatementOutcome {
    var o = outcome
    let loc = StatementLocation(file: file, line: stmt.location.line, column: stmt.location.column, text: stmt.text)
    let items = (stashed.removeValue(forKey: o.index) ?? []) + sanitizer.drain()
    for item in items {
      switch item {
      case .report(var r):
        r.statement = loc
        for i in r.mappings.indices where parsed.statements.indices.contains(r.mappings[i].statementIndex) {
          r.mappings[i].binding = parsed.statements[r.mappings[i].statementIndex].binding?.name
        }
        o.outputs.append(.report(r))
      case .event(let e):
        if e.kind == .fault && e.statementIndex == o.index { o.faulted = true }
        o.outputs.append(.event(e))
      }
    }
    return o
  }

  /// The driver frame's symbol, `<module>_<verb>_<name>`: the statement's
  /// binding, else the name it operates on. It names the bug site in the
  /// syzkaller title, so it carries no line number (a comment added above a
  /// statement keeps its title) and is made one syzkaller's skip list keeps
  /// (`SyzkallerTitle.symbol`).
  func driverSymbol(_ stmt: Statement) -> String {
    let verb = stmt.verb.rawValue
    var name = stmt.binding?.name
    if name == nil {
      let words = stmt.text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
      if let v = words.firstIndex(where: { $0 == verb }), v + 1 < words.count,
        let first = words[v + 1].unicodeScalars.first, first.properties.isAlphabetic, first.isASCII
      {
        name = String(words[v + 1])
      }
    }
    let raw = moduleName + "_" + Execution.identifier(verb) + (name.map { "_" + Execution.identifier($0) } ?? "")
    if let known = driverSymbols[raw] { return known }
    let symbol = SyzkallerTitle.symbol(raw)
    driverSymbols[raw] = symbol
    return symbol
  }

  func context(for stmt: Statement, index: Int) -> CallContext {
    var task = mainTask
    if let t = stmt.task {
      if let known = tasks[t.name] {
        task = known
      } else {
        task = EmulatedTask(pid: nextPID, tgid: nextPID, comm: t.name)
        nextPID += 1
        tasks[t.name] = task
      }
    }
    let frame = KernelFrame(
      driverSymbol(stmt), module: moduleName, file: file, line: stmt.line, isDriver: true)
    return CallContext(task: task, caller: frame, statementIndex: index)
  }
}
