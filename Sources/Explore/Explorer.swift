import FixtureLanguage
import FixtureRunner
import KernelTypes
import Reports
import SplitMix

/// How `iommusan explore` searches.
package struct ExploreOptions: Sendable {
  /// The default preemption bound. CHESS (Musuvathi and Qadeer, PLDI 2007;
  /// OSDI 2008) found nearly every known concurrency bug within 2
  /// preemptions, and the schedules within a bound grow as steps^K: 2 keeps
  /// a seed fixture (tens of steps) to a few thousand schedules, exhausted in
  /// seconds, and each seed race here needs 1.
  package static let defaultPreemptions = 2
  /// The default number of PCT runs.
  package static let defaultRuns = 1000

  /// `--preemptions K`.
  package var preemptions = ExploreOptions.defaultPreemptions
  /// Whether `--preemptions` was given: then the search is bounded even
  /// when the fixture is small enough to exhaust.
  package var bounded = false
  /// The partial-order reduction of the exhaustive search; `--no-por` turns it off.
  package var por = true
  /// With `por`: dynamic partial-order reduction (backtrack sets from the
  /// races of each schedule run) on top of the sleep sets; `--no-dpor` keeps
  /// the sleep sets only. Sharded searches use sleep sets only.
  package var dpor = true
  /// The most interleavings (of the default schedule's steps) a fixture may
  /// have for the systematic search to be exhaustive rather than bounded.
  package static let exhaustiveLimit = 20_000
  /// `--seed N`: PCT instead of the systematic search.
  package var seed: UInt64?
  /// `--runs N` (PCT).
  package var runs = ExploreOptions.defaultRuns
  /// `--all`: every distinct report (kind and site), not only the first.
  package var all = false
  /// `--shard I/N`: this process explores part I of N.
  package var shard = Shard(index: 0, count: 1)
  /// The most schedules one exploration runs (`--max-schedules`); past it
  /// the search stops, incomplete, with a warning.
  package var maxSchedules = ExploreOptions.defaultMaxSchedules
  /// The default `--max-schedules`: an exhaustive search of a small fixture
  /// (at most `exhaustiveLimit` interleavings) fits, and a larger search
  /// stops in minutes rather than hours (some 50 schedules a second on a
  /// debug build, thousands on a release build, Benchmarks.md).
  package static let defaultMaxSchedules = 20_000
  /// The most steps one exploration runs, over every schedule it runs
  /// (`--max-steps`; a finding's minimization and replay count too; `steps`
  /// says what a step is); past it the search stops, incomplete, with a warning.
  package var maxSteps = ExploreOptions.defaultMaxSteps
  /// The default `--max-steps`: far above what an exhaustive search of a
  /// small fixture runs (Explore.md), and some seconds of CPU on a debug
  /// build: a fixture whose tasks each loop hundreds of times, or that has
  /// hundreds of tasks, ends in bounded time, where `--max-schedules` alone
  /// lets each of its thousands of schedules run thousands of points.
  package static let defaultMaxSteps = 1_000_000
  /// Options of each run (cmdline, limits, `--history`).
  package var run = RunOptions()

  package init() {}
}

/// What stopped a search before it was complete.
package enum SearchLimit: Sendable, Hashable {
  /// `--max-schedules N`.
  case schedules(Int)
  /// `--max-steps N`.
  case steps(Int)
}

/// `--shard I/N`: part I (0-based) of N.
package struct Shard: Sendable, Hashable, CustomStringConvertible {
  package var index: Int
  package var count: Int
  package init(index: Int, count: Int) {
    self.index = index
    self.count = count
  }
  package var description: String { "\(index)/\(count)" }
}

/// A distinct report (kind and site) and the schedule that first showed it.
package struct ExploreFinding: Sendable {
  /// `KIND SITE`: the report kind and its driver frame.
  package var key: String
  package var schedule: Schedule
  package var preemptions: Int
  /// The run under that schedule (its reports, and `--history`).
  package var result: FixtureResult
}

