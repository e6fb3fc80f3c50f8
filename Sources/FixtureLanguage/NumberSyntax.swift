/// Parsing of numbers, sizes and durations from the bytes of a token.
///
/// Every function checks overflow and reports a message instead of trapping.
enum NumberSyntax {
  /// A parsed literal or a message saying what is wrong with it.
  enum Outcome {
    case value(UInt64)
    case failure(String)
  }

  /// Decimal or hexadecimal (`0x`), with `_` allowed between digits.
  static func number(_ s: ArraySlice<UInt8>) -> Outcome {
    let text = Quote.text(s)
    if s.isEmpty { return .failure("missing number") }
    if s.first == UInt8(ascii: "-") { return .failure("negative numbers are not allowed: '\(text)'") }
    switch digits(s) {
    case .value(let v): return .value(v)
    case .invalid: return .failure("invalid number '\(text)': expected decimal (4096) or hexadecimal (0x1000) digits")
    case .underscore: return .failure(underscoreMessage(text))
    case .tooLarge: return .failure(tooLargeMessage(text))
    }
  }

  /// `4K` for `4KB`, `4KiB`, `4kb` or `4kib`: a size written with a byte unit, as
  /// people write it, whose suffix letter is the fixture language's (the
  /// kernel's `memparse()` takes neither `B` nor `iB` either).
  static func binarySuffixWithoutB(_ s: ArraySlice<UInt8>) -> String? {
    var body = s
    guard let b = body.popLast(), b == UInt8(ascii: "B") || b == UInt8(ascii: "b") else { return nil }
    if let i = body.last, i == UInt8(ascii: "i") { body.removeLast() }
    guard let letter = body.popLast(), !body.isEmpty, case .value = digits(body) else { return nil }
    let upper = letter >= 0x61 && letter <= 0x7a ? letter - 0x20 : letter
    guard [UInt8(ascii: "K"), UInt8(ascii: "M"), UInt8(ascii: "G"), UInt8(ascii: "T")].contains(upper) else {
      return nil
    }
    return String(decoding: body, as: UTF8.self) + String(UnicodeScalar(upper))
  }

  /// A number with an optional binary suffix: `4096`, `0x1000`, `4K`, `2M`, `1G`, `1T`.
  ///
  /// A suffix needs a decimal number; hexadecimal sizes are plain bytes.
  static func size(_ s: ArraySlice<UInt8>) -> Outcome {
    let text = Quote.text(s)
    if s.isEmpty { return .failure("missing size") }
    if s.first == UInt8(ascii: "-") { return .failure("negative sizes are not allowed: '\(text)'") }
    guard let last = s.last else { return .failure("missing size") }
    let shift: UInt64?
    switch last {
    case UInt8(ascii: "K"): shift = 10
    case UInt8(ascii: "M"): shift = 20
    case UInt8(ascii: "G"): shift = 30
    case UInt8(ascii: "T"): shift = 40
    default: shift = nil
    }
    let isHex = isHexPrefixed(s)
    guard let shift else {
      if !isHex, let fixed = binarySuffixWithoutB(s) {
        return .failure(
          "invalid size '\(text)'; did you mean '\(fixed)'? (K, M, G and T are binary units: 4K is 4096 bytes)")
      }
      if !isHex, s.count > 1,
        [UInt8(ascii: "k"), UInt8(ascii: "m"), UInt8(ascii: "g"), UInt8(ascii: "t")].contains(last),
        case .value = digits(s.dropLast())
      {
        let upper = String(decoding: s.dropLast(), as: UTF8.self) + String(UnicodeScalar(last - 0x20))
        return .failure("invalid size '\(text)': size suffixes are upper case (\(upper))")
      }
      switch digits(s) {
      case .value(let v): return .value(v)
      case .invalid:
        return .failure(
          "invalid size '\(text)': expected a number with an optional K, M, G or T suffix (4096, 0x1000, 4K, 2M)")
      case .underscore: return .failure(underscoreMessage(text))
      case .tooLarge: return .failure(tooLargeMessage(text))
      }
    }
    if isHex {
      return .failure(
        "invalid size '\(text)': a K, M, G or T suffix needs a decimal number; a hexadecimal size is in bytes")
    }
    let body = s.dropLast()
    if body.isEmpty { return .failure("invalid size '\(text)': expected a number before the suffix") }
    switch digits(body) {
    case .value(let v):
      let (product, overflow) = v.multipliedReportingOverflow(by: 1 << shift)
      return overflow ? .failure(tooLargeMessage(text)) : .value(product)
    case .invalid:
      return .failure(
        "invalid size '\(text)': expected a number with an optional K, M, G or T suffix (4096, 0x1000, 4K, 2M)")
    case .underscore: return .failure(underscoreMessage(text))
    case .tooLarge: return .failure(tooLargeMessage(text))
    }
  }

