extension ParserState {
  /// A key a statement accepts.
  struct KeySpec {
    var name: String
    var required: Bool = false
    var repeatable: Bool = false
  }

  /// The arguments a statement takes.
  struct Syntax {
    /// Placeholders of the positional arguments, all required.
    var positionals: [String]
    /// Placeholders of optional trailing positional words (`populate`).
    var optionalPositionals: [String] = []
    var keys: [KeySpec] = []
  }

  static func key(_ name: String, required: Bool = false, repeatable: Bool = false) -> KeySpec {
    KeySpec(name: name, required: required, repeatable: repeatable)
  }

  /// The syntax of every statement word, computed once.
  static let syntaxTable: [Verb: Syntax] = {
    var table: [Verb: Syntax] = [:]
    for verb in Verb.allCases { table[verb] = makeSyntax(verb) }
    return table
  }()

  /// The syntax of a statement word (`expect` has its own parser).
  static func syntax(_ verb: Verb) -> Syntax { syntaxTable[verb] ?? Syntax(positionals: []) }

  /// `free_pages pfn=N [order=N]`: the form without a name, taken when a `pfn=` word is there.
  static let freePagesAtSyntax = Syntax(positionals: [], keys: [key("pfn", required: true), key("order")])

  static func makeSyntax(_ verb: Verb) -> Syntax {
    switch verb {
    case .cmdline: return Syntax(positionals: ["\"PARAMS\""])
    case .memory:
      return Syntax(
        positionals: ["SIZE"],
        keys: [key("base"), key("page"), key("mmio", repeatable: true), key("offline", repeatable: true)])
    case .iommu:
      return Syntax(
        positionals: ["NAME"],
        keys: [
          key("model", required: true), key("granule"), key("pgsizes"), key("iotlb"), key("walk-cache"), key("sva"),
          key("npcache"), key("gather"),
        ])
    case .device:
      return Syntax(
        positionals: ["NAME"], keys: [key("iommu", required: true), key("ats"), key("pasid"), key("group")])
    case .allocPages: return Syntax(positionals: [], keys: [key("order"), key("gfp")])
    case .freePages, .vfree, .dmaUnmap, .dmaFree, .munmap, .svaUnbind:
      if verb == .dmaUnmap { return Syntax(positionals: ["NAME"], keys: [key("size"), key("dir")]) }
      if verb == .freePages { return Syntax(positionals: ["NAME"], keys: [key("order")]) }
      return Syntax(positionals: ["NAME"])
    case .vmalloc, .vmallocHuge: return Syntax(positionals: ["SIZE"])
    case .cpuWrite: return Syntax(positionals: ["ADDR"], keys: [key("value", required: true), key("width")])
    case .cpuFill: return Syntax(positionals: ["NAME"], keys: [key("value", required: true), key("width")])
    case .flushTLBKernelRange: return Syntax(positionals: ["START", "END"])
    case .flushTLBAll: return Syntax(positionals: [])
    case .domain: return Syntax(positionals: ["IOMMU"], keys: [key("type")])
    case .freeDomain, .iotlbSync, .flushIOTLBAll: return Syntax(positionals: ["DOMAIN"])
    case .attach: return Syntax(positionals: ["DEVICE", "DOMAIN"], keys: [key("pasid")])
    case .detach: return Syntax(positionals: ["DEVICE"], keys: [key("pasid")])
    case .iommuMap:
      return Syntax(
        positionals: ["DOMAIN"],
        keys: [key("iova", required: true), key("phys", required: true), key("size", required: true), key("prot")])
    case .iommuUnmap, .iommuUnmapFast:
      return Syntax(positionals: ["DOMAIN"], keys: [key("iova", required: true), key("size", required: true)])
    case .iovaToPhys: return Syntax(positionals: ["DOMAIN"], keys: [key("iova", required: true)])
    case .dmaMap: return Syntax(positionals: ["DEVICE", "ADDR"], keys: [key("size", required: true), key("dir")])
    case .dmaAlloc: return Syntax(positionals: ["DEVICE", "SIZE"])
    case .advance: return Syntax(positionals: ["DURATION"])
    case .dmaMapSG:
      return Syntax(positionals: ["DEVICE"], keys: [key("seg", required: true, repeatable: true), key("dir")])
    case .dmaUnmapSG, .dmaSyncSGForCPU, .dmaSyncSGForDevice:
      return Syntax(positionals: ["NAME"], keys: [key("nents"), key("dir")])
    case .dmaSyncSingleForCPU, .dmaSyncSingleForDevice:
      return Syntax(positionals: ["ADDR"], keys: [key("size", required: true), key("dir")])
    case .dmaAllocPages: return Syntax(positionals: ["DEVICE", "SIZE"], keys: [key("dir")])
    case .dmaFreePages, .kfree: return Syntax(positionals: ["NAME"])
    case .kmalloc: return Syntax(positionals: ["SIZE"], keys: [key("gfp")])
    case .dma:
      return Syntax(
        positionals: ["DEVICE", "read|write", "ADDR"], keys: [key("len"), key("pasid"), key("value"), key("priv")])
    case .atsTranslate: return Syntax(positionals: ["DEVICE", "ADDR"], keys: [key("pasid")])
    case .process: return Syntax(positionals: [], keys: [key("comm")])
    case .mmap: return Syntax(positionals: ["PROCESS", "SIZE"], optionalPositionals: ["populate"])
    case .exit: return Syntax(positionals: ["PROCESS"])
    case .svaBind: return Syntax(positionals: ["DEVICE", "PROCESS"])
    case .resetPrepare, .resetDone, .flr, .flrBegin, .flrEnd: return Syntax(positionals: ["DEVICE"])
    case .expect, .end: return Syntax(positionals: [])
    case .repeatBlock: return Syntax(positionals: ["COUNT", "as", "VAR"])
    }
  }