/// What an exploration found.
package struct ExploreResult: Sendable {
  package var file: String
  package var mode: String
  /// The preemption bound; nil when the search was exhaustive.
  package var preemptionBound: Int?
  package var shard: Shard
  /// Schedules run (the minimization's re-runs aside).
  package var schedules = 0
  /// Alternatives not run because they would pass the preemption bound.
  package var pruned = 0
  /// Alternatives not run because the partial-order reduction showed them
  /// equivalent to schedules run (a sleeping task).
  package var reduced = 0
  /// Whether every schedule within the bound (of this shard) ran.
  package var complete = false
  package var findings: [ExploreFinding] = []
  /// For each `expect schedules=` line: the schedules where its check held, of `schedules`.
  package var expectations: [(expectation: ScheduleExpectation, held: Int, witness: Schedule?)] = []
  /// Diagnostics that stopped the fixture (the default schedule's), with their warnings.
  package var diagnostics: [Diagnostic] = []
  /// A fatal error in some schedule (a limit), with its schedule.
  package var stopped: (diagnostic: Diagnostic, schedule: Schedule)?
  /// The work of the search, what `--max-steps` bounds: each scheduling
  /// point of every schedule it ran (its minimization's and replays' too)
  /// counts the tasks that could run there, at least 1 (choosing among
  /// them, and queueing their alternatives, costs as much: a fixture of
  /// hundreds of one-statement tasks does that work at each point).
  package var steps = 0
  /// The most schedules queued at once (not run yet), this shard's and
  /// others' (`--max-schedules` bounds it: `Search.enqueue`).
  package var maxQueued = 0
  /// The limit that stopped the search, if one did (`limitWarning` says so).
  package var limit: SearchLimit?
  /// Whether a limit stopped the search.
  package var limited: Bool { limit != nil }

  /// The warning of a search a limit stopped, or nil.
  package var limitWarning: Diagnostic? {
    guard let limit else { return nil }
    let shardText = shard.count > 1 ? " (shard \(shard))" : ""
    let what =
      switch limit {
      case .schedules(let n): "--max-schedules \(n)"
      case .steps(let n):
        "--max-steps \(n) (\(Plural.count(steps, "step")) run in \(Plural.count(schedules, "schedule")))"
      }
    return Diagnostic(
      file: file, line: 0, column: 0, severity: .warning,
      message:
        "the search stopped at \(what)\(shardText): it is incomplete; raise the limit, bound it with --preemptions K, or split it with --shard I/N"
    )
  }

  /// Whether an `expect schedules=` line holds over the schedules explored.
  package func holds(_ e: ScheduleExpectation, held: Int) -> Bool {
    ScheduleExpectation.holds(quantifier: e.quantifier, count: e.count, seen: held, schedules: schedules)
  }

  /// The failed `expect schedules=` lines, as `FILE:LINE:COL: error: ...`.
  package var expectationFailures: [String] { ExploreSummary(self).expectationFailures }

  /// 0: no schedule reported and every expectation held; 1: a report or a
  /// failed expectation; 2: the fixture could not run.
  package var exitStatus: Int32 {
    if diagnostics.contains(where: \.isError) || stopped != nil { return 2 }
    return findings.isEmpty && expectationFailures.isEmpty ? 0 : 1
  }
}

