import MemoryModel

/// Formatting primitives shared by the renderers: how a symbol, a frame, a
/// value or a printk message becomes text that stays on its own line and
/// parses the way kernel tools expect.
///
/// Every function here is total: any input string gives a result, and no
/// result contains a line break or another control character.
package enum KernelText {
  /// A kernel symbol name: the characters of a C identifier (and `.` for
  /// compiler suffixes such as `.isra.0`) kept, anything else replaced by
  /// `_`; an empty name becomes `unknown`. syzkaller's frame regex
  /// (`[a-zA-Z0-9_]+` then `+` or `.`) matches every result.
  package static func symbol(_ name: String) -> String {
    if name.isEmpty { return "unknown" }
    var out = ""
    out.reserveCapacity(name.utf8.count)
    for scalar in name.unicodeScalars {
      switch scalar.value {
      case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F, 0x2E: out.unicodeScalars.append(scalar)
      default: out.append("_")
      }
    }
    return out
  }

  /// A module name as `%pS` prints it in brackets; the kernel turns `-` into
  /// `_` in module names, and anything outside `[A-Za-z0-9_.]` is replaced too.
  package static func moduleName(_ name: String) -> String { symbol(name) }

  /// `%pS` of a frame: `func+0xOFF/0xSIZE`, then ` [module]` for module code.
  package static func frame(_ frame: StackFrame) -> String {
    Self.frame(frame, source: false)
  }

  /// A frame as a call-trace line prints it (without the leading space):
  /// `func+0xOFF/0xSIZE`, then ` FILE:LINE` when `source` is true and the
  /// frame has a source location (where syzkaller's symbolizer puts it, before
  /// the module), then ` [module]`.
  package static func frame(_ frame: StackFrame, source: Bool) -> String {
    let (offset, size) = frame.offsetAndSize
    var s = symbol(frame.function) + "+0x" + String(offset, radix: 16) + "/0x" + String(size, radix: 16)
    if source, let file = frame.sourceFile, let line = frame.sourceLine {
      s += " " + sanitize(file) + ":" + String(line)
    }
    if let module = frame.module, !module.isEmpty {
      s += " [" + moduleName(module) + "]"
    }
    return s
  }

  /// `%pS` of a bare function name (used for the `WARNING:` line's caller).
  package static func frame(function: String, module: String? = nil) -> String {
    Self.frame(StackFrame(function, module: module))
  }

  /// The text with every control character escaped, so that it cannot break
  /// a line or reorder the terminal: C0 and C1 controls, DEL, the Unicode
  /// line and paragraph separators and format characters (bidirectional
  /// overrides among them) become `\xHH` or `\u{HHHH}`. Other characters,
  /// non-ASCII letters included, are kept.
  package static func sanitize(_ text: String) -> String {
    var needs = false
    for scalar in text.unicodeScalars where mustEscape(scalar) {
      needs = true
      break
    }
    if !needs { return text }
    var out = ""
    for scalar in text.unicodeScalars {
      if mustEscape(scalar) {
        out += escapeSequence(scalar)
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    return out
  }

  /// The lines a printk of `message` produces: split at `\n` (a trailing
  /// newline ends the message and adds no empty line; `\r` before a newline
  /// is dropped), each line sanitized. An empty message gives one empty line.
  package static func printkLines(_ message: String) -> [String] {
    // Split on scalars: "\r\n" is a single Character.
    var pieces = message.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
    if pieces.count > 1, pieces.last?.isEmpty == true { pieces.removeLast() }
    return pieces.map { piece in
      var p = piece
      if p.last == "\r" { p = p.dropLast() }
      return sanitize(String(String.UnicodeScalarView(p)))
    }
  }

  /// A value in the `iommusan:` block: printed bare when it is one word of
  /// printable characters, otherwise in double quotes with `"` and `\`
  /// escaped, so that the last token of a line is always the whole value.
  package static func value(_ text: String) -> String {
    var bare = !text.isEmpty
    for scalar in text.unicodeScalars {
      if scalar == " " || scalar == "\"" || scalar == "\\" || mustEscape(scalar)
        || scalar.properties.isWhitespace
      {
        bare = false
        break
      }
    }
    if bare { return text }
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      default:
        if mustEscape(scalar) {
          out += escapeSequence(scalar)
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  /// A detail value as text: decimal, `0x` hex, or a (quoted if needed) string.
  package static func detailValue(_ value: DetailValue) -> String {
    switch value {
    case .int(let v): return String(v)
    case .hex(let v): return "0x" + String(v, radix: 16)
    case .string(let s): return Self.value(s)
    }
  }

  /// The dmesg line prefix `[%5lu.%06lu] `, with the `CONFIG_PRINTK_CALLER`
  /// field `[T<pid>]` (right-aligned in 6 columns, as printk prints it) when
  /// `pid` is given: `[  554.863972][T11919] `.
  package static func printkPrefix(nanoseconds: UInt64, pid: Int? = nil) -> String {
    let seconds = String(nanoseconds / 1_000_000_000)
    let micros = String((nanoseconds % 1_000_000_000) / 1000)
    var s = "[" + pad(seconds, 5) + "." + String(repeating: "0", count: max(0, 6 - micros.count)) + micros + "]"
    if let pid {
      s += "[" + pad("T" + String(pid), 6) + "]"
    }
    return s + " "
  }

  // MARK: - Internals

  static func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
  }

  static func mustEscape(_ scalar: Unicode.Scalar) -> Bool {
    let v = scalar.value
    if v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) { return true }
    if v < 0x80 { return false }
    switch scalar.properties.generalCategory {
    case .control, .lineSeparator, .paragraphSeparator, .format: return true
    default: return false
    }
  }

  static func escapeSequence(_ scalar: Unicode.Scalar) -> String {
    let hex = String(scalar.value, radix: 16)
    if scalar.value <= 0xFF {
      return "\\x" + (hex.count < 2 ? "0" + hex : hex)
    }
    return "\\u{" + (hex.count < 4 ? String(repeating: "0", count: 4 - hex.count) + hex : hex) + "}"
  }
}