  /// Sorts words into positionals and `key=value` pairs, reporting unknown,
  /// duplicate and missing keys, empty values and a wrong number of positionals.
  mutating func readArguments(
    _ words: ArraySlice<Word>, syntax: Syntax, statement: String, usage: String, missingColumn: Int
  ) -> Arguments {
    var arguments = Arguments()
    var keyNames: [String] { syntax.keys.map(\.name) }
    /// Required keys an unknown key's "did you mean" already names: not reported missing too.
    var suggested: Set<String> = []
    let list = Array(words)
    var index = 0
    /// `key = value`, `key =value` or `key= value`: reported once, then taken as `key=value`.
    func spaced(_ key: String, _ value: Word?) -> String {
      "no spaces are allowed around '=': write '\(key)=\(value.map { quoted($0) } ?? "VALUE")'"
    }
    while index < list.count {
      let word = list[index]
      index += 1
      let slice = bytes(word)
      let equals = word.string == nil ? slice.firstIndex(of: UInt8(ascii: "=")) : nil
      if let equals {
        if equals == word.start {
          // `key = value` or `key =value` after a positional that names a key.
          if let previous = arguments.positionals.last, previous.string == nil,
            syntax.keys.contains(where: { $0.name == text(previous) })
          {
            let key = text(previous)
            arguments.positionals.removeLast()
            var value = Word(start: word.start + 1, end: word.end, column: word.column + 1, string: nil)
            if value.start == value.end, index < list.count {
              value = list[index]
              index += 1
            }
            let hasValue = value.start < value.end
            error(spaced(key, hasValue ? value : nil), at: word)
            if hasValue { arguments.pairs.append((key, previous.column, value)) }
          } else {
            error("unexpected '='; a key=value pair has no spaces around '='", at: word)
          }
          continue
        }
        let key = String(decoding: source[word.start..<equals], as: UTF8.self)
        var value = Word(start: equals + 1, end: word.end, column: word.column + (equals + 1 - word.start), string: nil)
        guard let spec = syntax.keys.first(where: { $0.name == key }) else {
          if value.start < value.end, !keyNames.contains(key),
            let placeholder = (syntax.positionals + syntax.optionalPositionals).first(where: { $0.lowercased() == key })
          {
            // `dma_alloc dev0 size=8K`: a positional written as a key. One
            // error, and the value taken as the positional (not also "missing SIZE").
            error(
              "'\(key)=' is not a key of '\(statement)': write the \(placeholder) alone, '\(quoted(value))' (usage: \(usage))",
              column: word.column)
            arguments.positionals.append(value)
            continue
          }
          if let match = unknownKey(key, column: word.column, statement: statement, keys: keyNames) {
            suggested.insert(match)
          }
          continue
        }
        if value.start == value.end {
          // `key= value`
          if index < list.count, list[index].string == nil, !bytes(list[index]).contains(UInt8(ascii: "=")) {
            error(spaced(key, list[index]), column: word.column)
            value = list[index]
            index += 1
          } else {
            error("missing value after '\(key)='", column: word.column)
            continue
          }
        }
        if !spec.repeatable, let first = arguments.pairs.first(where: { $0.key == key }) {
          error("duplicate key '\(key)=' (first given at column \(first.keyColumn))", at: word)
          continue
        }
        arguments.pairs.append((key, word.column, value))
        continue
      }
      if let string = word.string, word.quote > word.start {
        // key="string"
        let prefix = source[word.start..<word.quote]
        guard prefix.last == UInt8(ascii: "=") else {
          error(
            "unexpected '\"' in '\(quoted(word))': a string stands alone or follows 'key='",
            column: word.column + (word.quote - word.start))
          continue
        }
        let key = String(decoding: prefix.dropLast(), as: UTF8.self)
        guard syntax.keys.contains(where: { $0.name == key }) else {
          if key.isEmpty {
            error("unexpected '='; a key=value pair has no spaces around '='", at: word)
          } else {
            if let match = unknownKey(key, column: word.column, statement: statement, keys: keyNames) {
              suggested.insert(match)
            }
          }
          continue
        }
        if let first = arguments.pairs.first(where: { $0.key == key }) {
          error("duplicate key '\(key)=' (first given at column \(first.keyColumn))", at: word)
          continue
        }
        let value = Word(
          start: word.quote, end: word.end, column: word.column + (word.quote - word.start), string: string,
          quote: word.quote)
        arguments.pairs.append((key, word.column, value))
        continue
      }
      arguments.positionals.append(word)
    }
    let maximum = syntax.positionals.count + syntax.optionalPositionals.count
    let missingKeys = syntax.keys.filter { spec in
      spec.required && !suggested.contains(spec.name) && !arguments.pairs.contains(where: { $0.key == spec.name })
    }
    if arguments.positionals.count > maximum, missingKeys.count == 1, arguments.positionals[maximum].string == nil {
      // `dma_map_sg dev0 a:4K`: the value of the one missing key, written
      // without it. One error, and the word taken as its value.
      let extra = arguments.positionals[maximum]
      let key = missingKeys[0].name
      error(
        "missing key '\(key)=' before '\(quoted(extra))': write '\(key)=\(quoted(extra))' (usage: \(usage))", at: extra)
      arguments.pairs.append((key, extra.column, extra))
      arguments.positionals.remove(at: maximum)
    }
    if arguments.positionals.count > maximum {
      let extra = arguments.positionals[maximum]
      if syntax.keys.isEmpty && maximum == 0 {
        error("unexpected argument '\(quoted(extra))': '\(statement)' takes none (usage: \(usage))", at: extra)
      } else {
        error("unexpected argument '\(quoted(extra))' (usage: \(usage))", at: extra)
      }
      arguments.positionals.removeSubrange(maximum...)
    } else if arguments.positionals.count < syntax.positionals.count {
      arguments.isShort = true
      if let (index, choices) = missingKeyword(arguments.positionals, syntax: syntax) {
        // `dma nic h`: the word that is not `read` or `write` is the next placeholder's, not a keyword.
        let found = arguments.positionals[index]
        error(
          "missing \(choices) before '\(quoted(found))' (usage: \(usage))", at: found)
      } else {
        let missing = syntax.positionals[arguments.positionals.count]
        error("missing \(missing) for '\(statement)' (usage: \(usage))", column: missingColumn)
      }
    }
    for spec in syntax.keys
    where spec.required && !suggested.contains(spec.name) && !arguments.pairs.contains(where: { $0.key == spec.name }) {
      error("missing key '\(spec.name)=' for '\(statement)' (usage: \(usage))", column: missingColumn)
    }
    return arguments
  }

