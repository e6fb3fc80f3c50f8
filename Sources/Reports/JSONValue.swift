/// A JSON value whose objects keep their keys in the order given, serialised
/// by hand (no Foundation) so that output is byte-identical on every run.
///
/// Literals build values directly; a dictionary literal is an object in the
/// literal's order:
///
/// ```swift
/// let summary: JSONValue = ["summary": ["fixtures": 12, "failed": 0, "reports": 3]]
/// print(summary.serialized)   // {"summary":{"fixtures":12,"failed":0,"reports":3}}
/// ```
package enum JSONValue: Sendable, Hashable {
  case null
  case bool(Bool)
  case int(Int64)
  case uint(UInt64)
  /// Printed as Swift's shortest round-trip form; NaN and infinities print `null`.
  case double(Double)
  case string(String)
  case array([JSONValue])
  /// Members in order. Keys are printed as given, duplicates included.
  case object([JSONMember])
  /// JSON text printed as given, which the caller vouches for: a number in
  /// a fixed format (`0.380`), or a value another process printed.
  case verbatim(String)

  /// An object from ordered key/value pairs.
  package static func object(_ pairs: KeyValuePairs<String, JSONValue>) -> JSONValue {
    .object(pairs.map { JSONMember($0.key, $0.value) })
  }

  /// A hex string `0x...` (lower case, no padding), the format of `phys`, `iova`, `gfp_mask`.
  package static func hex(_ value: UInt64) -> JSONValue { .string("0x" + String(value, radix: 16)) }

  /// `value` if present, else `null`.
  package static func optional(_ value: JSONValue?) -> JSONValue { value ?? .null }

  /// Compact JSON text: no white space, pure ASCII (see `JSONText.quote`).
  package var serialized: String {
    var out = ""
    write(to: &out)
    return out
  }

  /// Appends the compact JSON text to `out`.
  package func write(to out: inout String) {
    switch self {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let v): out += String(v)
    case .uint(let v): out += String(v)
    case .double(let d):
      if d.isFinite {
        // Swift prints integral doubles as "1.0" and others in the shortest
        // round-trip form ("0.1", "1e-07"): all valid JSON numbers.
        out += d == 0 ? "0" : String(d)
      } else {
        out += "null"
      }
    case .string(let s): JSONText.appendQuoted(s, to: &out)
    case .array(let items):
      out += "["
      for (i, item) in items.enumerated() {
        if i > 0 { out += "," }
        item.write(to: &out)
      }
      out += "]"
    case .object(let members):
      out += "{"
      for (i, member) in members.enumerated() {
        if i > 0 { out += "," }
        JSONText.appendQuoted(member.key, to: &out)
        out += ":"
        member.value.write(to: &out)
      }
      out += "}"
    case .verbatim(let text): out += text
    }
  }

  /// The members of an object (empty for other values).
  package var members: [JSONMember] {
    if case .object(let m) = self { return m }
    return []
  }

  /// The value of the first member named `key`, for objects.
  package subscript(key: String) -> JSONValue? {
    members.first { $0.key == key }?.value
  }
}

/// One `"key": value` member of a JSON object.
package struct JSONMember: Sendable, Hashable {
  package var key: String
  package var value: JSONValue
  package init(_ key: String, _ value: JSONValue) {
    self.key = key
    self.value = value
  }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
  ExpressibleByDictionaryLiteral
{
  package init(nilLiteral: ()) { self = .null }
  package init(booleanLiteral value: Bool) { self = .bool(value) }
  package init(integerLiteral value: Int64) { self = .int(value) }
  package init(floatLiteral value: Double) { self = .double(value) }
  package init(stringLiteral value: String) { self = .string(value) }
  package init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  package init(dictionaryLiteral elements: (String, JSONValue)...) {
    self = .object(elements.map { JSONMember($0.0, $0.1) })
  }
}

extension JSONValue {
  package init(_ value: Int) { self = .int(Int64(value)) }
  package init(_ value: Int64) { self = .int(value) }
  package init(_ value: UInt64) { self = .uint(value) }
  package init(_ value: UInt32) { self = .int(Int64(value)) }
  package init(_ value: String) { self = .string(value) }
  package init(_ value: Bool) { self = .bool(value) }
  package init(_ value: Double) { self = .double(value) }
  package init(_ values: [String]) { self = .array(values.map { .string($0) }) }
}

/// JSON string escaping.
package enum JSONText {
  /// `text` as a JSON string literal, with quotes. The result is pure ASCII:
  /// `"` and `\` are escaped, control characters use `\b \f \n \r \t` or
  /// `\u00XX` (DEL too), and every non-ASCII character is `\uXXXX`
  /// (lower-case hex, a surrogate pair above U+FFFF).
  package static func quote(_ text: String) -> String {
    var out = ""
    appendQuoted(text, to: &out)
    return out
  }

  /// `quote(text)` without the surrounding quotes.
  package static func escape(_ text: String) -> String {
    var out = ""
    appendEscaped(text, to: &out)
    return out
  }

  package static func appendQuoted(_ text: String, to out: inout String) {
    out += "\""
    appendEscaped(text, to: &out)
    out += "\""
  }

  package static func appendEscaped(_ text: String, to out: inout String) {
    // Most text is printable ASCII with no quote or backslash: one append.
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != 0x22 && $0 != 0x5C }) {
      out += text
      return
    }
    for scalar in text.unicodeScalars {
      let v = scalar.value
      switch v {
      case 0x22: out += "\\\""
      case 0x5C: out += "\\\\"
      case 0x08: out += "\\b"
      case 0x0C: out += "\\f"
      case 0x0A: out += "\\n"
      case 0x0D: out += "\\r"
      case 0x09: out += "\\t"
      case 0x20...0x7E: out.unicodeScalars.append(scalar)
      case 0x10000...:
        let u = v - 0x10000
        appendU(0xD800 + (u >> 10), to: &out)
        appendU(0xDC00 + (u & 0x3FF), to: &out)
      default:
        appendU(v, to: &out)
      }
    }
  }

  static func appendU(_ unit: UInt32, to out: inout String) {
    let hex = String(unit, radix: 16)
    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
  }
}
