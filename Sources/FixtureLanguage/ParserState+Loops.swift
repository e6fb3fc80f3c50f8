import KernelTypes

/// Loops and indexed names, an iommusan extension of v1 (docs/FixtureLanguage.md, "Loops").
extension ParserState {
  /// An open `repeat` block.
  struct LoopFrame {
    /// The index of its `repeat` statement, nil when that line had an error.
    var begin: Int?
    var variable: String
    var count: Int
    var line: Int
    /// The task block (`TaskBlock.block`) it opened in, nil outside blocks.
    var block: Int?
  }

  /// An indexed name as written: `rx[17]`, `rx[i]`, `rx[i+1]`.
  struct IndexedName {
    /// The element's name (`rx[17]`) or the name as written (`rx[i+1]`).
    var display: String
    /// The key of `names` a binding of it defines: the element, or `rx[]` for every element.
    var key: String
    var index: NameIndex?
  }

  /// How many times a statement at this point runs: the product of the open loops' counts.
  var iterations: Int {
    var product = 1
    for loop in loops {
      let (p, o) = product.multipliedReportingOverflow(by: loop.count)
      product = o ? Int.max : p
    }
    return product
  }

  /// The `names` key of every element of `base`.
  static func arrayKey(_ base: String) -> String { base + "[]" }

