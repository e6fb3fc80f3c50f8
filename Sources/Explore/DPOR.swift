/// A point of the dynamic partial-order reduction's tree: the prefix of
/// choices that reaches it, its sleep set, and the tasks run from it.
final class DPORNode {
  var children: [String: DPORNode] = [:]
  /// The tasks asleep at this point (their step here is covered by another schedule).
  var sleep: [String]
  /// The tasks chosen here so far (run or queued), in order: DPOR's backtrack set.
  var done: [String] = []
  /// How many tasks could run here.
  var alternatives: Int

  init(sleep: [String], alternatives: Int) {
    self.sleep = sleep
    self.alternatives = alternatives
  }

  /// The child reached by choosing `task` here.
  func child(_ task: String) -> DPORNode {
    if let c = children[task] { return c }
    let c = DPORNode(sleep: [], alternatives: 0)
    children[task] = c
    return c
  }

  /// The alternatives of every point of the tree that the reduction did not run.
  var unexplored: Int {
    var total = 0
    var stack = [self]
    while let n = stack.popLast() {
      total += max(0, n.alternatives - n.done.count)
      stack.append(contentsOf: n.children.values)
    }
    return total
  }
}

/// Dynamic partial-order reduction (Flanagan and Godefroid, "Dynamic
/// partial-order reduction for model checking software", POPL 2005): the
/// races of a schedule that ran, each a point where another task should run.
enum DPOR {
  /// The backtrack points of `outcome`'s first `end` steps (the step at point
  /// `k` is the chosen task's, up to point `k + 1`): for each step of task `p`,
  /// each earlier step of another task in its group that is dependent with it
  /// (their footprints conflict) and does not happen before `p`'s previous
  /// step is a race, and `p` should run at that step's point. As FG's
  /// algorithm does at each state of the trace: every such step since `p`'s
  /// previous one, and the last one before it. When `end` is before the last
  /// point (a sleeping default choice cut the schedule), the tasks' pending
  /// steps at point `end` count as steps too.
  static func backtracks(_ outcome: ScheduleOutcome, end: Int) -> [(point: Int, task: String)] {
    let points = outcome.points
    var result: [(point: Int, task: String)] = []
    var added: Set<String> = []
    func add(_ i: Int, _ task: String) {
      let tasks = points[i].enabled.contains(task) ? [task] : points[i].enabled
      for t in tasks where added.insert("\(i) \(t)").inserted { result.append((i, t)) }
    }
    var start = 0
    var position: [String: Int] = [:]
    var steps: [Footprint] = []
    /// The steps (points) of each task of the group since `start`, in order.
    var stepsByTask: [[Int]] = []
    var taskClock: [String: [Int]] = [:]
    var zero: [Int] = []

    /// Adds the races of a step of `p` with footprint `f` at point `j`; returns `p`'s clock before it.
    func races(_ j: Int, _ p: String, _ f: Footprint) -> [Int] {
      let clock = taskClock[p] ?? zero
      let pk = position[p] ?? -1
      let previous = pk >= 0 ? clock[pk] : -1
      // Each other task's steps, latest first, down to the last one that
      // happens before (program order: the earlier ones do too): the cost
      // is the steps that race, not every earlier step.
      var below = -1
      for (k, list) in stepsByTask.enumerated() where k != pk {
        for i in list.reversed() {
          if i <= clock[k] { break }
          guard steps[i - start].conflicts(with: f) else { continue }
          if i > previous {
            add(i, p)
          } else {
            // Below p's previous step only the last race counts.
            below = max(below, i)
            break
          }
        }
      }
      if below >= 0 { add(below, p) }
      return clock
    }

    // The clocks of the earlier steps a step depends on, summarized per
    // resource (`Footprint.Resource`) so that a step's clock costs its
    // footprint, not a pass over every earlier step: the writers of a
    // resource are ordered (they conflict), so the last one's clock covers
    // them; the readers since then are joined; a step that touches
    // everything depends on every earlier step (`joinAll`) and every later
    // step on it (`lastAll`).
    var lastWrite: [Footprint.Resource: [Int]] = [:]
    var readsSince: [Footprint.Resource: [Int]] = [:]
    var lastAll: [Int]?
    var joinAll: [Int] = []
    func join(_ a: inout [Int], _ b: [Int]) {
      for k in a.indices where b[k] > a[k] { a[k] = b[k] }
    }

    for j in 0..<min(end, points.count) {
      let point = points[j]
      if point.isStart {
        start = j
        // Every task of the group, not only those enabled at its start (a
        // task waiting for a name runs later, and its steps race too).
        position = Dictionary(uniqueKeysWithValues: point.group.enumerated().map { ($1, $0) })
        steps = []
        stepsByTask = Array(repeating: [], count: point.group.count)
        taskClock = [:]
        zero = Array(repeating: -1, count: point.group.count)
        lastWrite = [:]
        readsSince = [:]
        lastAll = nil
        joinAll = zero
      }
      let p = point.chosen
      var f = outcome.footprint(point, p)
      let drained = j + 1 < points.count ? points[j + 1].drained : []
      for d in drained { f.formUnion(outcome.footprint(point, d)) }
      var clock = races(j, p, f)
      if f.all {
        join(&clock, joinAll)
      } else {
        if let c = lastAll { join(&clock, c) }
        for r in f.reads { if let c = lastWrite[r] { join(&clock, c) } }
        for r in f.writes {
          if let c = lastWrite[r] { join(&clock, c) }
          if let c = readsSince[r] { join(&clock, c) }
        }
      }
      if let k = position[p] { clock[k] = j }
      join(&joinAll, clock)
      if f.all {
        lastAll = clock
        lastWrite = [:]
        readsSince = [:]
      } else {
        for r in f.writes {
          lastWrite[r] = clock
          readsSince[r] = nil
        }
        for r in f.reads where !f.writes.contains(r) {
          var c = readsSince[r] ?? zero
          join(&c, clock)
          readsSince[r] = c
        }
      }
      steps.append(f)
      if let k = position[p] { stepsByTask[k].append(j) }
      taskClock[p] = clock
      for d in drained {
        var c = taskClock[d] ?? zero
        for (k, v) in clock.enumerated() where v > c[k] { c[k] = v }
        taskClock[d] = c
      }
    }
    if end < points.count, !points[end].isStart {
      let point = points[end]
      for p in point.enabled { _ = races(end, p, outcome.footprint(point, p)) }
    }
    return result
  }
}
