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
}