  /// Parses `BASE[INDEX]` in `source[start..<end]`: INDEX is a number, a loop
  /// variable, or a loop variable plus or minus a number. nil after an error.
  mutating func indexedName(start: Int, end: Int, column: Int) -> IndexedName? {
    let whole = Quote.text(source[start..<end])
    guard let open = source[start..<end].firstIndex(of: UInt8(ascii: "[")) else { return nil }
    let base = source[start..<open]
    guard source[end - 1] == UInt8(ascii: "]"), open + 1 < end - 1 else {
      error("invalid indexed name '\(whole)': write NAME[N], NAME[VAR] or NAME[VAR+N]", column: column)
      return nil
    }
    guard NameSyntax.isValid(base) else {
      error("invalid name '\(whole)': \(NameSyntax.rule), then an optional [INDEX]", column: column)
      return nil
    }
    let baseName = String(decoding: base, as: UTF8.self)
    let inner = source[(open + 1)..<(end - 1)]
    let innerColumn = column + (open + 1 - start)
    if let first = inner.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") {
      guard case .value(let n) = NumberSyntax.number(inner), n <= UInt64(Int64.max) else {
        error(
          "invalid index '\(Quote.text(inner))' in '\(whole)': expected a number or a loop variable",
          column: innerColumn)
        return nil
      }
      let element = NameIndex.elementName(baseName, Int64(n))
      return IndexedName(display: element, key: element, index: nil)
    }
    var split = inner.endIndex
    if let sign = inner.firstIndex(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "-") }) { split = sign }
    let variable = String(decoding: inner[inner.startIndex..<split], as: UTF8.self)
    guard NameSyntax.isValid(inner[inner.startIndex..<split]) else {
      error(
        "invalid index '\(Quote.text(inner))' in '\(whole)': expected a number or a loop variable", column: innerColumn)
      return nil
    }
    guard loops.contains(where: { $0.variable == variable }) else {
      let active = loops.map(\.variable)
      let hint =
        active.isEmpty
        ? "; indexes by a variable only inside 'repeat N as \(variable)'"
        : "; the loop variables here: \(active.joined(separator: ", "))"
      error(
        "'\(Quote.text(variable))' in '\(whole)' is not the variable of an enclosing 'repeat'\(hint)",
        column: innerColumn)
      return nil
    }
    var offset: Int64 = 0
    if split < inner.endIndex {
      let digits = inner[(split + 1)...]
      guard case .value(let n) = NumberSyntax.number(digits), n <= UInt64(Int64.max) else {
        error(
          "invalid index '\(Quote.text(inner))' in '\(whole)': write VAR+N or VAR-N with a number N",
          column: innerColumn)
        return nil
      }
      offset = source[split] == UInt8(ascii: "-") ? -Int64(n) : Int64(n)
    }
    usesLoopVariables = true
    return IndexedName(
      display: whole, key: Self.arrayKey(baseName),
      index: NameIndex(base: baseName, variable: variable, offset: offset))
  }

  /// The `names` key a use of `name` looks up: the element if it was bound by itself, else its array.
  func lookupKey(_ name: IndexedName) -> String {
    if name.index == nil, names[name.key] == nil, let open = name.key.firstIndex(of: "[") {
      let array = Self.arrayKey(String(name.key[..<open]))
      if names[array] != nil { return array }
    }
    return name.key
  }

  /// A use of an indexed name, checked against `kinds`.
  mutating func indexedReference(
    start: Int, end: Int, column: Int, kinds: [BindingKind], role: String, context: String? = nil
  ) -> NameReference? {
    guard let name = indexedName(start: start, end: end, column: column) else { return nil }
    let key = lookupKey(name)
    let checked = names[key] != nil ? key : name.display
    guard check(name: checked, at: column, kinds: kinds, role: role, context: context) else { return nil }
    return NameReference(name: name.display, location: SourceLocation(line: line, column: column), index: name.index)
  }

  /// `repeat COUNT as VAR`.
  mutating func parseRepeat(_ words: [Word]) -> StatementOperation? {
    guard words.count == 3, words[1].string == nil, text(words[1]) == "as" else {
      let column = words.count > 3 ? words[3].column : words.last?.column ?? verbColumn
      error("expected 'repeat COUNT as VAR' (for example: repeat 256 as i)", column: column)
      return nil
    }
    let count = number(words[0], key: "repeat", maximum: UInt64(FixtureLimits.maxRepeatCount))
    let variableWord = words[2]
    let variable = text(variableWord)
    guard variableWord.string == nil, NameSyntax.isValid(bytes(variableWord)) else {
      error("invalid loop variable '\(quoted(variableWord))': \(NameSyntax.rule)", at: variableWord)
      return nil
    }
    if let outer = loops.first(where: { $0.variable == variable }) {
      error(
        "loop variable '\(variable)' is already the variable of the 'repeat' at line \(outer.line); give this one another name",
        at: variableWord)
      return nil
    }
    guard let count else { return nil }
    if count == 0 {
      error("'repeat 0' runs nothing: the count is 1 to \(FixtureLimits.maxRepeatCount)", at: words[0])
      return nil
    }
    return .repeatBlock(
      count: Int(count), variable: NameReference(name: variable, location: location(variableWord)), end: -1)
  }

  /// Opens a block after its `repeat` line (`index` is nil when the line had an error).
  mutating func openLoop(_ operation: StatementOperation?, index: Int?) {
    var variable = ""
    var count = 1
    if case .repeatBlock(let c, let v, _)? = operation {
      variable = v.name
      count = c
    }
    loops.append(LoopFrame(begin: index, variable: variable, count: count, line: line, block: openBlock?.block.block))
  }

  /// Closes the innermost block at an `end` line: the operation, or nil after an error.
  mutating func closeLoop(_ words: [Word], statementIndex: Int) -> StatementOperation? {
    if let extra = words.first {
      error("unexpected argument '\(quoted(extra))': 'end' stands alone", at: extra)
    }
    guard let loop = loops.popLast() else {
      error("'end' without a 'repeat' to close", column: verbColumn)
      return nil
    }
    if let open = openBlock, loop.block != open.block.block {
      // A loop around a group repeats the group; a task's loop stays in its block.
      error(
        "'end' in task block '\(open.name)' cannot close the 'repeat' at line \(loop.line), which is outside the block",
        column: verbColumn)
      return nil
    }
    guard let begin = loop.begin, words.isEmpty else { return nil }
    if case .repeatBlock(let count, let variable, _) = statements[begin].operation {
      statements[begin].operation = .repeatBlock(count: count, variable: variable, end: statementIndex)
    }
    return .end(begin: begin)
  }

  /// At the end of the file: every block still open is an error.
  mutating func closeFile() {
    // After a limit stopped the parse, the rest of the file was not read.
    if stopped {
      loops.removeAll()
      forwardUses = []
      return
    }
    closeGroupUses()
    for loop in loops.reversed() {
      append(
        Diagnostic(
          file: file, line: loop.line, column: 1,
          message: "'repeat' has no matching 'end' (add 'end' after the last statement of its block)"))
    }
    loops.removeAll()
  }
}