/// `iommusan explore`: runs a fixture under many schedules of its task
/// blocks. A scheduler above the runner: the fixture runner interprets
/// statements, the machine only calls `KernelStepObserver`.
package enum Explorer {
  /// Runs one schedule (`iommusan run --schedule`).
  package static func replay(_ parsed: ParsedFixture, schedule: Schedule, options: RunOptions) -> (
    FixtureResult, ScheduleError?
  ) {
    let outcome = ScheduleRun.run(parsed, options: options, policy: .prefix(schedule.choices))
    return (outcome.result, outcome.mismatch ?? outcome.overrun)
  }

  /// Explores `parsed` as `options` say.
  package static func explore(_ parsed: ParsedFixture, options: ExploreOptions) -> ExploreResult {
    var result = ExploreResult(
      file: parsed.file, mode: options.seed == nil ? "systematic" : "pct", preemptionBound: options.preemptions,
      shard: options.shard)
    result.expectations = parsed.scheduleExpectations.map { ($0, 0, nil) }
    var runOptions = options.run
    runOptions.history = []
    let mayExhaust = options.seed == nil && !options.bounded
    let root = ScheduleRun.run(parsed, options: runOptions, policy: .prefix([]), footprints: mayExhaust && options.por)
    guard !(root.result.hasErrors && root.result.outcomes.isEmpty) else {
      result.diagnostics = root.result.diagnostics
      return result
    }
    result.diagnostics = root.result.diagnostics.filter { !$0.isError }
    runOptions.driverSymbols = root.driverSymbols
    let exhaustive = mayExhaust && interleavings(root.points) <= Double(ExploreOptions.exhaustiveLimit)
    if exhaustive {
      result.mode = "exhaustive"
      result.preemptionBound = nil
    }
    var search = Search(parsed: parsed, options: options, runOptions: runOptions, result: result)
    search.result.steps = Search.steps(root)
    search.exhaustive = exhaustive
    search.por = exhaustive && options.por
    // DPOR's backtrack points come from the races of the schedules a shard
    // runs, which other shards do not see: sharded searches keep sleep sets.
    search.dpor = search.por && options.dpor && options.shard.count == 1
    if options.seed != nil {
      search.pct(root: root)
    } else {
      search.systematic(root: root)
    }
    return search.result
  }
}

extension Explorer {
  /// How many interleavings the steps of a schedule's task groups have: per
  /// group the multinomial coefficient of each task's step count (a
  /// deterministic estimate from the default schedule, the same in every shard).
  static func interleavings(_ points: [SchedulePoint]) -> Double {
    var total = 1.0
    var counts: [String: Int] = [:]
    func close() {
      var n = 0
      for c in counts.values {
        for k in 0..<c { total *= Double(n + k + 1) / Double(k + 1) }
        n += c
      }
      counts = [:]
    }
    for p in points {
      if p.isStart { close() }
      counts[p.chosen, default: 0] += 1
    }
    close()
    return total
  }
}

/// The state of one exploration.
private struct Search {
  let parsed: ParsedFixture
  let options: ExploreOptions
  let runOptions: RunOptions
  var result: ExploreResult
  var seen: Set<String> = []
  /// Every schedule, with no preemption bound.
  var exhaustive = false
  /// Sleep sets (with `exhaustive` only: with a bound they are unsound).
  var por = false
  /// Dynamic partial-order reduction (with `por`, unsharded).
  var dpor = false
  /// DPOR's tree of the points the schedules run so far went through.
  let tree = DPORNode(sleep: [], alternatives: 0)
  /// Per level of `systematic`'s queue: this shard's schedules queued and not run yet.
  var pending: [Int] = []
  /// Schedules queued and not taken yet (every shard's).
  var queued = 0
  /// Whether `enqueue` left out a schedule that `--max-schedules` would never reach.
  var dropped = false
  /// Whether to go on after a finding.
  var continues: Bool { options.all || !parsed.scheduleExpectations.isEmpty }

  init(parsed: ParsedFixture, options: ExploreOptions, runOptions: RunOptions, result: ExploreResult) {
    self.parsed = parsed
    self.options = options
    self.runOptions = runOptions
    self.result = result
  }

  /// Runs one schedule of the search (counted against `--max-steps`).
  mutating func run(_ policy: ChoicePolicy, footprints: Bool = false, options: RunOptions? = nil) -> ScheduleOutcome {
    let outcome = ScheduleRun.run(parsed, options: options ?? runOptions, policy: policy, footprints: footprints)
    result.steps += Self.steps(outcome)
    return outcome
  }

  /// What one schedule counts against `--max-steps` (`ExploreResult.steps`).
  static func steps(_ outcome: ScheduleOutcome) -> Int {
    max(outcome.points.reduce(0) { $0 + max($1.enabled.count, 1) }, 1)
  }

  /// Whether the search ran `--max-steps` steps.
  var outOfSteps: Bool { result.steps >= options.maxSteps }

