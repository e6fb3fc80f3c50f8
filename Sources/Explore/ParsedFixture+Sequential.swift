import FixtureLanguage

extension ParsedFixture {
  /// The fixture as one sequence, for the plain run that `iommusan bench
  /// --explore` measures a schedule against: in each group of task blocks,
  /// a block that uses a name another block of the group binds moves after
  /// that block, as the default schedule runs it (a task waits for a name a
  /// later block binds); otherwise blocks keep their file order. A plain
  /// run of the fixture as written would stop at the first use of a name a
  /// later block binds ("use of unbound name"), skipping the rest, and cost
  /// less than the run `iommusan run` makes.
  package var sequential: ParsedFixture {
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
      var blocks: [Range<Int>] = []
      var end = i
      while end < statements.count, let b = statements[end].block, b.group == group {
        var last = end
        while last < statements.count, statements[last].block?.block == b.block { last += 1 }
        blocks.append(end..<last)
        end = last
      }
      let binds = blocks.map { r in
        Set(statements[r].compactMap { $0.binding.map { NameIndex.base(of: $0.name) } })
      }
      let uses = blocks.map { r in
        var names = Set<String>()
        for s in statements[r] {
          _ = s.operation.mappingNames { ref in
            names.insert(NameIndex.base(of: ref.name))
            return ref
          }
        }
        return names
      }
      var remaining = Array(blocks.indices)
      while !remaining.isEmpty {
        // The first block in file order that uses no name a remaining other block binds.
        let ready =
          remaining.firstIndex { b in
            !remaining.contains { o in o != b && !binds[o].isDisjoint(with: uses[b].subtracting(binds[b])) }
          } ?? 0
        reordered += statements[blocks[remaining[ready]]]
        remaining.remove(at: ready)
      }
      i = end
    }
    result.statements = reordered
    return result
  }
}
