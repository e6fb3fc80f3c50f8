import KernelTypes

extension Cmdline {
  /// Parses a command line given outside a fixture (`--cmdline "..."`).
  ///
  /// Diagnostics are reported at line 1 of `file`, columns counting bytes of `text`.
  package static func parse(_ text: String, file: String = "--cmdline") -> (
    settings: [CmdlineSetting], diagnostics: [Diagnostic]
  ) {
    let bytes = Array(text.utf8)
    var (settings, diagnostics) = parseParameters(bytes, file: file) { SourceLocation(line: 1, column: $0 + 1) }
    for i in diagnostics.indices { diagnostics[i].keepSourceLine(bytes) }
    return (settings, diagnostics)
  }

  /// Applies a `--cmdline` string on top of this command line.
  ///
  /// Nothing is applied when the string has an error; the errors are returned.
  package mutating func apply(parameters text: String, file: String = "--cmdline") -> [Diagnostic] {
    let (settings, diagnostics) = Cmdline.parse(text, file: file)
    if !diagnostics.contains(where: { $0.severity == .error }) { apply(settings) }
    return diagnostics
  }

  /// Parses parameters separated by blanks; `locate` maps a byte offset to a location.
  static func parseParameters(
    _ bytes: [UInt8], file: String, locate: (Int) -> SourceLocation
  ) -> (settings: [CmdlineSetting], diagnostics: [Diagnostic]) {
    var settings: [CmdlineSetting] = []
    var diagnostics: [Diagnostic] = []
    var i = 0
    func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0a || b == 0x0d }
    while i < bytes.count {
      if isBlank(bytes[i]) {
        i += 1
        continue
      }
      let start = i
      while i < bytes.count, !isBlank(bytes[i]) { i += 1 }
      let word = bytes[start..<i]
      let equals = word.firstIndex(of: UInt8(ascii: "="))
      let nameBytes = equals.map { word[start..<$0] } ?? word
      let name = String(decoding: nameBytes, as: UTF8.self)
      func fail(_ message: String, at offset: Int = start) {
        diagnostics.append(Diagnostic(file: file, location: locate(offset), message: message))
      }
      guard CmdlineSetting.parameterNames.contains(name) else {
        let hint = CmdlineSetting.parameterSuggestions.didYouMean(name)
        fail(
          "unknown kernel parameter '\(Quote.text(nameBytes))'\(hint) (known: "
            + CmdlineSetting.parameterNames.joined(separator: ", ") + ")")
        continue
      }
      guard let equals else {
        fail("kernel parameter '\(name)' needs a value: \(name)=\(valueSyntax(name))")
        continue
      }
      let valueBytes = word[(equals + 1)...]
      let value = String(decoding: valueBytes, as: UTF8.self)
      if let setting = setting(name: name, value: value) {
        settings.append(setting)
      } else {
        let valid = validValues(name)
        let hint = valid.count > 3 ? Suggestion.didYouMean(value, among: valid) : ""
        let extra = isBoolean(name) ? " (or y/n, yes/no, true/false, on/off)" : ""
        fail(
          "invalid value '\(Quote.text(valueBytes))' for '\(name)'\(hint); valid values: "
            + valid.joined(separator: ", ") + extra,
          at: equals + 1)
      }
    }
    return (settings, diagnostics)
  }

  static func isBoolean(_ name: String) -> Bool {
    name == "iommu.debug_pagealloc" || name == "iommu.strict" || name == "page_owner"
      || name == "emu.dma_assert_idle"
  }

  /// The values a parameter takes, canonical spellings first.
  static func validValues(_ name: String) -> [String] {
    switch name {
    case "iommu.debug_pagealloc", "iommu.strict", "emu.dma_assert_idle": return ["0", "1"]
    case "page_owner": return ["on", "off"]
    case "emu.accounting": return MapAccounting.allCases.map(\.rawValue)
    case "emu.kva_flush": return KVAFlushPolicy.allCases.map(\.rawValue)
    case "emu.notifier": return NotifierPolicy.allCases.map(\.rawValue)
    case "emu.reset": return ResetFencePolicy.allCases.map(\.rawValue)
    case "emu.map_count_max": return ["1", "2", "...", "2147483647"]
    case "emu.kernel": return ["MAJOR.MINOR.PATCH", "MAJOR.MINOR-rcN"]
    default: return []
    }
  }

  static func valueSyntax(_ name: String) -> String { validValues(name).joined(separator: "|") }

  /// The setting for a known parameter and a value, or nil when the value is invalid.
  static func setting(name: String, value: String) -> CmdlineSetting? {
    switch name {
    case "iommu.debug_pagealloc": return kernelBool(value).map { .debugPagealloc($0) }
    case "page_owner": return kernelBool(value).map { .pageOwner($0) }
    case "iommu.strict": return kernelBool(value).map { .strict($0) }
    case "emu.accounting": return MapAccounting(rawValue: value).map { .accounting($0) }
    case "emu.kva_flush": return KVAFlushPolicy(rawValue: value).map { .kvaFlush($0) }
    case "emu.notifier": return NotifierPolicy(rawValue: value).map { .notifier($0) }
    case "emu.reset": return ResetFencePolicy(rawValue: value).map { .reset($0) }
    case "emu.dma_assert_idle": return kernelBool(value).map { .dmaAssertIdle($0) }
    case "emu.map_count_max":
      guard let n = UInt32(value), n >= 1, n <= UInt32(Int32.max) else { return nil }
      return .mapCountMax(n)
    case "emu.kernel": return KernelVersion(parsing: value).map { .kernel($0) }
    default: return nil
    }
  }

  /// A boolean as `kstrtobool()` spells it: 1/0, y/n, yes/no, t/f, true/false, on/off
  /// (any case). Unlike the kernel, which looks only at the first characters,
  /// the whole word must match, so a typo is an error.
  static func kernelBool(_ value: String) -> Bool? {
    switch value.lowercased() {
    case "1", "y", "yes", "t", "true", "on": return true
    case "0", "n", "no", "f", "false", "off": return false
    default: return nil
    }
  }
}
