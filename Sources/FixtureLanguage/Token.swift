/// A word of a line: a run of non-blank bytes, possibly ending in a string
/// (`comm="a b"`) or being one (`"iommu.strict=0"`).
struct Token {
  /// Index of the first byte in the source.
  var start: Int
  /// Index after the last byte (after the closing quote for a string).
  var end: Int
  /// 1-based column of the first byte.
  var column: Int
  /// Index of the opening quote, or -1 when the token has no string.
  var quote: Int = -1
  /// The decoded string contents (escapes resolved) when `quote >= 0`.
  var string: [UInt8] = []

  /// Whether the token contains a string.
  var hasString: Bool { quote >= 0 }
}

/// A lexical error: where and what.
struct LexError {
  var column: Int
  var message: String
}

/// Splits one line into tokens, dropping the comment.
enum LineLexer {
  static let space = UInt8(ascii: " ")
  static let tab = UInt8(ascii: "\t")
  static let hash = UInt8(ascii: "#")
  static let quote = UInt8(ascii: "\"")
  static let backslash = UInt8(ascii: "\\")

  /// Lexes `source[start..<end]` (one line, no terminator) into `tokens`.
  ///
  /// Returns the first error of the line, or nil. `contentEnd` is set to the
  /// index where the statement text ends (before a comment and trailing blanks).
  static func lex(
    _ source: [UInt8], start lineStart: Int, end lineEnd: Int,
    into tokens: inout [Token], contentEnd: inout Int
  ) -> LexError? {
    tokens.removeAll(keepingCapacity: true)
    contentEnd = lineStart
    var i = lineStart
    func column(_ index: Int) -> Int { index - lineStart + 1 }
    while i < lineEnd {
      let byte = source[i]
      if byte == space || byte == tab {
        i += 1
        continue
      }
      if byte == hash { break }
      var token = Token(start: i, end: i, column: column(i))
      while i < lineEnd {
        let c = source[i]
        if c == space || c == tab || c == hash { break }
        if c == quote {
          token.quote = i
          i += 1
          var closed = false
          while i < lineEnd {
            let d = source[i]
            if d == quote {
              closed = true
              i += 1
              break
            }
            if d == backslash {
              guard i + 1 < lineEnd else { break }
              let e = source[i + 1]
              if e == quote || e == backslash {
                token.string.append(e)
                i += 2
                continue
              }
              return LexError(
                column: column(i),
                message: "unknown escape '\\\(printable(e))' in string: only \\\" and \\\\ are allowed")
            }
            if (d < 0x20 && d != tab) || d == 0x7f {
              return LexError(column: column(i), message: "control character \(hexByte(d)) in string")
            }
            token.string.append(d)
            i += 1
          }
          if !closed {
            return LexError(column: column(token.quote), message: "unterminated string")
          }
          if String(validating: token.string, as: UTF8.self) == nil {
            return LexError(column: column(token.quote), message: "string is not valid UTF-8")
          }
          if i < lineEnd, source[i] != space, source[i] != tab, source[i] != hash {
            return LexError(column: column(i), message: "expected a space after the closing quote")
          }
          break
        }
        if c < 0x20 || c == 0x7f {
          return LexError(column: column(i), message: "unexpected control character \(hexByte(c))")
        }
        if c >= 0x80 {
          return LexError(
            column: column(i),
            message: "unexpected non-ASCII byte \(hexByte(c)): outside strings and comments only ASCII is allowed")
        }
        i += 1
      }
      token.end = i
      tokens.append(token)
      contentEnd = i
    }
    return nil
  }

  static func hexByte(_ b: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return "0x" + String(digits[Int(b >> 4)]) + String(digits[Int(b & 0xf)])
  }

  static func printable(_ b: UInt8) -> String {
    (b >= 0x20 && b < 0x7f) ? String(UnicodeScalar(b)) : hexByte(b)
  }
}
