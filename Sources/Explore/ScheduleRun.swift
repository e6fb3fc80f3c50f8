import Dispatch
import FixtureLanguage
import FixtureRunner
import Foundation
import KernelTypes
import Reports
import SplitMix

/// One scheduling point: after a step, which tasks could run and which did.
package struct SchedulePoint: Sendable, Hashable {
  /// The tasks that could run, in block order.
  package var enabled: [String]
  /// The task that ran the step before, if it can go on (nil at a group's
  /// start and after a task's last statement): choosing another is a preemption.
  package var current: String?
  /// The task chosen.
  package var chosen: String
  /// Preemptions before this point.
  package var preemptions: Int
  /// What just happened (`label`).
  package var happened: PointLabel
  /// What just happened: `start`, `line 7` (a statement ended), `line 7 free_pages_prepare` (a kernel step).
  package var label: String { happened.text }
  /// Whether this is a group's first point.
  package var isStart: Bool { happened == .start }
  /// The statement (index) each enabled task runs a step of if chosen, in the order of `enabled`.
  var pending: [Int] = []
  /// The tasks whose device request landed inside the step before this point
  /// (`drainRequests`): their step ran as part of it.
  var drained: [String] = []
  /// Every task of the group, in block order: `enabled` leaves out the
  /// finished ones and those waiting for a name (DPOR's vector clocks count them all).
  var group: [String] = []
}

/// What happened before a scheduling point, formatted only when printed.
package enum PointLabel: Sendable, Hashable {
  /// A group's first point.
  case start
  /// A statement on this line ended.
  case line(Int)
  /// The statement on this line reached a kernel step.
  case step(Int, KernelStep)
  /// The statement on this line ended the named task's block.
  case ends(Int, String)

  /// `start`, `line 7`, `line 7 free_pages_prepare`, `line 7 (cpu ends)`.
  package var text: String {
    switch self {
    case .start: "start"
    case .line(let line): "line \(line)"
    case .step(let line, let step): "line \(line) \(step.rawValue)"
    case .ends(let line, let task): "line \(line) (\(task) ends)"
    }
  }
}

/// How a run chooses at each point.
package enum ChoicePolicy: Sendable {
  /// Follow these choices, then the default (keep the running task; when it
  /// ends, the first unfinished block in file order).
  case prefix([String])
  /// PCT (Burckhardt et al., ASPLOS 2010): each task a random priority, the
  /// highest enabled runs; at each listed point the running task drops to
  /// the lowest priority so far.
  case pct(seed: UInt64, changePoints: Set<Int>)
}

/// What one schedule did.
package struct ScheduleOutcome: Sendable {
  package var points: [SchedulePoint]
  package var result: FixtureResult
  /// For each `expect schedules=` line, in order: whether its check held in this schedule.
  package var checks: [Bool]
  /// A choice of the schedule that named no runnable task (replay of a schedule made for another fixture).
  package var mismatch: ScheduleError?
  /// Choices past the last scheduling point of the run (`run --schedule`
  /// says so; the search's own trials may end early on purpose).
  package var overrun: ScheduleError?
  /// The driver symbols the run made (`RunOptions.driverSymbols`).
  package var driverSymbols: [String: String] = [:]
  /// With `footprints: true`: what each task-block statement touched, by statement index.
  var footprints: [Int: Footprint] = [:]
  /// How many times the run switched from one carrier (stack) to another
  /// (none when every choice is made between statements).
  var carrierSwitches = 0

  /// The footprint of the step `task` runs if chosen at `point` (everything when unknown).
  func footprint(_ point: SchedulePoint, _ task: String) -> Footprint {
    guard let k = point.enabled.firstIndex(of: task), k < point.pending.count else { return .everything }
    return footprints[point.pending[k]] ?? .everything
  }

  /// The schedule that reproduces this run: the choices up to the last one the default would not have made.
  package var schedule: Schedule {
    var last = -1
    for (i, p) in points.enumerated() where p.chosen != Self.defaultChoice(p) { last = i }
    return Schedule(choices: points.prefix(last + 1).map(\.chosen))
  }

  package var preemptions: Int {
    guard let p = points.last else { return 0 }
    return p.preemptions + (p.current.map { $0 != p.chosen } ?? false ? 1 : 0)
  }

  static func defaultChoice(_ p: SchedulePoint) -> String { p.current ?? p.enabled[0] }
}