  /// A number with a unit `ns`, `us`, `ms` or `s`, in nanoseconds.
  static func duration(_ s: ArraySlice<UInt8>) -> Outcome {
    let text = Quote.text(s)
    if s.isEmpty { return .failure("missing duration") }
    if s.first == UInt8(ascii: "-") { return .failure("negative durations are not allowed: '\(text)'") }
    let units: [(String, UInt64)] = [("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000)]
    for (unit, scale) in units {
      let u = Array(unit.utf8)
      guard s.count > u.count, s.suffix(u.count).elementsEqual(u) else { continue }
      let body = s.dropLast(u.count)
      // `0x1s` is hex 1 with unit s, but `5ms` must not be read as `5m` + `s`.
      if unit == "s", let before = body.last,
        before == UInt8(ascii: "m") || before == UInt8(ascii: "u") || before == UInt8(ascii: "n")
      {
        break
      }
      switch number(body) {
      case .value(let v):
        let (product, overflow) = v.multipliedReportingOverflow(by: scale)
        return overflow ? .failure(tooLargeMessage(text) + " (as nanoseconds)") : .value(product)
      case .failure:
        return .failure("invalid duration '\(text)': expected a number and a unit: 10ms, 500us, 1s")
      }
    }
    if let last = s.last, (last >= UInt8(ascii: "0") && last <= UInt8(ascii: "9")) || last == UInt8(ascii: "_"),
      case .value = number(s)
    {
      return .failure("duration '\(text)' needs a unit: ns, us, ms or s (10ms)")
    }
    return .failure("invalid duration '\(text)': expected a number and a unit ns, us, ms or s (10ms)")
  }

  /// `4K`, `2M`, `1G` when exact, else bytes in decimal.
  static func describe(_ size: UInt64) -> String {
    for (shift, suffix) in [(40, "T"), (30, "G"), (20, "M"), (10, "K")] {
      let unit: UInt64 = 1 << UInt64(shift)
      if size >= unit, size % unit == 0 { return "\(size / unit)\(suffix)" }
    }
    return "\(size)"
  }

  /// `0x...` in lower case.
  static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }

  // MARK: - Digits

  enum Digits {
    case value(UInt64)
    case invalid
    case underscore
    case tooLarge
  }

  static func isHexPrefixed(_ s: ArraySlice<UInt8>) -> Bool {
    guard s.count >= 2, s.first == UInt8(ascii: "0") else { return false }
    let x = s[s.index(after: s.startIndex)]
    return x == UInt8(ascii: "x") || x == UInt8(ascii: "X")
  }

  /// The digits of a decimal or `0x` number; `_` only between digits.
  static func digits(_ s: ArraySlice<UInt8>) -> Digits {
    var body = s
    var base: UInt64 = 10
    if isHexPrefixed(s) {
      body = s.dropFirst(2)
      base = 16
    }
    if body.isEmpty { return .invalid }
    var value: UInt64 = 0
    var overflow = false
    var previousWasSeparator = true
    var badUnderscore = false
    for byte in body {
      if byte == UInt8(ascii: "_") {
        if previousWasSeparator { badUnderscore = true }
        previousWasSeparator = true
        continue
      }
      guard let digit = digitValue(byte, base: base) else { return .invalid }
      previousWasSeparator = false
      if !overflow {
        let (times, o1) = value.multipliedReportingOverflow(by: base)
        let (plus, o2) = times.addingReportingOverflow(digit)
        if o1 || o2 { overflow = true } else { value = plus }
      }
    }
    if previousWasSeparator { badUnderscore = true }
    if badUnderscore { return .underscore }
    if overflow { return .tooLarge }
    return .value(value)
  }

  static func digitValue(_ byte: UInt8, base: UInt64) -> UInt64? {
    let v: UInt64
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt64(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): v = UInt64(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): v = UInt64(byte - UInt8(ascii: "A") + 10)
    default: return nil
    }
    return v < base ? v : nil
  }

  static func underscoreMessage(_ text: String) -> String {
    "misplaced '_' in '\(text)': '_' may only separate two digits (0x8000_0000)"
  }

  static func tooLargeMessage(_ text: String) -> String {
    "number too large: '\(text)' does not fit in 64 bits"
  }
}

/// Quoting of source text in messages, shortened when long.
enum Quote {
  /// The longest quoted text, in bytes.
  static let limit = 48

  /// The bytes as text, cut to `limit` bytes with `...` when longer.
  static func text(_ s: ArraySlice<UInt8>) -> String {
    if s.count <= limit { return String(decoding: s, as: UTF8.self) }
    return String(decoding: s.prefix(limit), as: UTF8.self) + "..."
  }

  /// A string cut to `limit` bytes with `...` when longer.
  static func text(_ s: String) -> String {
    s.utf8.count <= limit ? s : text(ArraySlice(s.utf8))
  }
}