  /// Counts one schedule; false when the search should stop.
  mutating func record(_ outcome: ScheduleOutcome, counted: Bool = true) -> Bool {
    if counted {
      result.schedules += 1
      for (k, held) in outcome.checks.enumerated() where k < result.expectations.count {
        if held { result.expectations[k].held += 1 }
        // The first schedule that shows it (some, none) or breaks it (all).
        if result.expectations[k].witness == nil, held != (result.expectations[k].expectation.quantifier == .all) {
          result.expectations[k].witness = outcome.schedule
        }
      }
    }
    if let fatal = outcome.result.diagnostics.first(where: \.isError) {
      result.stopped = (fatal, outcome.schedule)
      return false
    }
    let keys = outcome.result.summary.siteKeys.sorted().filter { !seen.contains($0) }
    for key in keys {
      seen.insert(key)
      let (schedule, preemptions) = minimize(outcome, key: key)
      var options = runOptions
      options.history = self.options.run.history
      let replayed = run(.prefix(schedule.choices), options: options).result
      result.findings.append(
        ExploreFinding(key: key, schedule: schedule, preemptions: preemptions, result: replayed))
    }
    if !keys.isEmpty && !continues { return false }
    if result.schedules >= options.maxSchedules {
      result.limit = .schedules(options.maxSchedules)
      return false
    }
    if outOfSteps {
      result.limit = .steps(options.maxSteps)
      return false
    }
    return true
  }

  /// A schedule with as few preemptions as this finds, by trying, for each
  /// switch, the schedule without it (later choices kept) and the schedule
  /// that stops choosing after it (the default goes on), while the report
  /// still shows. Systematic schedules are minimal already; PCT's are not.
  mutating func minimize(_ outcome: ScheduleOutcome, key: String) -> (Schedule, Int) {
    var best = outcome
    var improved = true
    while improved, !outOfSteps {
      improved = false
      let choices = best.points.map(\.chosen)
      for (i, p) in best.points.enumerated() where p.current != nil && p.current != p.chosen {
        var without = choices
        without[i] = p.current!
        for candidate in [without, Array(choices.prefix(i + 1))] {
          let trial = run(.prefix(candidate))
          if trial.mismatch == nil || candidate.count == i + 1, trial.result.summary.siteKeys.contains(key),
            trial.preemptions < best.preemptions
          {
            best = trial
            improved = true
            break
          }
        }
        if improved { break }
      }
    }
    if options.seed != nil || dpor, best.preemptions > 0, let fewer = fewestPreemptions(key, below: best.preemptions) {
      best = fewer
    }
    if options.seed != nil { best = shortest(best, key: key) }
    return (best.schedule, best.preemptions)
  }

  /// PCT's schedule cut to its shortest prefix that still shows `key` with
  /// no more preemptions (the default goes on after it): a random run makes
  /// free switches after a task ended that the report does not need.
  mutating func shortest(_ outcome: ScheduleOutcome, key: String) -> ScheduleOutcome {
    let choices = outcome.schedule.choices
    for length in 0..<choices.count where !outOfSteps {
      let trial = run(.prefix(Array(choices.prefix(length))))
      if trial.result.summary.siteKeys.contains(key), trial.preemptions <= outcome.preemptions { return trial }
    }
    return outcome
  }

  /// The first schedule, fewest preemptions first, below `bound` preemptions
  /// that shows `key`: a systematic search of at most `minimizeBudget` schedules.
  mutating func fewestPreemptions(_ key: String, below bound: Int) -> ScheduleOutcome? {
    var levels = Array(repeating: [[String]](), count: bound)
    levels[0].append([])
    var runs = 0
    for level in levels.indices {
      var next = 0
      while next < levels[level].count, runs < Self.minimizeBudget, !outOfSteps {
        let prefix = levels[level][next]
        next += 1
        let outcome = run(.prefix(prefix))
        runs += 1
        if outcome.result.summary.siteKeys.contains(key) { return outcome }
        var choices = outcome.points.prefix(prefix.count).map(\.chosen)
        for i in prefix.count..<outcome.points.count {
          let p = outcome.points[i]
          for e in p.enabled where e != p.chosen {
            let k = p.preemptions + (p.current.map { $0 != e ? 1 : 0 } ?? 0)
            // Not past the budget: the schedules queued before it would use it up.
            guard k < bound, k >= level,
              levels[level...k].reduce(0, { $0 + $1.count }) - next < Self.minimizeBudget - runs
            else { continue }
            levels[k].append(choices + [e])
          }
          choices.append(p.chosen)
        }
      }
    }
    return nil
  }