/// Runs a fixture under one schedule: statements outside task blocks on the
/// calling thread; each group of blocks on carriers (`Carrier`: a stack
/// each, switched on the calling thread), exactly one of them running at a
/// time, switched at statement ends and kernel steps. A block between
/// statements has no carrier: the carrier that ends a statement runs the
/// next statement of the block chosen, so the default schedule runs on the
/// calling thread's own stack alone. A block stopped inside a statement (at
/// a kernel step) keeps its carrier, parked, until chosen; a block chosen
/// then gets an idle carrier of the thread's `CarrierPool`. The machine and
/// the runner do not know: the run is a `KernelStepObserver`.
final class ScheduleRun: KernelStepObserver, @unchecked Sendable {
  private final class GroupTask: @unchecked Sendable {
    let name: String
    /// The block's statements in the order the task runs them (its loops unrolled).
    var cursor: ExecutionCursor
    /// The names (without their index) the block's statements bind.
    let binds: Set<String>
    /// Whether the current statement has started (a task inside a statement never waits for a name).
    var started = false
    /// The line of the statement the task ran last (0 before its first).
    var line = 0
    var finished = false
    /// The IOMMU whose translation of this task's device request is in flight (parked at `deviceTranslated`).
    var inFlight: String?
    /// The carrier running this task's statement, or parked inside it at a
    /// kernel step while another task runs; nil between statements.
    var carrier: Carrier?
    init(name: String, cursor: ExecutionCursor, binds: Set<String>) {
      self.name = name
      self.cursor = cursor
      self.binds = binds
    }
    var currentStatement: Int? { cursor.current }
  }

  /// How `carry` stopped.
  private enum CarryEnd {
    /// Every block of the group finished.
    case done
    /// The task to run is on this carrier: the caller hands over to it
    /// (`leave`); this carrier has no work then.
    case handOver(Carrier)
  }

  private var session: FixtureSession!
  private let policy: ChoicePolicy
  private var tasks: [GroupTask] = []
  /// The names of `tasks`, made once per group: every point of the group
  /// shares this one array (`SchedulePoint.group`).
  private var taskNames: [String] = []
  private var running: Int?
  private var points: [SchedulePoint] = []
  private var preemptions = 0
  private var aborted = false
  private var mismatch: ScheduleError?
  /// The calling thread's carriers.
  private let pool = CarrierPool.current
  /// The calling thread's stack, as a carrier.
  private var home: Carrier { pool.home }
  private var rng: SplitMix64
  private var priorities: [String: Int] = [:]
  private var lowest = 0
  private let recorder: FootprintRecorder?
  /// The tasks of a group that all waited for names (the first then ran on).
  private var deadlock: Diagnostic?
  /// The task waiting in `drainRequests` for the task it runs.
  private var drainer: Int?
  /// The tasks `drainRequests` ran since the last point.
  private var drained: [String] = []
  private var carrierSwitches = 0

  private init(policy: ChoicePolicy, recorder: FootprintRecorder?) {
    self.policy = policy
    self.recorder = recorder
    Self.alive += 1
    if case .pct(let seed, _) = policy { rng = SplitMix64(seed: seed) } else { rng = SplitMix64(seed: 0) }
  }

  /// The runs alive now on the calling thread (a finished one is freed: an
  /// idle carrier holds none).
  static var alive: Int {
    get { aliveCount.value }
    set { aliveCount.value = newValue }
  }
  private static let aliveCount = ThreadCounter()

  deinit { Self.alive -= 1 }

  /// The schedules run so far on the calling thread (`bench --explore`'s
  /// `runs`; a search runs its schedules on the thread that called it).
  static var started: Int {
    get { startedCount.value }
    set { startedCount.value = newValue }
  }
  private static let startedCount = ThreadCounter()