  /// Reports an unknown key; returns the key its "did you mean" names.
  @discardableResult
  mutating func unknownKey(_ key: String, column: Int, statement: String, keys: [String]) -> String? {
    let shown = Quote.text(key)
    if keys.isEmpty {
      error("unknown key '\(shown)=': '\(statement)' takes no keys", column: column)
      return nil
    }
    let match = Suggestion.closest(to: key, among: keys)
    let hint = match.map { "; did you mean '\($0)='?" } ?? ""
    error(
      "unknown key '\(shown)=' for '\(statement)'\(hint) (valid keys: \(keys.map { $0 + "=" }.joined(separator: ", ")))",
      column: column)
    return match
  }

  /// In too few positionals, the first that stands where a keyword placeholder
  /// (`read|write`) is and is not one of its words: the keyword is what is
  /// missing. Returns its index and the keywords in words (`'read' or 'write'`).
  func missingKeyword(_ positionals: [Word], syntax: Syntax) -> (Int, String)? {
    for (index, word) in positionals.enumerated() {
      let placeholder = syntax.positionals[index]
      let choices = placeholder.split(separator: "|").map(String.init)
      guard choices.count > 1, choices.allSatisfy({ $0.allSatisfy(\.isLowercase) }) else { continue }
      // The keyword is there, in another place: something else is missing.
      if positionals.contains(where: { $0.string == nil && choices.contains(text($0)) }) { return nil }
      if word.string == nil, choices.contains(text(word)) { return nil }
      return (index, choices.map { "'\($0)'" }.joined(separator: " or "))
    }
    return nil
  }
}