  /// The most schedules `fewestPreemptions` runs for one finding.
  static let minimizeBudget = 2000

  /// A schedule to run: its choices, its shard, and the sleep set at its
  /// last choice (the tasks whose step there another schedule covers).
  /// The choices are the first `kept` of `base`, the choices of the run it
  /// was queued from (one array shared by every item queued from that run:
  /// memory per queued schedule does not grow with the run's length), then
  /// `last`.
  struct Item {
    var base: [String]
    var kept: Int
    var last: String?
    var shard: Int
    var sleep: [String]

    /// The item's choices.
    var prefix: [String] {
      var choices = Array(base.prefix(kept))
      if let last { choices.append(last) }
      return choices
    }
    /// How many choices `prefix` has.
    var count: Int { kept + (last == nil ? 0 : 1) }
  }

  /// Every schedule within the preemption bound (or every schedule, when
  /// `exhaustive`), fewest preemptions first.
  mutating func systematic(root: ScheduleOutcome) {
    // levels[k]: prefixes whose schedules have k preemptions, run from
    // cursor[k] on; each item carries its shard (by its first deviation
    // from the root). DPOR may queue an item below the level running.
    var levels = Array(repeating: [Item](), count: exhaustive ? 1 : options.preemptions + 1)
    var cursor = Array(repeating: 0, count: levels.count)
    var rootAlternatives = 0
    defer { if dpor { result.reduced = tree.unexplored } }
    expand(
      root, Item(base: [], kept: 0, last: nil, shard: -1, sleep: []), levels: &levels,
      rootAlternatives: &rootAlternatives)
    if options.shard.index == 0 {
      guard record(root) else { return }
    }
    while true {
      while cursor.count < levels.count { cursor.append(0) }
      guard let level = levels.indices.first(where: { cursor[$0] < levels[$0].count }) else { break }
      let item = levels[level][cursor[level]]
      cursor[level] += 1
      queued -= 1
      if mine(item) { pending[level] -= 1 }
      if cursor[level] == levels[level].count {
        levels[level] = []
        cursor[level] = 0
      }
      guard mine(item) else { continue }
      let outcome = run(.prefix(item.prefix), footprints: por)
      expand(outcome, item, levels: &levels, rootAlternatives: &rootAlternatives)
      guard record(outcome) else { return }
    }
    if dropped {
      result.limit = .schedules(options.maxSchedules)
    } else {
      result.complete = true
    }
  }

  /// Whether this shard runs `item`.
  func mine(_ item: Item) -> Bool { item.shard % options.shard.count == options.shard.index }

  /// Queues `item` at `level`, unless this shard's schedules queued at its
  /// level or below (which run before it) already reach `--max-schedules`:
  /// it would never run, and the queue of a long fixture (its points times
  /// its tasks per schedule run) stays within a few times the limit.
  mutating func enqueue(_ item: Item, at level: Int, levels: inout [[Item]]) {
    while levels.count <= level { levels.append([]) }
    while pending.count < levels.count { pending.append(0) }
    if mine(item) {
      guard pending[...level].reduce(0, +) < options.maxSchedules - result.schedules else {
        dropped = true
        return
      }
      pending[level] += 1
    }
    levels[level].append(item)
    queued += 1
    result.maxQueued = max(result.maxQueued, queued)
  }

