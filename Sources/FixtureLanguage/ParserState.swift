import KernelTypes

/// The mutable state of one parse: the file, what has been bound, and the
/// statements and diagnostics so far.
struct ParserState {
  /// What a name is bound to at this point of the file.
  struct NameBinding {
    /// nil when the defining statement had an error (any kind is then accepted).
    var kind: BindingKind?
    var line: Int
    /// The line of the statement if an `expect error` says it fails.
    var failedLine: Int?
  }

  /// What the next `expect` line checks.
  enum ExpectTarget {
    /// No statement yet.
    case none
    /// The statement at this index of `statements`.
    case statement(Int)
    /// A statement with an error: expectations are checked but dropped.
    case invalid(Verb?)
  }

  /// A piece of a line: a whole token, or the value part of `key=value`.
  struct Word {
    var start: Int
    var end: Int
    var column: Int
    /// The decoded string when the word is a string.
    var string: [UInt8]?
    /// Index of the opening quote when `string` is set.
    var quote: Int = -1
  }

  /// A statement's arguments: positionals in order, then `key=value` pairs.
  struct Arguments {
    var positionals: [Word] = []
    var pairs: [(key: String, keyColumn: Int, value: Word)] = []
    /// Fewer positionals than the syntax requires (already reported).
    var isShort = false

    func value(_ key: String) -> Word? { pairs.first { $0.key == key }?.value }
    func values(_ key: String) -> [Word] { pairs.filter { $0.key == key }.map(\.value) }
    func positional(_ index: Int) -> Word? { index < positionals.count ? positionals[index] : nil }
  }

  /// The line being parsed (the parser keeps one line at a time).
  var source: [UInt8] = []
  /// Whether `source` holds the current line (not when it is too long).
  var lineIsKept = false
  let file: String
  /// The number of the last line seen.
  var lineNumber = 0
  var diagnostics: [Diagnostic] = []
  var statements: [Statement] = []
  var cmdline = Cmdline()
  var memory: MemoryConfiguration?
  var memoryLine: Int?
  /// The first statement of sections 3 to 8, after which `cmdline` and `memory` are errors.
  var firstRunStatement: (verb: Verb, line: Int)?
  var names: [String: NameBinding] = [:]
  /// The line of each `iommu` and `device` definition, by name.
  var iommuLines: [String: Int] = [:]
  var deviceLines: [String: Int] = [:]
  var statementCount = 0
  var target: ExpectTarget = .none
  /// The name the last statement defined, for `expect error`.
  var lastDefinedName: String?
  var stopped = false
  /// How many more unbound names get a "did you mean" (each costs a scan of all names).
  var suggestionBudget = 100
  /// Uses of unbound names, by name: the diagnostic's index, its line and its
  /// message without hint, rewritten if a later line binds the name.
  var laterUses: [String: [(index: Int, line: Int, prefix: String)]] = [:]
  var laterUseCount = 0
  /// The `repeat` blocks open at this line, outermost first.
  var loops: [LoopFrame] = []
  /// Whether the statement or expectation being parsed indexes a name by a loop variable.
  var usesLoopVariables = false
  /// The statements the run executes, loops unrolled (`FixtureLimits.maxExecutedStatements`).
  var executedStatements = 0
  /// The `task NAME {` block being parsed: its task, its line, its place.
  var openBlock: (name: String, line: Int, block: TaskBlock)?
  var blockCount = 0
  /// `task` lines with an error whose `}` is still to come (it closes nothing, and says nothing).
  var unopenedBlocks = 0
  /// Uses in task blocks of names no statement bound yet (`ForwardUse`).
  var forwardUses: [ForwardUse] = []
  var groupCount = 0
  /// Whether a statement outside every block came since the last block (the next block starts a group).
  var statementSinceBlock = true
  /// The tasks of the current group's blocks.
  var groupTasks: Set<String> = []
  var scheduleExpectations: [ScheduleExpectation] = []

  // The line being parsed.
  var tokens: [Token] = []
  var line = 0
  var lineStart = 0
  var verb: Verb = .expect
  var verbColumn = 1

  init(file: String) {
    self.file = file
    tokens.reserveCapacity(16)
  }

