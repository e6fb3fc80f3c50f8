import KernelTypes

extension ParserState {
  static let expectationWords = ["report", "no-report", "error", "fault", "unmapped=", "phys=", "value="]

  /// Parses an `expect` line and attaches it to the statement before it.
  mutating func parseExpectation(_ words: [Word], text lineText: String, location: SourceLocation) {
    let errorsBefore = errorCount
    usesLoopVariables = false
    let kind = parseExpectationKind(words)
    let hadError = diagnostics[errorsBefore...].contains(where: \.isError)

    // What it checks.
    var statementIndex: Int?
    var targetVerb: Verb?
    switch target {
    case .none:
      error("'expect' has no statement before it to check", column: location.column)
      return
    case .invalid(let verb):
      targetVerb = verb
    case .statement(let index):
      statementIndex = index
      targetVerb = statements[index].verb
    }
    guard let kind else { return }
    if let targetVerb, targetVerb == .repeatBlock || targetVerb == .end {
      error(
        "'expect' cannot check '\(targetVerb.rawValue)': put it after a statement of the block", column: location.column
      )
      return
    }
    if let targetVerb, targetVerb == .cmdline || targetVerb == .memory {
      error(
        "'expect' cannot check '\(targetVerb.rawValue)': it configures the machine before anything runs",
        column: location.column)
      return
    }
    if let targetVerb,
      !applies(kind, to: targetVerb, statementIndex: statementIndex, column: words.first?.column ?? location.column)
    {
      return
    }
    if case .error = kind, let name = lastDefinedName, let statementLine = statementLine(statementIndex) {
      names[name]?.failedLine = statementLine
    }
    guard !hadError, let statementIndex else { return }
    if !conflicts(kind, with: statements[statementIndex].expectations, column: location.column) {
      statements[statementIndex].expectations.append(FixtureExpectation(kind: kind, location: location, text: lineText))
      if usesLoopVariables { statements[statementIndex].usesLoopVariables = true }
    }
  }

  func statementLine(_ index: Int?) -> Int? {
    guard let index else { return nil }
    return statements[index].line
  }

  mutating func parseExpectationKind(_ words: [Word]) -> FixtureExpectation.Kind? {
    guard let first = words.first else {
      error("'expect' needs what to check: report KIND, no-report, error ERRNO, fault or KEY=VALUE", column: verbColumn)
      return nil
    }
    let head = first.string == nil ? text(first) : ""
    func noMore(_ from: Int) -> Bool {
      if from < words.count {
        error("unexpected argument '\(quoted(words[from]))' after 'expect \(head)'", at: words[from])
        return false
      }
      return true
    }
    switch head {
    case "report":
      return parseExpectedReport(words)
    case "no-report":
      return noMore(1) ? .noReport : nil
    case "fault":
      return noMore(1) ? .fault : nil
    case "error":
      guard words.count >= 2 else {
        error("missing errno after 'expect error' (for example: expect error EINVAL)", column: first.column)
        return nil
      }
      let word = words[1]
      let name = word.string == nil ? text(word) : ""
      guard let errno = Errno(named: name) else {
        let hint = Suggestion.didYouMean(name, among: Errno.knownInOrder.map(\.0))
        error(
          "unknown errno '\(quoted(word))'\(hint) (for example: EINVAL, ENOMEM, EEXIST, EBUSY, ENOENT, ETIMEDOUT)",
          at: word)
        return nil
      }
      return noMore(2) ? .error(errno) : nil
    default:
      break
    }
    // KEY=VALUE
    let slice = bytes(first)
    if first.string == nil, let equals = slice.firstIndex(of: UInt8(ascii: "=")), equals > first.start {
      let key = String(decoding: source[first.start..<equals], as: UTF8.self)
      let value = Word(
        start: equals + 1, end: first.end, column: first.column + (equals + 1 - first.start), string: nil)
      guard ["unmapped", "phys", "value"].contains(key) else {
        let hint = Suggestion.didYouMean(key + "=", among: ParserState.expectationWords)
        error(
          "unknown expectation '\(Quote.text(key))='\(hint) (results: unmapped=SIZE, phys=ADDR, value=N)",
          column: first.column)
        return nil
      }
      if value.start == value.end {
        error("missing value after '\(key)='", column: first.column)
        return nil
      }
      guard noMore(1) else { return nil }
      switch key {
      case "unmapped": return size(value).map { .unmapped($0) }
      case "phys": return address(value, role: .physical).map { .phys($0) }
      default: return number(value).map { .value($0) }
      }
    }
    let hint = Suggestion.didYouMean(head, among: ParserState.expectationWords)
    error(
      "unknown expectation '\(quoted(first))'\(hint) (expect report KIND, no-report, error ERRNO, fault, unmapped=SIZE, phys=ADDR or value=N)",
      at: first)
    return nil
  }