  /// Runs `parsed` under `policy`. A fixture that cannot start gives its result with no points.
  /// With `footprints`, records what each task-block statement touches (the partial-order reduction's input).
  static func run(
    _ parsed: ParsedFixture, options: RunOptions, policy: ChoicePolicy, footprints: Bool = false
  ) -> ScheduleOutcome {
    started += 1
    var options = options
    var recorder: FootprintRecorder?
    if footprints, options.observer == nil {
      let r = FootprintRecorder(pageShift: parsed.memory.pageShift)
      options.observer = r
      recorder = r
    }
    let run = ScheduleRun(policy: policy, recorder: recorder)
    switch FixtureSession.start(parsed: parsed, options: options, steps: run) {
    case .failure(let failure):
      return ScheduleOutcome(points: [], result: failure.result, checks: [], mismatch: nil)
    case .success(let session):
      run.session = session
      run.runAll()
      let checks = run.evaluate()
      let symbols = session.driverSymbols
      var result = session.finish()
      if let deadlock = run.deadlock { result.diagnostics.insert(deadlock, at: 0) }
      run.session = nil
      var outcome = ScheduleOutcome(
        points: run.points, result: result, checks: checks, mismatch: run.mismatch, driverSymbols: symbols,
        carrierSwitches: run.carrierSwitches)
      if case .prefix(let choices) = policy, choices.count > run.points.count, !run.aborted {
        let last = run.points.last.map { " (the last: point \(run.points.count), \($0.label))" } ?? ""
        outcome.overrun = ScheduleError(
          message:
            "the schedule makes \(Plural.count(choices.count, "choice")), but this run has \(Plural.count(run.points.count, "scheduling point"))\(last); the choices from '\(choices[run.points.count])' at point \(run.points.count + 1) on were never made"
        )
      }
      if let recorder, !run.aborted {
        for (i, s) in parsed.statements.enumerated() where s.block != nil {
          var f = Footprint.floor(s)
          if let seen = recorder.touched[i] {
            f.all = f.all || seen.all
            f.writes.formUnion(seen.writes)
          }
          outcome.footprints[i] = f
        }
      }
      return outcome
    }
  }

  private func runAll() {
    let statements = session.parsed.statements
    var cursor = session.parsed.executionOrder(stopsAtBlocks: true)
    while let i = cursor.current, !aborted {
      guard let block = statements[i].block else {
        recorder?.current = nil
        if !session.runStatement(i, loops: cursor.loops) { aborted = true }
        cursor.advance()
        continue
      }
      // The group: its blocks are contiguous, each a range of statements.
      var end = i
      var group: [GroupTask] = []
      while end < statements.count, let b = statements[end].block, b.group == block.group {
        var last = end
        while last < statements.count, statements[last].block?.block == b.block { last += 1 }
        let binds = Set(statements[end..<last].compactMap { $0.binding.map { NameIndex.base(of: $0.name) } })
        let task = GroupTask(
          name: b.task, cursor: ExecutionCursor(statements, range: end..<last, loops: cursor.loops), binds: binds)
        if task.currentStatement != nil { group.append(task) }
        end = last
      }
      if !group.isEmpty { runGroup(group) }
      cursor.jump(to: end)
    }
  }

  private func runGroup(_ group: [GroupTask]) {
    tasks = group
    taskNames = group.map(\.name)
    drained = []
    if case .pct = policy {
      // Random distinct priorities above every change point's.
      var order = Array(group.indices)
      for k in stride(from: order.count - 1, to: 0, by: -1) {
        order.swapAt(k, Int(rng.next() % UInt64(k + 1)))
      }
      for (rank, t) in order.enumerated() { priorities[group[t].name] = 1_000_000 + rank }
    }
    let first = choose(current: nil, label: .start)
    running = first
    // When another carrier ends the group, it switches back to this one.
    if case .handOver(let next) = carry(first, on: home) { home.switchTo(leave(home, for: next)) }
    running = nil
    tasks = []
  }