  /// Queues every alternative at the points past the item's prefix. With
  /// `por`, sleep sets (Godefroid 1996): a task whose step at a point was
  /// explored by an earlier sibling stays asleep, and is not chosen, until a
  /// step dependent on it runs; when the default's choice is asleep, the
  /// rest of the run repeats a schedule covered elsewhere and is not expanded.
  mutating func expand(
    _ outcome: ScheduleOutcome, _ item: Item, levels: inout [[Item]], rootAlternatives: inout Int
  ) {
    if dpor {
      expandDPOR(outcome, item, levels: &levels)
      return
    }
    let points = outcome.points
    let prefixLength = item.count
    guard prefixLength <= points.count else { return }
    var asleep: [String] = []
    if por, prefixLength > 0 {
      let p = points[prefixLength - 1]
      let step = outcome.footprint(p, p.chosen)
      asleep = item.sleep.filter { !outcome.footprint(p, $0).conflicts(with: step) }
    }
    // The root's alternatives are counted once, by shard 0 (every shard expands the root).
    let counts = item.shard >= 0 || options.shard.index == 0
    // The item's choices, then the run's past them: the prefix of every item queued here.
    let choices = item.prefix + points[prefixLength...].map(\.chosen)
    for i in prefixLength..<points.count {
      let p = points[i]
      let defaultAsleep = asleep.contains(p.chosen)
      var explored = asleep
      if !defaultAsleep { explored.append(p.chosen) }
      for e in p.enabled where e != p.chosen {
        if asleep.contains(e) {
          if counts { result.reduced += 1 }
          continue
        }
        let cost = p.current.map { $0 != e && p.enabled.contains($0) ? 1 : 0 } ?? 0
        let k = p.preemptions + cost
        guard exhaustive || k <= options.preemptions else {
          if counts { result.pruned += 1 }
          continue
        }
        let s = item.shard >= 0 ? item.shard : rootAlternatives
        if item.shard < 0 { rootAlternatives += 1 }
        enqueue(Item(base: choices, kept: i, last: e, shard: s, sleep: por ? explored : []), at: k, levels: &levels)
        explored.append(e)
      }
      if defaultAsleep { return }
      if por {
        let step = outcome.footprint(p, p.chosen)
        asleep = asleep.filter { !outcome.footprint(p, $0).conflicts(with: step) }
      }
    }
  }

  /// DPOR with sleep sets: records the points past the item's prefix in the
  /// tree, each with the default's choice as its first, then queues, at the
  /// points of the run's races (`DPOR.backtracks`), the task that should run
  /// there, unless asleep or run there already. When the default's choice is
  /// asleep the run is cut there (its rest repeats a covered schedule) and
  /// the first task awake runs instead.
  mutating func expandDPOR(_ outcome: ScheduleOutcome, _ item: Item, levels: inout [[Item]]) {
    let points = outcome.points
    let prefixLength = item.count
    guard prefixLength <= points.count else { return }
    let chosen = points.map(\.chosen)
    var asleep: [String] = []
    if prefixLength > 0 {
      let p = points[prefixLength - 1]
      let step = outcome.footprint(p, p.chosen)
      asleep = item.sleep.filter { !outcome.footprint(p, $0).conflicts(with: step) }
    }
    var path: [DPORNode] = []
    var node = tree
    var end = points.count
    for (k, p) in points.enumerated() {
      path.append(node)
      if k >= prefixLength {
        node.sleep = asleep
        node.alternatives = p.enabled.count
        if asleep.contains(p.chosen) {
          end = k
          if let e = p.enabled.first(where: { !asleep.contains($0) }) {
            queue(e, at: k, node: node, outcome, chosen, levels: &levels)
          }
          break
        }
        node.done = [p.chosen]
        let step = outcome.footprint(p, p.chosen)
        asleep = asleep.filter { !outcome.footprint(p, $0).conflicts(with: step) }
      }
      node = node.child(p.chosen)
    }
    // Earliest point first, as the sleep-set search queues them.
    for (i, task) in DPOR.backtracks(outcome, end: end).sorted(by: { $0.point < $1.point }) {
      queue(task, at: i, node: path[i], outcome, chosen, levels: &levels)
    }
  }

