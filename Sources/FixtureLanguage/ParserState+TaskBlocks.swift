import KernelTypes

/// `task NAME {` ... `}` blocks and `expect schedules=...` lines.
extension ParserState {
  /// Parses a block's opening or closing line; false when the line is neither.
  mutating func parseTaskBlockLine() -> Bool {
    guard let first = tokens.first, !first.hasString else { return false }
    let head = text(word(first))
    if tokens.count == 1, head.count > 1, head.allSatisfy({ $0 == "}" }) {
      // `}}`: one mistake, one error; it closes the open block.
      error("write each '}' on a line of its own", column: first.column)
      openBlock = nil
      target = .none
      lastDefinedName = nil
      return true
    }
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
    let second = text(word(tokens[1]))
    if tokens.count >= 3, !tokens[2].hasString, text(word(tokens[2])) == "{", !last.hasString,
      text(word(last)) != "{"
    {
      // `task cpu { x = alloc_pages }`: a block on one line.
      target = .none
      lastDefinedName = nil
      error(
        "a task block opens with 'task NAME {' on a line of its own: put each statement, and the closing '}', on lines of their own",
        column: first.column)
      if text(word(last)) != "}" { unopenedBlocks += 1 }
      return true
    }
    guard !last.hasString, text(word(last)) == "{" || tokens.count == 2 else { return false }
    target = .none
    lastDefinedName = nil
    if tokens.count == 2, second.count > 1, second.hasSuffix("{") {
      // `task cpu{`
      error("write a space before '{': 'task \(second.dropLast()) {'", column: tokens[1].column)
      unopenedBlocks += 1
      return true
    }
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
      error(
        "task '\(name)' already has a block in this group; a task runs one block at a time (blocks with no statement between them form one group, blank lines do not separate groups: put a statement, such as 'advance 0ms', between them to run them one group after the other)",
        at: nameWord)
      unopenedBlocks += 1
      return true
    }
    groupTasks.insert(name)
    statementSinceBlock = false
    openBlock = (name, line, TaskBlock(group: groupCount - 1, block: blockCount, task: name))
    blockCount += 1
    return true
  }

  /// A use, in a task block, of a name not bound yet: another block of the
  /// group may bind it (the task waits for it), decided when the group ends.
  struct ForwardUse {
    var name: String
    var kinds: [BindingKind]
    var role: String
    var verb: String
    var line: Int
    var column: Int
    var group: Int
    var block: Int
    /// The error if nothing binds it, and its first part (`laterUses`).
    var message: String
    var prefix: String
    /// The line of the use, for the error's caret.
    var sourceLine: String?

    func diagnostic(file: String, _ message: String) -> Diagnostic {
      var d = Diagnostic(file: file, line: line, column: column, message: message)
      d.sourceLine = sourceLine
      return d
    }
  }

  /// At a binding in a task block: resolves the uses of the name that
  /// other blocks of its group made before it; a use in the same block is
  /// a use before the binding, an error as outside blocks.
  mutating func resolveForwardUses(_ name: NameReference, key: String, kind: BindingKind?) {
    guard !forwardUses.isEmpty, let open = openBlock else { return }
    let line = name.location.line
    var uses = forwardUses
    uses.removeAll { use in
      let same =
        use.name == key || use.name == name.name
        || (key.hasSuffix("[]") && NameIndex.base(of: use.name) == NameIndex.base(of: name.name))
      guard same, use.group == open.block.group else { return false }
      if use.block == open.block.block {
        append(use.diagnostic(file: file, use.prefix + ": '\(Quote.text(use.name))' is bound later, at line \(line)"))
      } else if let kind, !use.kinds.contains(kind) {
        append(
          use.diagnostic(
            file: file,
            "'\(Quote.text(use.name))' is \(kind.noun) (bound by task '\(open.name)' at line \(line)), but '\(use.verb)' needs \(use.role) here"
          ))
      }
      return true
    }
    forwardUses = uses
  }

  /// At the end of a group: a use no other block of it bound is an error.
  mutating func closeGroupUses() {
    for use in forwardUses {
      if laterUseCount < FixtureLimits.maxLaterUses {
        // A binding after the group says so (`define`).
        laterUseCount += 1
        laterUses[use.name, default: []].append((diagnostics.count, use.line, use.prefix))
      }
      append(use.diagnostic(file: file, use.message))
    }
    forwardUses = []
  }

  /// Puts a statement into the open block, if any: it runs as the block's
  /// task. Outside blocks, a statement ends the group of blocks before it.
  mutating func placeInBlock(_ task: inout NameReference?, verb: Verb, column: Int) -> TaskBlock? {
    guard let open = openBlock else {
      statementSinceBlock = true
      closeGroupUses()
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
    // `alone` after the kind, wherever among the filters it is written.
    if rest.count > 2,
      let k = rest.indices.dropFirst(2).first(where: { rest[$0].string == nil && text(rest[$0]) == "alone" })
    {
      alone = true
      rest.remove(at: k)
    }
    guard !rest.isEmpty else {
      error("'expect schedules=' checks 'report KIND [filters] [count=N] [alone]' or 'no-report'", at: head)
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
      if count == 0 {
        let countWord = rest.first { $0.string == nil && text($0).hasPrefix("count=") } ?? head
        error("'count=0' says the report is in no schedule: write 'schedules=none' instead", at: countWord)
        return
      }
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
      error("'expect schedules=' checks 'report KIND [filters] [count=N] [alone]' or 'no-report'", at: rest[0])
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