  /// "Did you mean" over the report kinds, remembered per misspelling.
  static let reportKinds = SuggestionList(ReportKind.allCases.map(\.rawValue))

  mutating func parseExpectedReport(_ words: [Word]) -> FixtureExpectation.Kind? {
    let kinds = Self.reportKinds.candidates
    guard words.count >= 2 else {
      error(
        "missing report kind after 'expect report' (kinds: \(kinds.joined(separator: ", ")))", column: words[0].column)
      return nil
    }
    let kindWord = words[1]
    let kindText = kindWord.string == nil ? text(kindWord) : ""
    let kind = ReportKind(rawValue: kindText)
    if kind == nil {
      if kindWord.string == nil, bytes(kindWord).contains(UInt8(ascii: "=")) {
        error("missing report kind after 'expect report' (kinds: \(kinds.joined(separator: ", ")))", at: kindWord)
      } else {
        let hint = Self.reportKinds.didYouMean(kindText)
        error(
          "unknown report kind '\(quoted(kindWord))'\(hint) (kinds: \(kinds.joined(separator: ", ")))", at: kindWord)
      }
    }
    let syntax = Syntax(
      positionals: [],
      keys: [Self.key("page"), Self.key("pfn"), Self.key("device"), Self.key("domain"), Self.key("count")])
    let args = readArguments(
      words[2...], syntax: syntax, statement: "expect report",
      usage: "expect report KIND [page=NAME] [pfn=N] [device=NAME] [domain=NAME] [count=N]",
      missingColumn: words[0].column)
    let page = args.value("page").map { reference($0, kinds: [.pageBlock], role: "a page block") }
    let pfn = args.value("pfn").map { number($0) }
    let device = args.value("device").map { reference($0, kinds: [.device], role: "a device") }
    let domain = args.value("domain").map { reference($0, kinds: [.domain], role: "a domain") }
    let count = args.value("count").map { number($0) }
    guard let kind, !failed(page), !failed(pfn), !failed(device), !failed(domain),
      !failed(count)
    else { return nil }
    return .report(
      ExpectedReport(
        kind: kind, page: page ?? nil, pfn: pfn ?? nil, device: device ?? nil, domain: domain ?? nil,
        count: count ?? nil))
  }

  /// Whether an expectation makes sense after `verb`; reports it when not.
  mutating func applies(_ kind: FixtureExpectation.Kind, to verb: Verb, statementIndex: Int?, column: Int) -> Bool {
    switch kind {
    case .unmapped:
      if verb != .iommuUnmap && verb != .iommuUnmapFast {
        error(
          "'expect unmapped=' checks the result of 'iommu_unmap'; '\(verb.rawValue)' has no such result", column: column
        )
        return false
      }
    case .phys:
      if verb != .iovaToPhys {
        error(
          "'expect phys=' checks the result of 'iova_to_phys'; '\(verb.rawValue)' has no such result", column: column)
        return false
      }
    case .value:
      if verb != .dma {
        error(
          "'expect value=' checks what a 'dma ... read' read; '\(verb.rawValue)' has no such result", column: column)
        return false
      }
      if let statementIndex, case .dma(let access) = statements[statementIndex].operation, access.kind == .write {
        error("'expect value=' checks what a 'dma ... read' read; this 'dma' is a write", column: column)
        return false
      }
    case .fault:
      if verb != .dma && verb != .atsTranslate {
        error(
          "'expect fault' checks a device access ('dma' or 'ats_translate'); '\(verb.rawValue)' is not one",
          column: column)
        return false
      }
    case .report, .noReport, .error:
      break
    }
    return true
  }

  /// Whether `kind` contradicts or repeats an expectation already attached; reports it.
  mutating func conflicts(_ kind: FixtureExpectation.Kind, with existing: [FixtureExpectation], column: Int) -> Bool {
    for other in existing {
      let at = "line \(other.location.line)"
      switch (kind, other.kind) {
      case (.noReport, .report), (.report, .noReport):
        error("'expect no-report' and 'expect report' contradict each other (the other is at \(at))", column: column)
        return true
      case (.noReport, .noReport), (.fault, .fault):
        error("duplicate expectation (the same is at \(at))", column: column)
        return true
      case (.error, .error):
        error("the statement already has an 'expect error' (at \(at))", column: column)
        return true
      case (.error, .unmapped), (.error, .phys), (.error, .value), (.unmapped, .error), (.phys, .error),
        (.value, .error):
        error("a statement that is expected to fail has no result to check (see \(at))", column: column)
        return true
      case (.unmapped, .unmapped), (.phys, .phys), (.value, .value):
        error("the statement's result is already checked (at \(at))", column: column)
        return true
      case (.report(let a), .report(let b)) where a == b:
        error("duplicate expectation (the same is at \(at))", column: column)
        return true
      default:
        continue
      }
    }
    return false
  }
}