  /// Queues the schedule that follows `outcome` to point `k` and chooses `task` there.
  /// `chosen` is the run's choices (`outcome.points`' `chosen`), shared by the items it queues.
  mutating func queue(
    _ task: String, at k: Int, node: DPORNode, _ outcome: ScheduleOutcome, _ chosen: [String],
    levels: inout [[Item]]
  ) {
    guard !node.done.contains(task), !node.sleep.contains(task) else { return }
    let sleep = node.sleep + node.done
    node.done.append(task)
    let p = outcome.points[k]
    let level = p.preemptions + (p.current.map { $0 != task && p.enabled.contains($0) ? 1 : 0 } ?? 0)
    enqueue(Item(base: chosen, kept: k, last: task, shard: 0, sleep: sleep), at: level, levels: &levels)
  }

  /// PCT: `options.runs` random schedules, bug depth `preemptions + 1`.
  mutating func pct(root: ScheduleOutcome) {
    var rng = SplitMix64(seed: options.seed ?? 0)
    let steps = max(root.points.count, 1)
    if options.shard.index == 0 {
      guard record(root) else { return }
    }
    for index in 0..<options.runs {
      let seed = rng.next()
      var changes: Set<Int> = []
      for _ in 0..<options.preemptions { changes.insert(Int(rng.next() % UInt64(steps))) }
      guard index % options.shard.count == options.shard.index else { continue }
      let outcome = run(.pct(seed: seed, changePoints: changes))
      guard record(outcome) else { return }
    }
    result.complete = true
  }
}

extension Explorer {
  /// `iommusan check` of a fixture with `expect schedules=` lines: explores
  /// it at the default bound with `--all`. It passes when every such line
  /// holds and every report kind found is named by one of them.
  package static func check(_ parsed: ParsedFixture, options: RunOptions) -> FixtureResult {
    var explore = ExploreOptions()
    explore.all = true
    explore.run = options
    let r = Explorer.explore(parsed, options: explore)
    var failures: [ExpectationFailure] = []
    // A fixture that did not run has its errors, not also every line unchecked.
    let ran = !r.diagnostics.contains(where: \.isError)
    // The statements with `expect` lines are checked in the default
    // schedule, as `run` checks them (the others' reports are the
    // `expect schedules=` lines' business, and their faults a race's effect).
    if ran {
      var lines: Set<Int> = []
      for s in parsed.statements where !s.expectations.isEmpty {
        lines.insert(s.line)
        for e in s.expectations { lines.insert(e.location.line) }
      }
      failures += replay(parsed, schedule: Schedule(), options: options).0.failures.filter { lines.contains($0.line) }
    }
    for e in ExploreSummary(r).expectations where ran && !e.holds(of: r.schedules) {
      failures.append(
        ExpectationFailure(
          file: r.file, line: e.line, column: e.column, message: "expected '\(e.text)': \(e.tally(of: r.schedules))"))
    }
    // A kind is named by a `some`/`all` line, or by the `expect report` of
    // the statement that reported it (checked in the default schedule above).
    var named = Set(
      parsed.scheduleExpectations.compactMap { e -> String? in
        guard e.quantifier != .none, case .report(let want, _) = e.check else { return nil }
        return want.kind.rawValue
      })
    var namedAt: Set<String> = []
    for s in parsed.statements {
      for e in s.expectations {
        if case .report(let want) = e.kind { namedAt.insert("\(s.line) \(want.kind.rawValue)") }
      }
    }
    for f in r.findings {
      let kind = String(f.key.prefix { $0 != " " })
      let report = f.result.reports.first { $0.kind.rawValue == kind }
      let at = report?.statement
      if let at, namedAt.contains("\(at.line) \(kind)") { named.insert(kind) }
      guard !named.contains(kind) else { continue }
      failures.append(
        ExpectationFailure(
          file: r.file, line: at?.line ?? 0, column: at?.column ?? 0,
          message: "unexpected report \(kind) in schedule '\(f.schedule)': no 'expect schedules=' line names it"))
    }
    var diagnostics = r.diagnostics
    if let stopped = r.stopped { diagnostics.append(stopped.diagnostic) }
    if let warning = r.limitWarning { diagnostics.append(warning) }
    var summary = RunSummary()
    summary.statements = parsed.statements.count
    summary.reports = r.findings.count
    return FixtureResult(
      file: r.file, diagnostics: diagnostics, outcomes: [], failures: failures, stats: [], summary: summary)
  }
}