  /// Runs task `first` from between its statements on carrier `me`, and
  /// the tasks chosen after it while they are between statements, until the
  /// group ends or a task parked on another carrier is chosen.
  private func carry(_ first: Int, on me: Carrier) -> CarryEnd {
    let statements = session.parsed.statements
    var t = first
    carrying: while true {
      let task = tasks[t]
      while let i = task.currentStatement, !aborted {
        recorder?.current = i
        task.carrier = me
        task.started = true
        task.line = statements[i].line
        if !session.runStatement(i, loops: task.cursor.loops) { aborted = true }
        task.cursor.advance()
        task.started = false
        task.carrier = nil
        task.inFlight = nil
        if task.currentStatement == nil || aborted { break }
        switch next(current: t, label: .line(task.line)) {
        case .run(let next) where next == t: continue
        case .run(let next):
          t = next
          continue carrying
        case .stop(let end): return end
        }
      }
      task.finished = true
      task.inFlight = nil
      switch next(current: nil, label: .ends(task.line, task.name)) {
      case .run(let next): t = next
      case .stop(let end): return end
      }
    }
  }

  /// What `carry` does between statements.
  private enum Between {
    /// Run this task's next statement on the same carrier.
    case run(Int)
    case stop(CarryEnd)
  }

  /// Between statements, after task `current`'s statement (nil: after a task
  /// ended): hands back to the drainer if a task waits in `drainRequests`,
  /// else chooses the next task at point `label`; a task parked on its
  /// carrier is handed over to.
  private func next(current: Int?, label: PointLabel) -> Between {
    if let d = drainer {
      drainer = nil
      running = d
      return .stop(.handOver(tasks[d].carrier!))
    }
    guard tasks.contains(where: { !$0.finished }) else { return .stop(.done) }
    let next = choose(current: current, label: label)
    running = next
    if let c = tasks[next].carrier { return .stop(.handOver(c)) }
    return .run(next)
  }

  /// A kernel step of the running task's statement: a scheduling point.
  func kernelStep(_ step: KernelStep) {
    guard let t = running, let i = tasks[t].currentStatement else { return }
    session.stash(statement: i)
    handOff(from: t, label: .step(session.parsed.statements[i].line, step))
  }

  func requestTranslated(unit: String) {
    guard let t = running, let i = tasks[t].currentStatement else { return }
    session.stash(statement: i)
    handOff(from: t, label: .step(session.parsed.statements[i].line, .deviceTranslated), inFlight: unit)
  }

  /// Runs each task whose request `unit` translated until its access landed
  /// (its next point), then goes on: not a scheduling choice.
  func drainRequests(unit: String) {
    guard let me = running else { return }
    while let t = tasks.indices.first(where: { $0 != me && tasks[$0].inFlight == unit }) {
      drainer = me
      running = t
      if !drained.contains(tasks[t].name) { drained.append(tasks[t].name) }
      park(me, for: tasks[t].carrier!)
      running = me
      recorder?.current = tasks[me].currentStatement
    }
  }

  /// Carrier `me`, between statements, goes idle: returns `next`, the
  /// carrier to switch to. The switch is the caller's, after its work
  /// returned (a pool carrier's frames then hold nothing of this run).
  private func leave(_ me: Carrier, for next: Carrier) -> Carrier {
    carrierSwitches += 1
    pool.keepIdle(me)
    return next
  }

  /// Parks the running task `t` on its carrier and runs `next`; returns once `t` is chosen again.
  private func park(_ t: Int, for next: Carrier) {
    carrierSwitches += 1
    tasks[t].carrier!.switchTo(next)
  }

  /// Chooses at a point inside task `t`'s statement; parks it if another
  /// runs. `inFlight`: the task's device request is translated by that
  /// IOMMU and has not landed. A task run by `drainRequests` goes back to
  /// the drainer instead, and waits there, with no choice recorded, until chosen.
  private func handOff(from t: Int, label: PointLabel, inFlight: String? = nil) {
    let task = tasks[t]
    task.inFlight = inFlight
    if let d = drainer {
      drainer = nil
      running = d
      park(t, for: tasks[d].carrier!)
      recorder?.current = task.currentStatement
      return
    }
    let next = choose(current: t, label: label)
    guard next != t else { return }
    running = next
    if let c = tasks[next].carrier {
      park(t, for: c)
    } else {
      let c = pool.take()
      c.work = { c in
        switch self.carry(next, on: c) {
        case .done: self.leave(c, for: self.home)
        case .handOver(let other): self.leave(c, for: other)
        }
      }
      park(t, for: c)
    }
    recorder?.current = task.currentStatement
  }