  func result() -> ParsedFixture {
    let sorted = diagnostics.enumerated().sorted { a, b in
      let (x, y) = (a.element, b.element)
      if x.line != y.line { return x.line < y.line }
      if x.column != y.column { return x.column < y.column }
      return a.offset < b.offset
    }.map(\.element)
    var all = sorted
    if let open = openBlock {
      all.append(
        Diagnostic(
          file: file, line: open.line, column: 1,
          message: "task block '\(open.name)' is not closed: end it with a line '}'"))
    }
    var parsed = ParsedFixture(
      file: file, statements: statements, diagnostics: all, cmdline: cmdline, memory: memory ?? .defaults,
      executedStatements: executedStatements)
    parsed.scheduleExpectations = scheduleExpectations
    return parsed
  }

  // MARK: - Diagnostics

  mutating func error(_ message: String, column: Int) {
    append(Diagnostic(file: file, line: line, column: column, message: message))
  }

  mutating func error(_ message: String, at word: Word) { error(message, column: word.column) }

  mutating func warning(_ message: String, column: Int) {
    append(Diagnostic(file: file, line: line, column: column, severity: .warning, message: message))
  }

  /// Adds a diagnostic about the current line, with the line's text for the caret line.
  mutating func append(_ diagnostic: Diagnostic) {
    var diagnostic = diagnostic
    if lineIsKept, diagnostic.line == lineNumber { diagnostic.keepSourceLine(source) }
    diagnostics.append(diagnostic)
  }

  var errorCount: Int { diagnostics.count }

  // MARK: - Text

  func bytes(_ word: Word) -> ArraySlice<UInt8> { source[word.start..<word.end] }
  func text(_ word: Word) -> String { String(decoding: source[word.start..<word.end], as: UTF8.self) }
  func quoted(_ word: Word) -> String { Quote.text(source[word.start..<word.end]) }

  func word(_ token: Token) -> Word {
    Word(
      start: token.start, end: token.end, column: token.column, string: token.hasString ? token.string : nil,
      quote: token.quote)
  }

  func isLoneEquals(_ token: Token) -> Bool {
    token.end == token.start + 1 && source[token.start] == UInt8(ascii: "=")
  }

  // MARK: - Lines

