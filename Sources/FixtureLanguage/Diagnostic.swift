/// A problem found in a fixture (or in a `--cmdline` string).
///
/// `description` renders it the way compilers do: `FILE:LINE:COLUMN: error: MESSAGE`.
package struct Diagnostic: Error, Sendable, Hashable, CustomStringConvertible {
  /// How bad a diagnostic is. Only errors stop a fixture from running.
  package enum Severity: String, Sendable, Hashable {
    case error
    case warning
    case note
  }

  /// The file name as given to the parser.
  package var file: String
  /// The 1-based line; 0 for a diagnostic about the whole file (`cannot read file`).
  package var line: Int
  /// The 1-based byte column.
  package var column: Int
  /// Error, warning or note.
  package var severity: Severity
  /// The message, without location or severity.
  package var message: String
  /// The text of the line the diagnostic is about, kept when it was made (the
  /// parser streams and keeps one line), for the caret line; nil when the
  /// line is not known, too long to show, or holds bytes a terminal would
  /// not show as text. Not part of a diagnostic's identity (`==`).
  package var sourceLine: String?

  /// The longest line kept in `sourceLine`, in bytes.
  package static let maxSourceLineLength = 512

  /// Creates a diagnostic.
  package init(file: String, line: Int, column: Int, severity: Severity = .error, message: String) {
    self.file = file
    self.line = line
    self.column = column
    self.severity = severity
    self.message = message
  }

  /// Creates an error about the whole file, which has no line or column.
  package init(file: String, message: String) {
    self.init(file: file, line: 0, column: 0, message: message)
  }

  /// Creates a diagnostic at a source location.
  package init(file: String, location: SourceLocation, severity: Severity = .error, message: String) {
    self.init(file: file, line: location.line, column: location.column, severity: severity, message: message)
  }

  /// The line and column.
  package var location: SourceLocation { SourceLocation(line: line, column: column) }

  /// `true` for `.error`.
  package var isError: Bool { severity == .error }

  /// `FILE:LINE:COLUMN: SEVERITY: MESSAGE`, or `FILE: SEVERITY: MESSAGE` about the whole file.
  package var description: String {
    line == 0
      ? "\(file): \(severity.rawValue): \(message)"
      : "\(file):\(line):\(column): \(severity.rawValue): \(message)"
  }

  package static func == (a: Self, b: Self) -> Bool {
    (a.file, a.line, a.column, a.severity, a.message) == (b.file, b.line, b.column, b.severity, b.message)
  }

  package func hash(into hasher: inout Hasher) {
    hasher.combine(file)
    hasher.combine(line)
    hasher.combine(column)
    hasher.combine(severity)
    hasher.combine(message)
  }

  /// Keeps `bytes` as the source line when they are short, valid UTF-8 and free of control characters but tabs.
  package mutating func keepSourceLine(_ bytes: some Collection<UInt8>) {
    guard bytes.count <= Self.maxSourceLineLength, bytes.allSatisfy({ $0 >= 0x20 && $0 != 0x7F || $0 == 0x09 }),
      let text = String(validating: bytes, as: UTF8.self)
    else { return }
    sourceLine = text
  }

  /// The diagnostic as clang prints it: the `description` line, then (when
  /// `sourceLine` is known) the source line and a `^` under the column.
  /// With `color`, clang's colours: bold location and message, red `error:`,
  /// magenta `warning:`, grey... `note:`, green caret.
  package func rendered(color: Bool = false) -> String {
    var text: String
    if color {
      let place = line == 0 ? "\(file): " : "\(file):\(line):\(column): "
      let tint =
        switch severity {
        case .error: "\u{1B}[0;1;31m"
        case .warning: "\u{1B}[0;1;35m"
        case .note: "\u{1B}[0;1;30m"
        }
      text =
        "\u{1B}[1m\(place)\u{1B}[0m\(tint)\(severity.rawValue): \u{1B}[0m\u{1B}[1m\(message)\u{1B}[0m\n"
    } else {
      text = description + "\n"
    }
    guard line > 0, column > 0, let sourceLine else { return text }
    // The caret's indent: a tab stays a tab; any other character is one column.
    var indent = ""
    var byte = 1
    for scalar in sourceLine.unicodeScalars {
      guard byte < column else { break }
      indent.append(scalar == "\t" ? "\t" : " ")
      byte += UTF8.width(scalar)
    }
    let caret = color ? "\u{1B}[0;1;32m^\u{1B}[0m" : "^"
    return text + sourceLine + "\n" + indent + caret + "\n"
  }
}
