import KernelTypes

/// `task NAME {` ... `}` blocks and `expect schedules=...` lines.
extension ParserState {
  /// Parses a block's opening or closing line; false when the line is neither.
  mutating func parseTaskBlockLine() -> Bool {
    guard let first = tokens.first, !first.hasString else { return false }
    let head = text(word(first))
    if tokens.count == 1, head == "}" {
      if let open = openBlock {
        if let loop = loops.last, loop.block == open.block.block {
          error(
            "'}' closes task block '\(open.name)' while its 'repeat' at line \(loop.line) is open; close the loop with 'end' first",
            column: first.column)
          loops.removeAll { $0.block == open.block.block }
        }
        openBlock = nil
      } else if unopenedBlocks > 0 {
        // The '}' of a block whose opening line had an error (reported there).
        unopenedBlocks -= 1
      } else {
        error("'}' closes no task block", column: first.column)
      }
      target = .none
      lastDefinedName = nil
      return true
    }
    guard head == "task", tokens.count >= 2, !isLoneEquals(tokens[1]) else { return false }
    let last = tokens[tokens.count - 1]
    guard !last.hasString, text(word(last)) == "{" || tokens.count == 2 else { return false }
    target = .none
    lastDefinedName = nil
    guard tokens.count == 3 else {
      error("a task block opens with 'task NAME {' on a line of its own", column: first.column)
      unopenedBlocks += 1
      return true
    }
    let nameWord = word(tokens[1])
    guard nameWord.string == nil, NameSyntax.isValid(bytes(nameWord)) else {
      error("invalid task name '\(quoted(nameWord))': \(NameSyntax.rule)", at: nameWord)
      unopenedBlocks += 1
      return true
    }
    let name = text(nameWord)
    if let open = openBlock {
      error(
        "task blocks do not nest: '\(open.name)' (line \(open.line)) is still open; close it with '}'", at: nameWord)
      unopenedBlocks += 1
      return true
    }
    if statementSinceBlock {
      groupCount += 1
      groupTasks = []
    }
    if groupTasks.contains(name) {
      error("task '\(name)' already has a block in this group; a task runs one block at a time", at: nameWord)
      unopenedBlocks += 1
      return true
    }
    groupTasks.insert(name)
    statementSinceBlock = false
    openBlock = (name, line, TaskBlock(group: groupCount - 1, block: blockCount, task: name))
    blockCount += 1
    return true
  }

  /// Puts a statement into the open block, if any: it runs as the block's
  /// task. Outside blocks, a statement ends the group of blocks before it.
  mutating func placeInBlock(_ task: inout NameReference?, verb: Verb, column: Int) -> TaskBlock? {
    guard let open = openBlock else {
      statementSinceBlock = true
      return nil
    }
    if let prefix = task {
      error(
        "a statement in task block '\(open.name)' runs as that task; remove '@\(prefix.name)'", column: column)
    }
    if verb.section == 2 {
      error(
        "'\(verb.rawValue)' describes the machine and cannot be in a task block; put it before the first block",
        column: verbColumn)
    }
    task = NameReference(name: open.name, location: SourceLocation(line: line, column: column))
    return open.block
  }

  /// Parses `expect schedules=some|none|all report KIND [filters] [count=N] [alone]`
  /// or `expect schedules=... no-report`.
  mutating func parseScheduleExpectation(_ words: [Word], text lineText: String, location: SourceLocation) {
    let head = words[0]
    let value = text(head).dropFirst("schedules=".count)
    guard let quantifier = ScheduleExpectation.Quantifier(rawValue: String(value)) else {
      error(
        "'schedules=' takes some, none or all, not '\(value)'\(Suggestion.didYouMean(String(value), among: ScheduleExpectation.Quantifier.allCases.map(\.rawValue)))",
        at: head)
      return
    }
    var rest = Array(words.dropFirst())
    var alone = false
    if rest.count > 2, let last = rest.last, last.string == nil, text(last) == "alone" {
      alone = true
      rest.removeLast()
    }
    guard !rest.isEmpty else {
      error("'expect schedules=' checks 'report KIND [filters] [alone]' or 'no-report'", at: head)
      return
    }
    guard let kind = parseExpectationKind(rest) else { return }
    let check: ScheduleExpectation.Check
    var count: UInt64?
    switch kind {
    case .report(var want):
      // `count=N` on a schedules line counts schedules, not reports.
      count = want.count
      want.count = nil
      if count != nil, quantifier != .some {
        let countWord = rest.first { $0.string == nil && text($0).hasPrefix("count=") } ?? head
        error(
          "'count=' says in how many schedules a 'schedules=some' line holds; 'schedules=\(quantifier.rawValue)' takes none",
          at: countWord)
        return
      }
      check = .report(want, alone: alone)
    case .noReport: check = .noReport
    default:
      error("'expect schedules=' checks 'report KIND [filters]' or 'no-report'", at: rest[0])
      return
    }
    scheduleExpectations.append(
      ScheduleExpectation(
        quantifier: quantifier, check: check, location: location, text: lineText, count: count.map { Int($0) }))
  }

  /// Whether an `expect` line's first word is `schedules=...`.
  func isScheduleExpectation(_ words: [Word]) -> Bool {
    guard let first = words.first, first.string == nil else { return false }
    return text(first).hasPrefix("schedules=")
  }
}