  /// Parses the next line of the file. `line` holds its bytes without the
  /// line feed, or only the first of them when the line is too long; `length`
  /// is the whole line's length (without a carriage return when cut short). A
  /// leading byte-order mark (line 1) and a trailing carriage return are dropped here.
  mutating func parse(line bytes: UnsafeRawBufferPointer, length fullLength: Int) {
    guard !stopped else { return }
    lineNumber += 1
    var start = 0
    var length = fullLength
    if lineNumber == 1, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
      start = 3
      length -= 3
    }
    if length > 0, length == bytes.count - start, bytes[start + length - 1] == 0x0D { length -= 1 }
    lineIsKept = length <= FixtureLimits.maxLineLength
    if lineIsKept {
      // Blank lines and comments cost nothing: they are not copied.
      var i = start
      while i < start + length, bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
      if i == start + length || bytes[i] == UInt8(ascii: "#") { return }
      source.removeAll(keepingCapacity: true)
      source.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + length)]))
    }
    parseLine(start: 0, end: length, number: lineNumber)
  }

  /// Whether the line's first word is `expect` (used after a lexical error).
  func startsWithExpect(start: Int, end: Int) -> Bool {
    var i = start
    while i < end, source[i] == 0x20 || source[i] == 0x09 { i += 1 }
    let word = Array("expect".utf8)
    guard end - i >= word.count, source[i..<(i + word.count)].elementsEqual(word) else { return false }
    let after = i + word.count
    return after == end || source[after] == 0x20 || source[after] == 0x09
  }

  mutating func parseLine(start: Int, end: Int, number: Int) {
    line = number
    lineStart = start
    let length = end - start
    if length > FixtureLimits.maxLineLength {
      error("line too long (\(length) bytes; the limit is \(FixtureLimits.maxLineLength))", column: 1)
      target = .invalid(nil)
      lastDefinedName = nil
      return
    }
    var contentEnd = start
    if let lexError = LineLexer.lex(source, start: start, end: end, into: &tokens, contentEnd: &contentEnd) {
      error(lexError.message, column: lexError.column)
      if !startsWithExpect(start: start, end: end) {
        target = .invalid(nil)
        lastDefinedName = nil
      }
      return
    }
    guard let first = tokens.first else { return }
    if parseTaskBlockLine() { return }
    let lineText = String(decoding: source[first.start..<contentEnd], as: UTF8.self)
    let errorsBefore = errorCount

    // @TASK prefix.
    var index = 0
    var task: NameReference?
    if source[first.start] == UInt8(ascii: "@") {
      index = 1
      let nameWord = Word(start: first.start + 1, end: first.end, column: first.column + 1, string: nil)
      if first.hasString || nameWord.start == nameWord.end {
        error("missing task name after '@' (write '@irq')", column: first.column)
      } else if !NameSyntax.isValid(bytes(nameWord)) {
        error("invalid task name '\(quoted(nameWord))': \(NameSyntax.rule)", column: nameWord.column)
      } else {
        task = NameReference(name: text(nameWord), location: SourceLocation(line: line, column: nameWord.column))
      }
      if index >= tokens.count {
        error(
          "missing statement after the task prefix '\(Quote.text(source[first.start..<first.end]))'",
          column: first.column)
        target = .invalid(nil)
        lastDefinedName = nil
        return
      }
    }

    // NAME = prefix.
    var binding: NameReference?
    var bindingWord: Word?
    /// The `names` key the binding defines (`rx[]` for `rx[i]`).
    var bindingKey: String?
    usesLoopVariables = false
    if isLoneEquals(tokens[index]) {
      error("missing name before '=' (write 'NAME = VERB ...')", column: tokens[index].column)
      target = .invalid(nil)
      lastDefinedName = nil
      return
    }
    if index + 1 < tokens.count, isLoneEquals(tokens[index + 1]) {
      let nameWord = word(tokens[index])
      bindingWord = nameWord
      usesLoopVariables = false
      if nameWord.string == nil, bytes(nameWord).contains(UInt8(ascii: "[")) {
        if let indexed = indexedName(start: nameWord.start, end: nameWord.end, column: nameWord.column) {
          binding = NameReference(
            name: indexed.display, location: SourceLocation(line: line, column: nameWord.column), index: indexed.index)
          bindingKey = indexed.key
        }
      } else if nameWord.string != nil || !NameSyntax.isValid(bytes(nameWord)) {
        error("invalid name '\(quoted(nameWord))': \(NameSyntax.rule)", at: nameWord)
      } else {
        binding = NameReference(name: text(nameWord), location: SourceLocation(line: line, column: nameWord.column))
      }
      if index + 2 >= tokens.count {
        error("missing statement after '='", column: tokens[index + 1].column)
        target = .invalid(nil)
        lastDefinedName = nil
        if let binding { define(binding, kind: nil, key: bindingKey) }
        return
      }
      index += 2
    }

    // The statement word.
    let verbToken = tokens[index]
    let verbWord = word(verbToken)
    verbColumn = verbToken.column
    guard verbWord.string == nil, let found = Verb.byName[text(verbWord)] else {
      let spelled = text(verbWord)
      var message = "unknown statement '\(quoted(verbWord))'"
      if verbWord.string != nil {
        message = "expected a statement word, found a string"
      } else if spelled.hasPrefix("@"), let bindingWord {
        message = "the task prefix comes first: write '\(spelled) \(text(bindingWord)) = ...'"
      } else if bindingWord == nil, let equals = spelled.firstIndex(of: "="),
        NameSyntax.isValid(ArraySlice(spelled[..<equals].utf8))
      {
        // `buf=alloc_pages`: a binding written without its spaces.
        let after = String(spelled[spelled.index(after: equals)...])
        let statementWord = Verb.byName[after] != nil ? after : Verb.suggestions.closest(to: after)
        message +=
          "; to bind a name, put spaces around '=': '\(spelled[..<equals]) = \(statementWord ?? "STATEMENT")\(index + 1 < tokens.count ? " ..." : "")'"
      } else if let match = Verb.suggestions.closest(to: spelled) {
        message +=
          spelled.lowercased() == match
          ? "; statement words are lower case: did you mean '\(match)'?" : "; did you mean '\(match)'?"
      }
      error(message, at: verbWord)
      target = .invalid(nil)
      lastDefinedName = nil
      if let binding { define(binding, kind: nil, key: bindingKey) }
      return
    }
    verb = found
    let arguments = tokens[(index + 1)...].map { word($0) }
    let location = SourceLocation(line: line, column: first.column)

    if verb == .expect {
      if let task { error("an 'expect' line cannot have a task prefix ('@\(task.name)')", column: first.column) }
      if let bindingWord { error("an 'expect' line cannot bind a name", at: bindingWord) }
      if isScheduleExpectation(arguments) {
        parseScheduleExpectation(arguments, text: lineText, location: SourceLocation(line: line, column: verbColumn))
        return
      }
      parseExpectation(arguments, text: lineText, location: SourceLocation(line: line, column: verbColumn))
      return
    }

    statementCount += 1
    if statementCount > FixtureLimits.maxStatements {
      error("too many statements (the limit is \(FixtureLimits.maxStatements))", column: verbColumn)
      stopped = true
      return
    }
    if verb == .repeatBlock || verb == .end {
      parseLoopLine(arguments, task: task, bindingWord: bindingWord, location: location, text: lineText)
      return
    }
    let (executed, overflow) = executedStatements.addingReportingOverflow(iterations)
    if overflow || executed > FixtureLimits.maxExecutedStatements {
      error(
        "too many statements to run: with its loops this fixture runs more than \(FixtureLimits.maxExecutedStatements) statements",
        column: verbColumn)
      stopped = true
      return
    }
    executedStatements = executed
    if !loops.isEmpty, [.cmdline, .memory, .iommu, .device].contains(verb) {
      error(
        "'\(verb.rawValue)' cannot be inside a 'repeat' block (line \(loops[loops.count - 1].line)): it defines the machine once",
        column: verbColumn)
    }

    let block = placeInBlock(&task, verb: verb, column: first.column)
    // Where the statement may be, and what it may carry.
    if verb == .cmdline || verb == .memory {
      if let task {
        error(
          "'\(verb.rawValue)' configures the machine and does not run as a task; remove '@\(task.name)'",
          column: first.column)
      }
      if let firstRun = firstRunStatement {
        error(
          "'\(verb.rawValue)' must come before the first statement of sections 3 to 8 ('\(firstRun.verb.rawValue)' at line \(firstRun.line))",
          column: verbColumn)
      }
      if verb == .memory {
        if let previous = memoryLine {
          error("only one 'memory' line is allowed (the first is at line \(previous))", column: verbColumn)
        } else {
          memoryLine = line
        }
      }
    } else if (3...8).contains(verb.section), firstRunStatement == nil {
      firstRunStatement = (verb, line)
    }
    if let bindingWord, verb.bindingKind == nil {
      if verb == .iommu || verb == .device {
        error(
          "'\(verb.rawValue)' names its unit with its first argument: write '\(verb.rawValue) \(text(bindingWord)) ...', not '\(text(bindingWord)) = \(verb.rawValue)'",
          at: bindingWord)
      } else {
        error("'\(verb.rawValue)' has no result to bind; remove '\(text(bindingWord)) ='", at: bindingWord)
      }
    }

    let operation = parseOperation(arguments)
    let defined: NameReference?
    switch operation {
    case .iommu(let configuration)?: defined = configuration.name
    case .device(let configuration)?: defined = configuration.name
    default: defined = verb.bindingKind != nil ? binding : nil
    }
    if verb.bindingKind == nil, let binding {
      // A misplaced `NAME =`: keep later uses from cascading into "unbound name" errors.
      define(binding, kind: nil, key: bindingKey)
    }
    if verb == .iommu || verb == .device, operation == nil, let nameWord = arguments.first,
      nameWord.string == nil, NameSyntax.isValid(bytes(nameWord))
    {
      // Keep later uses from cascading into "unbound name" errors.
      define(
        NameReference(name: text(nameWord), location: SourceLocation(line: line, column: nameWord.column)), kind: nil)
    }
    lastDefinedName = nil
    if let defined {
      let kind: BindingKind? =
        operation == nil ? nil : (verb == .iommu ? .iommu : verb == .device ? .device : verb.bindingKind)
      if kind == .iommu || kind == .device {
        defineUnit(defined, isDevice: kind == .device)
      }
      let key = verb.bindingKind != nil ? bindingKey : nil
      define(defined, kind: kind, key: key)
      lastDefinedName = key ?? defined.name
    }

    guard let operation, !diagnostics[errorsBefore...].contains(where: \.isError) else {
      target = .invalid(verb)
      return
    }
    switch operation {
    case .cmdline(let settings): cmdline.apply(settings)
    case .memory(let configuration): memory = configuration
    default: break
    }
    var statement = Statement(
      location: location, verbLocation: SourceLocation(line: line, column: verbColumn), text: lineText,
      task: task, binding: verb.bindingKind != nil ? binding : nil, operation: operation)
    statement.usesLoopVariables = usesLoopVariables
    statement.block = block
    statements.append(statement)
    target = .statement(statements.count - 1)
  }

  /// A `repeat` or `end` line: it takes neither a task nor a binding, and no `expect` checks it.
  mutating func parseLoopLine(
    _ arguments: [Word], task: NameReference?, bindingWord: Word?, location: SourceLocation, text lineText: String
  ) {
    let errorsBefore = errorCount
    if let task { error("'\(verb.rawValue)' does not run as a task; remove '@\(task.name)'", column: location.column) }
    if let bindingWord {
      error("'\(verb.rawValue)' has no result to bind; remove '\(text(bindingWord)) ='", at: bindingWord)
    }
    lastDefinedName = nil
    target = .invalid(verb)
    var operation: StatementOperation?
    if verb == .repeatBlock {
      if loops.count >= FixtureLimits.maxLoopDepth {
        error("'repeat' blocks nest at most \(FixtureLimits.maxLoopDepth) deep", column: verbColumn)
      }
      operation = parseRepeat(arguments)
      let ok = operation != nil && !diagnostics[errorsBefore...].contains(where: \.isError)
      openLoop(operation, index: ok ? statements.count : nil)
      guard ok, let operation else { return }
      appendLoopStatement(operation, location: location, text: lineText)
    } else {
      operation = closeLoop(arguments, statementIndex: statements.count)
      guard let operation, !diagnostics[errorsBefore...].contains(where: \.isError) else { return }
      appendLoopStatement(operation, location: location, text: lineText)
    }
  }

  /// Appends a `repeat` or `end` statement; inside a task block it belongs to
  /// the block (its task repeats the body), outside it ends the group before it.
  private mutating func appendLoopStatement(_ operation: StatementOperation, location: SourceLocation, text: String) {
    var statement = Statement(
      location: location, verbLocation: SourceLocation(line: line, column: verbColumn), text: text,
      task: nil, binding: nil, operation: operation)
    statement.block = openBlock?.block
    if openBlock == nil {
      statementSinceBlock = true
      closeGroupUses()
    }
    statements.append(statement)
  }

  /// Records an `iommu` or `device` name; defining one again is an error: the
  /// name is the unit's or the device's identity in reports, and the machine
  /// cannot hold two of them under one name.
  mutating func defineUnit(_ name: NameReference, isDevice: Bool) {
    let what = isDevice ? "a device" : "an IOMMU"
    if let first = isDevice ? deviceLines[name.name] : iommuLines[name.name] {
      append(
        Diagnostic(
          file: file, location: name.location,
          message:
            "\(what) named '\(name.name)' is already defined (line \(first)); \(what) cannot be defined again: give this one another name"
        ))
    } else if isDevice {
      deviceLines[name.name] = name.location.line
    } else {
      iommuLines[name.name] = name.location.line
    }
  }

  mutating func define(_ name: NameReference, kind: BindingKind?, key: String? = nil) {
    let key = key ?? name.name
    resolveForwardUses(name, key: key, kind: kind)
    if !laterUses.isEmpty, let uses = laterUses.removeValue(forKey: name.name) {
      let bound = name.location.line
      for use in uses where use.index < diagnostics.count {
        diagnostics[use.index].message =
          use.line == bound
          ? use.prefix + ": the statement that binds it cannot use it"
          : use.prefix + ": '\(Quote.text(name.name))' is bound later, at line \(bound)"
      }
    }
    names[key] = NameBinding(kind: kind, line: name.location.line, failedLine: nil)
  }
}

/// The syntax of names: `[A-Za-z_][A-Za-z0-9_.-]*`.
enum NameSyntax {
  static let rule = "a name starts with a letter or '_' and continues with letters, digits, '_', '.' or '-'"

  static func isStart(_ b: UInt8) -> Bool {
    (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x5f
  }

  static func isContinue(_ b: UInt8) -> Bool {
    isStart(b) || (b >= 0x30 && b <= 0x39) || b == 0x2e || b == 0x2d
  }

  static func isValid(_ s: ArraySlice<UInt8>) -> Bool {
    guard let first = s.first, isStart(first) else { return false }
    return s.dropFirst().allSatisfy(isContinue)
  }
}