  private func choose(current proposed: Int?, label: PointLabel) -> Int {
    var enabled = tasks.indices.filter { !tasks[$0].finished && !waits($0) }
    // Every unfinished task waits for a name no task binds now: the first
    // runs, and its statement fails as a use of an unbound name.
    if enabled.isEmpty {
      enabled = tasks.indices.filter { !tasks[$0].finished }
      if deadlock == nil, let t = enabled.first, let i = tasks[t].currentStatement {
        let waits = enabled.compactMap { k in waitingFor(k).map { "'\(tasks[k].name)' for '\($0)'" } }
        deadlock = Diagnostic(
          file: session.parsed.file, location: session.parsed.statements[i].location,
          message:
            "every task of the group waits for a name another of its tasks binds later (\(waits.joined(separator: ", "))): '\(tasks[t].name)' runs on, and its statement finds the name unbound"
        )
      }
    }
    // A task that waits cannot go on: choosing another is no preemption.
    let current = proposed.flatMap { enabled.contains($0) ? $0 : nil }
    let names = enabled.map { tasks[$0].name }
    let index = points.count
    var chosen = current ?? enabled[0]
    switch policy {
    case .prefix(let choices):
      if index < choices.count {
        if let k = enabled.first(where: { tasks[$0].name == choices[index] }) {
          chosen = k
        } else if mismatch == nil {
          mismatch = ScheduleError(
            message:
              "schedule point \(index + 1) (\(label.text)) chooses '\(choices[index])', but the tasks that can run are: "
              + names.joined(separator: ", "))
        }
      }
    case .pct(_, let changePoints):
      if changePoints.contains(index), let c = current {
        lowest -= 1
        priorities[tasks[c].name] = lowest
      }
      chosen = enabled.max { priorities[tasks[$0].name, default: 0] < priorities[tasks[$1].name, default: 0] }!
    }
    points.append(
      SchedulePoint(
        enabled: names, current: current.map { tasks[$0].name }, chosen: tasks[chosen].name,
        preemptions: preemptions, happened: label, pending: enabled.map { tasks[$0].currentStatement ?? -1 },
        drained: drained, group: taskNames))
    drained = []
    if let c = current, c != chosen { preemptions += 1 }
    return chosen
  }

  /// Whether task `t` waits at the start of a statement that uses a name
  /// another unfinished task of the group binds and that is not bound yet
  /// (FixtureLanguage.md: its step is not enabled until the name is bound).
  private func waits(_ t: Int) -> Bool { waitingFor(t) != nil }

  /// The name task `t` waits for (`waits`), if any.
  private func waitingFor(_ t: Int) -> String? {
    let task = tasks[t]
    guard !task.started else { return nil }
    var failed: NameReference?
    guard let statement = task.cursor.statement(failed: &failed) else { return nil }
    var waiting: String?
    _ = statement.operation.mappingNames { ref in
      if waiting == nil, !session.isBound(ref.name) {
        let base = NameIndex.base(of: ref.name)
        if tasks.indices.contains(where: { $0 != t && !tasks[$0].finished && tasks[$0].binds.contains(base) }) {
          waiting = ref.name
        }
      }
      return ref
    }
    return waiting
  }

  /// Each `expect schedules=` check in this schedule.
  private func evaluate() -> [Bool] {
    let result = session.parsed.scheduleExpectations
    guard !result.isEmpty else { return [] }
    return result.map { e in
      switch e.check {
      case .noReport: return sessionReports.isEmpty
      case .report(let want, let alone):
        let reports = sessionReports
        let matching = reports.filter { session.matches($0, want) }
        return !matching.isEmpty && (!alone || matching.count == reports.count)
      }
    }
  }

  private var sessionReports: [Report] { session.currentReports }
}

/// A count of the calling thread's own (a pthread key holding the integer).
private struct ThreadCounter: Sendable {
  private let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
  }()

  var value: Int {
    get { Int(bitPattern: pthread_getspecific(key)) }
    nonmutating set { pthread_setspecific(key, UnsafeRawPointer(bitPattern: newValue)) }
  }
}
