/// Walks statements `range` of a fixture in the order a run executes them:
/// the body of each `repeat` COUNT times with its variable bound, `repeat`
/// and `end` themselves skipped (`Execution.run` for a whole fixture; one
/// task block, or the statements around the groups, for `iommusan
/// explore`). Lazy: it keeps the open loops, never the unrolled list.
package struct ExecutionCursor: Sendable {
  private let statements: [Statement]
  private let end: Int
  /// The statement to run next (a template: `statement` has its names as in this iteration).
  package private(set) var index: Int
  /// The loop variables at `index`, those of loops enclosing `range` first.
  package private(set) var loops: LoopEnvironment
  /// The loops opened inside the range: their `repeat`, count and iteration.
  private var frames: [(begin: Int, count: Int, iteration: Int)] = []
  /// Whether the cursor stops at the first statement of a task block, its
  /// `repeat` included (the explorer runs the group's blocks itself).
  private let stopsAtBlocks: Bool

  /// A cursor at the first statement of `range` that runs; `loops` are the
  /// variables of the loops around it.
  package init(
    _ statements: [Statement], range: Range<Int>, loops: LoopEnvironment = LoopEnvironment(),
    stopsAtBlocks: Bool = false
  ) {
    self.statements = statements
    self.stopsAtBlocks = stopsAtBlocks
    self.end = range.upperBound
    self.index = range.lowerBound
    self.loops = loops
    settle()
  }

  /// The statement to run next, or nil at the end of the range.
  package var current: Int? { index < end ? index : nil }

  /// The next statement as it runs in this iteration (`Statement.instantiated`);
  /// nil at the end, or when an index is negative (`failed` names it).
  package func statement(failed: inout NameReference?) -> Statement? {
    guard let i = current else { return nil }
    return statements[i].instantiated(in: loops, failed: &failed)
  }

  /// Moves past the statement run.
  package mutating func advance() {
    guard index < end else { return }
    index += 1
    settle()
  }

  /// Moves to statement `target` of the same loop level (past a group of task
  /// blocks, whose loops open and close inside their blocks).
  package mutating func jump(to target: Int) {
    index = min(max(target, index), end)
    settle()
  }

  /// Enters and repeats loops until `index` is a statement that runs.
  private mutating func settle() {
    while index < end {
      if stopsAtBlocks, statements[index].block != nil { return }
      switch statements[index].operation {
      case .repeatBlock(let count, let variable, _):
        frames.append((index, count, 0))
        loops.push(variable.name, 0)
        index += 1
      case .end:
        if let top = frames.last, top.iteration + 1 < top.count {
          frames[frames.count - 1].iteration += 1
          loops.setInnermost(Int64(top.iteration + 1))
          index = top.begin + 1
        } else {
          if frames.popLast() != nil { loops.pop() }
          index += 1
        }
      default:
        return
      }
    }
  }
}

extension ParsedFixture {
  /// A cursor over every statement of the fixture, in the order a run
  /// executes them; with `stopsAtBlocks`, it stops at each group of task
  /// blocks instead of entering their loops (`jump(to:)` goes past the group).
  package func executionOrder(stopsAtBlocks: Bool = false) -> ExecutionCursor {
    ExecutionCursor(statements, range: 0..<statements.count, stopsAtBlocks: stopsAtBlocks)
  }
}
