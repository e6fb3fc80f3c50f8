import KernelTypes

extension ParserState {
  /// What kind of address a position takes, and so which bindings may stand for it.
  enum AddressRole {
    /// A CPU physical address: a page block.
    case physical
    /// An IOVA: a DMA mapping or buffer, or a page block (for IOVA = physical).
    case iova
    /// A kernel virtual address: a vmalloc area.
    case kernelVirtual
    /// What a device puts on the bus: any address binding.
    case device

    var kinds: [BindingKind] {
      switch self {
      case .physical: return [.pageBlock, .slabObject]
      case .iova: return [.dmaMapping, .dmaCoherent, .pageBlock, .dmaSGList, .dmaPages]
      case .kernelVirtual: return [.vmallocArea]
      case .device:
        return [.dmaMapping, .dmaCoherent, .pageBlock, .vmallocArea, .mmapArea, .dmaSGList, .dmaPages, .slabObject]
      }
    }

    var phrase: String {
      switch self {
      case .physical: return "a physical address (a number or a page block)"
      case .iova: return "an IOVA (a number, a DMA mapping or buffer, or a page block)"
      case .kernelVirtual: return "a kernel virtual address (a number or a vmalloc area)"
      case .device:
        return "a device address (a number, or a DMA mapping or buffer, page block, vmalloc area or mmap area)"
      }
    }
  }

  func location(_ word: Word) -> SourceLocation { SourceLocation(line: line, column: word.column) }

  /// `'size='` for a key's value, or the placeholder for a positional.
  func what(_ key: String) -> String { key.hasSuffix("=") || key.first?.isUppercase == true ? key : key + "=" }

  // MARK: - Names

