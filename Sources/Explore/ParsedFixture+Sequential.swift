import FixtureLanguage
import FixtureRunner

extension ParsedFixture {
  /// The fixture as one sequence, for the plain run that `iommusan bench
  /// --explore` measures a schedule against: each group's blocks in the
  /// order the default schedule starts them (`ScheduleRun`'s rule, the one
  /// place it is written: a task waiting for a name a later block binds
  /// lets the next block run first), found by running that schedule once;
  /// a group it never ran keeps its file order. A plain run of the fixture
  /// as written would stop at the first use of a name a later block binds
  /// ("use of unbound name"), skipping the rest, and cost less than the run
  /// `iommusan run` makes. (A block that waits halfway through, after its
  /// first statements ran, is still moved whole: the plain run is then the
  /// default schedule's work in another order.)
  package var sequential: ParsedFixture {
    // The tasks of each group (by its `TaskBlock.group`) in the order the
    // default schedule first chose them, in the group's first iteration.
    var orders: [Int: [String]] = [:]
    var group: Int?
    for p in ScheduleRun.run(self, options: RunOptions(), policy: .prefix([])).points {
      if p.isStart {
        group =
          p.pending.lazy.compactMap { i in self.statements.indices.contains(i) ? self.statements[i].block : nil }
          .first?.group
        if let g = group, orders[g] != nil { group = nil }
        if let g = group { orders[g] = [] }
      }
      if let g = group, orders[g]?.contains(p.chosen) == false { orders[g]?.append(p.chosen) }
    }
    var result = self
    var reordered: [Statement] = []
    reordered.reserveCapacity(statements.count)
    var i = 0
    while i < statements.count {
      guard let group = statements[i].block?.group else {
        reordered.append(statements[i])
        i += 1
        continue
      }
      // The group's blocks, each a contiguous range of statements.
      var blocks: [(task: String, range: Range<Int>)] = []
      var end = i
      while end < statements.count, let b = statements[end].block, b.group == group {
        var last = end
        while last < statements.count, statements[last].block?.block == b.block { last += 1 }
        blocks.append((b.task, end..<last))
        end = last
      }
      let order = orders[group] ?? []
      // Blocks the run started, in its order; then the others in file order.
      let rank = { (task: String) in order.firstIndex(of: task) ?? order.count }
      for b in blocks.enumerated().sorted(by: {
        (rank($0.element.task), $0.offset) < (rank($1.element.task), $1.offset)
      }) {
        reordered += statements[b.element.range]
      }
      i = end
    }
    result.statements = reordered
    return result
  }
}
