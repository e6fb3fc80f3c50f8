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
  /// What just happened: `start`, `line 7` (a statement ended), `line 7 free_pages_prepare` (a kernel step).
  package var label: String
  /// The statement (index) each enabled task runs a step of if chosen, in the order of `enabled`.
  var pending: [Int] = []
  /// The tasks whose device request landed inside the step before this point
  /// (`drainRequests`): their step ran as part of it.
  var drained: [String] = []
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
  /// The driver symbols the run made (`RunOptions.driverSymbols`).
  package var driverSymbols: [String: String] = [:]
  /// With `footprints: true`: what each task-block statement touched, by statement index.
  var footprints: [Int: Footprint] = [:]

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
/// calling thread; each group of blocks on one thread per block, exactly one
/// of them running at a time, switched at statement ends and kernel steps.
/// The machine and the runner do not know: the run is a `KernelStepObserver`.
final class ScheduleRun: KernelStepObserver, @unchecked Sendable {
  private final class GroupTask: @unchecked Sendable {
    let name: String
    let statements: [Int]
    var next = 0
    var finished = false
    /// The IOMMU whose translation of this task's device request is in flight (parked at `deviceTranslated`).
    var inFlight: String?
    let baton = DispatchSemaphore(value: 0)
    init(name: String, statements: [Int]) {
      self.name = name
      self.statements = statements
    }
    var currentStatement: Int? { next < statements.count ? statements[next] : nil }
  }

  private var session: FixtureSession!
  private let policy: ChoicePolicy
  private var tasks: [GroupTask] = []
  private var running: Int?
  private var points: [SchedulePoint] = []
  private var preemptions = 0
  private var aborted = false
  private var mismatch: ScheduleError?
  private let controller = DispatchSemaphore(value: 0)
  private var rng: SplitMix64
  private var priorities: [String: Int] = [:]
  private var lowest = 0
  private let recorder: FootprintRecorder?
  /// The task waiting in `drainRequests` for the task it runs.
  private var drainer: Int?
  /// The tasks `drainRequests` ran since the last point.
  private var drained: [String] = []

  private init(policy: ChoicePolicy, recorder: FootprintRecorder?) {
    self.policy = policy
    self.recorder = recorder
    if case .pct(let seed, _) = policy { rng = SplitMix64(seed: seed) } else { rng = SplitMix64(seed: 0) }
  }

  /// Runs `parsed` under `policy`. A fixture that cannot start gives its result with no points.
  /// With `footprints`, records what each task-block statement touches (the partial-order reduction's input).
  static func run(
    _ parsed: ParsedFixture, options: RunOptions, policy: ChoicePolicy, footprints: Bool = false
  ) -> ScheduleOutcome {
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
      let result = session.finish()
      run.session = nil
      var outcome = ScheduleOutcome(
        points: run.points, result: result, checks: checks, mismatch: run.mismatch, driverSymbols: symbols)
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
    var i = 0
    while i < statements.count, !aborted {
      guard let block = statements[i].block else {
        recorder?.current = nil
        if !session.runStatement(i) { aborted = true }
        i += 1
        continue
      }
      var end = i
      var byBlock: [(Int, String, [Int])] = []
      while end < statements.count, let b = statements[end].block, b.group == block.group {
        if let k = byBlock.firstIndex(where: { $0.0 == b.block }) {
          byBlock[k].2.append(end)
        } else {
          byBlock.append((b.block, b.task, [end]))
        }
        end += 1
      }
      runGroup(byBlock.map { GroupTask(name: $0.1, statements: $0.2) })
      i = end
    }
  }

  private func runGroup(_ group: [GroupTask]) {
    tasks = group
    drained = []
    if case .pct = policy {
      // Random distinct priorities above every change point's.
      var order = Array(group.indices)
      for k in stride(from: order.count - 1, to: 0, by: -1) {
        order.swapAt(k, Int(rng.next() % UInt64(k + 1)))
      }
      for (rank, t) in order.enumerated() { priorities[group[t].name] = 1_000_000 + rank }
    }
    for t in group.indices {
      let task = group[t]
      let thread = Thread { [self] in self.body(task) }
      thread.stackSize = 8 << 20
      thread.start()
    }
    let first = choose(current: nil, label: "start")
    running = first
    group[first].baton.signal()
    controller.wait()
    running = nil
    tasks = []
  }

  private func body(_ task: GroupTask) {
    task.baton.wait()
    while let i = task.currentStatement, !aborted {
      recorder?.current = i
      if !session.runStatement(i) { aborted = true }
      task.next += 1
      if task.currentStatement == nil || aborted { break }
      handOff(from: task, label: "line \(session.parsed.statements[i].line)")
    }
    task.finished = true
    task.inFlight = nil
    if let d = drainer {
      drainer = nil
      running = d
      tasks[d].baton.signal()
      return
    }
    let line = task.statements.last.map { session.parsed.statements[$0].line } ?? 0
    guard tasks.contains(where: { !$0.finished }) else {
      controller.signal()
      return
    }
    let next = choose(current: nil, label: "line \(line) (\(task.name) ends)")
    running = next
    tasks[next].baton.signal()
  }

  /// A kernel step of the running task's statement: a scheduling point.
  func kernelStep(_ step: KernelStep) {
    guard let t = running, let i = tasks[t].currentStatement else { return }
    session.stash(statement: i)
    handOff(from: tasks[t], label: "line \(session.parsed.statements[i].line) \(step.rawValue)")
  }

  func requestTranslated(unit: String) {
    guard let t = running, let i = tasks[t].currentStatement else { return }
    session.stash(statement: i)
    handOff(
      from: tasks[t], label: "line \(session.parsed.statements[i].line) \(KernelStep.deviceTranslated.rawValue)",
      inFlight: unit)
  }

  /// Runs each task whose request `unit` translated until its access landed
  /// (its next point), then goes on: not a scheduling choice.
  func drainRequests(unit: String) {
    guard let me = running else { return }
    while let t = tasks.indices.first(where: { $0 != me && tasks[$0].inFlight == unit }) {
      drainer = me
      running = t
      if !drained.contains(tasks[t].name) { drained.append(tasks[t].name) }
      tasks[t].baton.signal()
      tasks[me].baton.wait()
      running = me
      recorder?.current = tasks[me].currentStatement
    }
  }

  /// Chooses at a point where `task` could go on; parks it if another runs.
  /// `inFlight`: the task's device request is translated by that IOMMU and
  /// has not landed. A task run by `drainRequests` goes back to the drainer
  /// instead, and waits there, with no choice recorded, until chosen.
  private func handOff(from task: GroupTask, label: String, inFlight: String? = nil) {
    guard let me = tasks.firstIndex(where: { $0 === task }) else { return }
    task.inFlight = inFlight
    if let d = drainer {
      drainer = nil
      running = d
      tasks[d].baton.signal()
      task.baton.wait()
      recorder?.current = task.currentStatement
      return
    }
    let next = choose(current: me, label: label)
    guard next != me else { return }
    let baton = task.baton
    running = next
    tasks[next].baton.signal()
    baton.wait()
    recorder?.current = task.currentStatement
  }

  private func choose(current: Int?, label: String) -> Int {
    let enabled = tasks.indices.filter { !tasks[$0].finished }
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
              "schedule point \(index + 1) (\(label)) chooses '\(choices[index])', but the tasks that can run are: "
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
        preemptions: preemptions, label: label, pending: enabled.map { tasks[$0].currentStatement ?? -1 },
        drained: drained))
    drained = []
    if let c = current, c != chosen { preemptions += 1 }
    return chosen
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