  /// A name that must be bound to one of `kinds`; reports unbound, failed and wrong-kind names.
  mutating func reference(_ word: Word?, kinds: [BindingKind], role: String, context: String? = nil) -> NameReference? {
    guard let word else { return nil }
    if word.string != nil {
      error("expected \(role), found a string", at: word)
      return nil
    }
    let slice = bytes(word)
    if slice.contains(UInt8(ascii: "[")) {
      return indexedReference(start: word.start, end: word.end, column: word.column, kinds: kinds, role: role)
    }
    guard NameSyntax.isValid(slice) else {
      if let first = slice.first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") {
        error("expected a name of \(role), found '\(quoted(word))'", at: word)
      } else {
        error("invalid name '\(quoted(word))': \(NameSyntax.rule)", at: word)
      }
      return nil
    }
    let name = text(word)
    guard check(name: name, at: word.column, kinds: kinds, role: role, context: context) else { return nil }
    return NameReference(name: name, location: location(word))
  }

  /// Checks that `name` is bound, not failed, and of one of `kinds`.
  mutating func check(name: String, at column: Int, kinds: [BindingKind], role: String, context: String? = nil) -> Bool
  {
    let shown = Quote.text(name)
    let inText = context.map { " (in '\(Quote.text($0))')" } ?? ""
    guard let binding = names[name] else {
      var hint = ""
      if names.count <= 1_000, suggestionBudget > 0 {
        suggestionBudget -= 1
        let candidates = names.filter { $0.value.kind.map(kinds.contains) ?? false }.map(\.key).sorted()
        hint = Suggestion.didYouMean(name, among: candidates)
      }
      if hint.isEmpty, kinds == [.device] {
        let iommu = iommuLines.count == 1 ? iommuLines.keys.first ?? "IOMMU" : "IOMMU"
        hint = "; no device has this name: declare it first with 'device \(shown) iommu=\(iommu)'"
      } else if hint.isEmpty, kinds == [.iommu] {
        hint = "; no IOMMU has this name: declare it first with 'iommu \(shown) model=vtd' (or amd, smmuv3)"
      }
      let prefix = "use of unbound name '\(shown)'\(inText)"
      if let open = openBlock, forwardUses.count < FixtureLimits.maxLaterUses {
        // Another block of this group may bind it: its task then waits for
        // the name (FixtureLanguage.md). Decided when the group ends.
        var shown = Diagnostic(file: file, line: line, column: column, message: "")
        if lineIsKept { shown.keepSourceLine(source) }
        forwardUses.append(
          ForwardUse(
            name: name, kinds: kinds, role: role, verb: verb.rawValue, line: line, column: column,
            group: open.block.group, block: open.block.block, message: prefix + hint, prefix: prefix,
            sourceLine: shown.sourceLine))
        return true
      }
      if laterUseCount < FixtureLimits.maxLaterUses {
        // If a later line binds the name, `define` says so instead of the hint.
        laterUseCount += 1
        laterUses[name, default: []].append((diagnostics.count, line, prefix))
      }
      error(prefix + hint, column: column)
      return false
    }
    if let failed = binding.failedLine {
      error("'\(shown)' was bound by a statement that is expected to fail (line \(failed))", column: column)
      return false
    }
    if let kind = binding.kind, !kinds.contains(kind) {
      let origin = [.iommu, .device, .domain, .process].contains(kind) ? "" : "\(kind.verb) at "
      error(
        "'\(shown)' is \(kind.noun) (\(origin)line \(binding.line)), but '\(verb.rawValue)' needs \(role) here",
        column: column)
      return false
    }
    return true
  }

  /// A name being defined (`iommu NAME`, `device NAME`).
  mutating func definedName(_ word: Word?) -> NameReference? {
    guard let word else { return nil }
    guard word.string == nil, NameSyntax.isValid(bytes(word)) else {
      error("invalid name '\(quoted(word))': \(NameSyntax.rule)", at: word)
      return nil
    }
    return NameReference(name: text(word), location: location(word))
  }

  // MARK: - Numbers

  mutating func literal(_ word: Word?, _ parse: (ArraySlice<UInt8>) -> NumberSyntax.Outcome) -> UInt64? {
    guard let word else { return nil }
    if word.string != nil {
      error("expected a value, found a string", at: word)
      return nil
    }
    switch parse(bytes(word)) {
    case .value(let v): return v
    case .failure(let message):
      error(message, at: word)
      return nil
    }
  }

  /// A decimal or hexadecimal number.
  mutating func number(_ word: Word?) -> UInt64? { literal(word, NumberSyntax.number) }

  /// A number with an optional K, M, G or T suffix.
  mutating func size(_ word: Word?) -> UInt64? { literal(word, NumberSyntax.size) }

  /// A duration in nanoseconds.
  mutating func duration(_ word: Word?) -> UInt64? { literal(word, NumberSyntax.duration) }

  /// A number no larger than `maximum`.
  mutating func number(_ word: Word?, key: String, maximum: UInt64, unit: String = "") -> UInt64? {
    guard let word, let value = number(word) else { return nil }
    if value > maximum {
      error("\(key)=\(text(word)) is too large (at most \(maximum)\(unit))", at: word)
      return nil
    }
    return value
  }

  /// A PASID number (20 bits).
  mutating func pasidNumber(_ word: Word?) -> UInt32? {
    guard let word, let value = number(word) else { return nil }
    guard value <= FixtureLimits.maxPASID else {
      error("PASID \(text(word)) is out of range (0 to 0xfffff: PASIDs are 20 bits)", at: word)
      return nil
    }
    return UInt32(value)
  }

  /// `pasid=N` or `pasid=NAME` (an SVA handle).
  mutating func pasidSelector(_ word: Word?) -> PASIDSelector? {
    guard let word else { return nil }
    if let first = bytes(word).first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") {
      return pasidNumber(word).map { .number($0, location: location(word)) }
    }
    return reference(word, kinds: [.svaHandle], role: "a PASID (a number or an SVA handle)").map { .svaHandle($0) }
  }

  // MARK: - Choices

  /// One of an enumeration's raw values.
  mutating func choice<E: RawRepresentable & CaseIterable>(_ word: Word?, key: String, as: E.Type) -> E?
  where E.RawValue == String {
    choice(word, key: key, among: Array(E.allCases))
  }

  /// One of `cases`, by raw value.
  mutating func choice<E: RawRepresentable>(_ word: Word?, key: String, among cases: [E]) -> E?
  where E.RawValue == String {
    guard let word else { return nil }
    let value = word.string == nil ? text(word) : ""
    if let result = E(rawValue: value), cases.contains(where: { $0.rawValue == value }) { return result }
    let valid = cases.map(\.rawValue)
    let hint = word.string == nil ? Suggestion.didYouMean(value, among: valid) : ""
    error("invalid value '\(quoted(word))' for '\(key)='\(hint) (valid: \(valid.joined(separator: ", ")))", at: word)
    return nil
  }

  /// `dir=to-device|from-device|bidirectional`, or the kernel's enumerator
  /// (`DMA_TO_DEVICE`, `DMA_FROM_DEVICE`, `DMA_BIDIRECTIONAL`; an extension).
  mutating func direction(_ word: Word) -> DMADirection? {
    if word.string == nil, let alias = DMADirection(kernelEnumName: text(word)) { return alias }
    return choice(word, key: "dir", as: DMADirection.self)
  }

  /// `width=1|2|4|8`.
  mutating func width(_ word: Word?) -> AccessWidth? {
    guard let word else { return .doubleword }
    if word.string == nil, case .value(let v) = NumberSyntax.number(bytes(word)), v <= 8,
      let width = AccessWidth(rawValue: Int(v))
    {
      return width
    }
    error("invalid value '\(quoted(word))' for 'width=' (valid: 1, 2, 4, 8)", at: word)
    return nil
  }

  /// A page size among 4K, 16K and 64K.
  mutating func pageSize(_ word: Word?, key: String) -> PageSize? {
    guard let word, let bytes = size(word) else { return nil }
    if let page = PageSize(rawValue: bytes) { return page }
    error("invalid value '\(quoted(word))' for '\(key)=' (valid: 4K, 16K, 64K)", at: word)
    return nil
  }

  // MARK: - Addresses

  /// An address expression: a number, `NAME`, `NAME+OFFSET` or `NAME-OFFSET`.
  ///
  /// A binding whose own name ends in `-DIGITS` is taken whole when it is
  /// bound; otherwise the last `-` (or the `+`) followed by a number starts
  /// the offset.
  mutating func address(_ word: Word?, role: AddressRole) -> AddressExpression? {
    guard let word else { return nil }
    if word.string != nil {
      error("expected \(role.phrase), found a string", at: word)
      return nil
    }
    let slice = bytes(word)
    guard let first = slice.first else { return nil }
    if first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") {
      return size(word).map { .literal($0, location: location(word)) }
    }
    if first == UInt8(ascii: "-") {
      error("negative addresses are not allowed: '\(quoted(word))'", at: word)
      return nil
    }
    guard NameSyntax.isStart(first) else {
      error("expected \(role.phrase), found '\(quoted(word))'", at: word)
      return nil
    }
    let whole = text(word)
    if let close = slice.firstIndex(of: UInt8(ascii: "]")) {
      return indexedAddress(word, close: close, role: role)
    }
    if NameSyntax.isValid(slice), names[whole] != nil {
      guard check(name: whole, at: word.column, kinds: role.kinds, role: role.phrase) else { return nil }
      return .name(NameReference(name: whole, location: location(word)), offset: 0)
    }
    // Find where the offset starts.
    var split: Int?
    if let plus = slice.firstIndex(of: UInt8(ascii: "+")) {
      split = plus
    } else {
      var i = word.end - 1
      while i > word.start {
        if source[i] == UInt8(ascii: "-"), i + 1 < word.end, source[i + 1] >= UInt8(ascii: "0"),
          source[i + 1] <= UInt8(ascii: "9")
        {
          split = i
          break
        }
        i -= 1
      }
    }
    guard let split else {
      guard NameSyntax.isValid(slice) else {
        error("invalid address '\(quoted(word))': expected \(role.phrase), NAME+OFFSET or NAME-OFFSET", at: word)
        return nil
      }
      guard check(name: whole, at: word.column, kinds: role.kinds, role: role.phrase) else { return nil }
      return .name(NameReference(name: whole, location: location(word)), offset: 0)
    }
    let nameSlice = source[word.start..<split]
    guard NameSyntax.isValid(nameSlice) else {
      error("invalid address '\(quoted(word))': expected \(role.phrase), NAME+OFFSET or NAME-OFFSET", at: word)
      return nil
    }
    let negative = source[split] == UInt8(ascii: "-")
    let offsetWord = Word(start: split + 1, end: word.end, column: word.column + (split + 1 - word.start), string: nil)
    if offsetWord.start == offsetWord.end {
      error("missing offset after '\(negative ? "-" : "+")' in '\(quoted(word))'", column: offsetWord.column - 1)
      return nil
    }
    let name = String(decoding: nameSlice, as: UTF8.self)
    if !negative, let star = bytes(offsetWord).firstIndex(of: UInt8(ascii: "*")) {
      return scaledAddress(word, name: name, offsetWord: offsetWord, star: star, role: role)
    }
    let nameOK = check(name: name, at: word.column, kinds: role.kinds, role: role.phrase, context: whole)
    var magnitude: UInt64?
    switch NumberSyntax.size(bytes(offsetWord)) {
    case .value(let v): magnitude = v
    case .failure(let message):
      if message.hasPrefix("number too large") {
        error(message, at: offsetWord)
      } else {
        error(
          "invalid offset '\(quoted(offsetWord))' in '\(quoted(word))': expected a number or a size (0x10, 4K)",
          at: offsetWord)
      }
    }
    guard let magnitude, nameOK else { return nil }
    let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
    guard magnitude <= limit else {
      error("offset too large in '\(quoted(word))' (at most 0x7fffffffffffffff)", at: offsetWord)
      return nil
    }
    let offset: Int64 = negative ? (magnitude == limit ? Int64.min : -Int64(magnitude)) : Int64(magnitude)
    return .name(NameReference(name: name, location: location(word)), offset: offset)
  }

  /// `NAME+VAR*SCALE` in a `repeat` block: `star` is the index of `*` in the offset.
  mutating func scaledAddress(_ word: Word, name: String, offsetWord: Word, star: Int, role: AddressRole)
    -> AddressExpression?
  {
    let whole = text(word)
    let variable = String(decoding: source[offsetWord.start..<star], as: UTF8.self)
    let scaleWord = Word(
      start: star + 1, end: offsetWord.end, column: offsetWord.column + (star + 1 - offsetWord.start), string: nil)
    guard loops.contains(where: { $0.variable == variable }) else {
      error(
        "'\(Quote.text(variable))' in '\(Quote.text(whole))' is not the variable of an enclosing 'repeat' (write NAME+VAR*N)",
        at: offsetWord)
      return nil
    }
    guard scaleWord.start < scaleWord.end, case .value(let scale) = NumberSyntax.size(bytes(scaleWord)),
      scale <= UInt64(Int64.max)
    else {
      error(
        "invalid scale in '\(Quote.text(whole))': write NAME+VAR*N with a number or size N (ring+i*16)", at: scaleWord)
      return nil
    }
    guard check(name: name, at: word.column, kinds: role.kinds, role: role.phrase, context: whole) else { return nil }
    usesLoopVariables = true
    return .scaled(
      NameReference(name: name, location: location(word)), variable: variable, scale: Int64(scale))
  }

  /// `NAME[INDEX]`, `NAME[INDEX]+OFFSET` or `NAME[INDEX]-OFFSET`; `close` is the index of `]`.
  mutating func indexedAddress(_ word: Word, close: Int, role: AddressRole) -> AddressExpression? {
    let whole = text(word)
    let rest = close + 1
    var offset: Int64 = 0
    if rest < word.end {
      let sign = source[rest]
      let offsetWord = Word(start: rest + 1, end: word.end, column: word.column + (rest + 1 - word.start), string: nil)
      guard sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-"), offsetWord.start < offsetWord.end,
        case .value(let magnitude) = NumberSyntax.size(bytes(offsetWord)), magnitude <= UInt64(Int64.max)
      else {
        error(
          "invalid address '\(quoted(word))': expected NAME[INDEX], NAME[INDEX]+OFFSET or NAME[INDEX]-OFFSET", at: word)
        return nil
      }
      offset = sign == UInt8(ascii: "-") ? -Int64(magnitude) : Int64(magnitude)
    }
    guard
      let ref = indexedReference(
        start: word.start, end: rest, column: word.column, kinds: role.kinds, role: role.phrase,
        context: rest < word.end ? whole : nil)
    else { return nil }
    return .name(ref, offset: offset)
  }

  /// An inclusive `START-END` range of numbers.
  mutating func range(_ word: Word, key: String) -> ClosedRange<UInt64>? {
    let slice = bytes(word)
    guard let dash = slice.firstIndex(of: UInt8(ascii: "-")), dash > word.start, dash + 1 < word.end else {
      error(
        "invalid range '\(quoted(word))' for '\(key)=': expected START-END (0xfe000000-0xfeffffff, ends inclusive)",
        at: word)
      return nil
    }
    let firstWord = Word(start: word.start, end: dash, column: word.column, string: nil)
    let lastWord = Word(start: dash + 1, end: word.end, column: word.column + (dash + 1 - word.start), string: nil)
    let first = size(firstWord)
    let last = size(lastWord)
    guard let first, let last else { return nil }
    guard first <= last else {
      error(
        "invalid range '\(quoted(word))' for '\(key)=': its start \(NumberSyntax.hex(first)) is after its end \(NumberSyntax.hex(last)) (ends are inclusive)",
        at: word)
      return nil
    }
    return first...last
  }
}

/// Whether an optional argument was given but did not parse (`.some(nil)`).
func failed<T>(_ value: T??) -> Bool {
  if case .some(.none) = value { return true }
  return false
}
