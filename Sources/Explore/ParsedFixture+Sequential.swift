import FixtureLanguage
import FixtureRunner

extension ParsedFixture {
  /// The fixture as one sequence, for the plain run that `iommusan bench
  /// --explore` measures a schedule against: each group's statements in the
  /// order the default schedule runs them, found by running that schedule
  /// once (`ScheduleRun`'s rule is the one place it is written: the running
  /// task keeps running; a task that waits for a name another block binds
  /// lets the next block run). A block the run left halfway, to wait, is
  /// split there, unless the wait is inside one of its loops: then it stays
  /// whole, where it started (the plain run then does the default
  /// schedule's work in another order). A group the run never reached keeps
  /// its file order. A plain run of the fixture as written would stop at
  /// the first use of a name a later block binds ("use of unbound name"),
  /// skipping the rest, and cost less than the run `iommusan run` makes.
  package var sequential: ParsedFixture {
    // Per group (its `TaskBlock.group`, first iteration only): the runs of
    // one task in the default schedule, each with the statement it began at.
    var segments: [Int: [(task: String, statement: Int)]] = [:]
    var group: Int?
    for p in ScheduleRun.run(self, options: RunOptions(), policy: .prefix([])).points {
      if p.isStart {
        group =
          p.pending.lazy.compactMap { i in self.statements.indices.contains(i) ? self.statements[i].block : nil }
          .first?.group
        if let g = group, segments[g] != nil { group = nil }
        if let g = group { segments[g] = [] }
      }
      guard let g = group, let k = p.enabled.firstIndex(of: p.chosen), k < p.pending.count else { continue }
      if segments[g]?.last?.task != p.chosen { segments[g]?.append((p.chosen, p.pending[k])) }
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
      reordered += pieces(of: blocks, in: segments[group] ?? []).flatMap { statements[$0] }
      i = end
    }
    result.statements = reordered
    return result
  }

  /// The pieces of a group's blocks in the order of the run's `segments`:
  /// a block is cut where a later segment of its task begins, if no loop of
  /// the block is open there (else it stays whole, at its first segment);
  /// blocks the run never started come last, in file order.
  private func pieces(of blocks: [(task: String, range: Range<Int>)], in segments: [(task: String, statement: Int)])
    -> [Range<Int>]
  {
    var ranked: [(rank: Int, range: Range<Int>)] = []
    for (n, block) in blocks.enumerated() {
      let mine = segments.indices.filter { segments[$0].task == block.task }
      guard let first = mine.first else {
        ranked.append((segments.count + n, block.range))
        continue
      }
      let cuts = mine.dropFirst().map { segments[$0].statement }
      let valid =
        zip([block.range.lowerBound] + cuts, cuts).allSatisfy { $0 < $1 }
        && cuts.allSatisfy { block.range.contains($0) && !insideLoop($0, of: block.range) }
      guard valid else {
        ranked.append((first, block.range))
        continue
      }
      let bounds = [block.range.lowerBound] + cuts + [block.range.upperBound]
      for (k, m) in mine.enumerated() { ranked.append((m, bounds[k]..<bounds[k + 1])) }
    }
    return ranked.enumerated().sorted { ($0.element.rank, $0.offset) < ($1.element.rank, $1.offset) }.map(
      \.element.range)
  }

  /// Whether statement `index` is inside a `repeat` of the block `range`.
  private func insideLoop(_ index: Int, of range: Range<Int>) -> Bool {
    statements[range.lowerBound..<index].indices.contains { r in
      if case .repeatBlock(_, _, let end) = statements[r].operation { return index <= end }
      return false
    }
  }
}
