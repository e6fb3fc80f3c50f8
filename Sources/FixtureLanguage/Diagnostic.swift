/// A problem found in a fixture (or in a `--cmdline` string).
///
/// `description` renders it the way compilers do: `FILE:LINE:COLUMN: error: MESSAGE`.
public struct Diagnostic: Error, Sendable, Hashable, CustomStringConvertible {
  /// How bad a diagnostic is. Only errors stop a fixture from running.
  public enum Severity: String, Sendable, Hashable {
    case error
    case warning
    case note
  }

  /// The file name as given to the parser.
  public var file: String
  /// The 1-based line.
  public var line: Int
  /// The 1-based byte column.
  public var column: Int
  /// Error, warning or note.
  public var severity: Severity
  /// The message, without location or severity.
  public var message: String

  /// Creates a diagnostic.
  public init(file: String, line: Int, column: Int, severity: Severity = .error, message: String) {
    self.file = file
    self.line = line
    self.column = column
    self.severity = severity
    self.message = message
  }

  /// Creates a diagnostic at a source location.
  public init(file: String, location: SourceLocation, severity: Severity = .error, message: String) {
    self.init(file: file, line: location.line, column: location.column, severity: severity, message: message)
  }

  /// The line and column.
  public var location: SourceLocation { SourceLocation(line: line, column: column) }

  /// `true` for `.error`.
  public var isError: Bool { severity == .error }

  /// `FILE:LINE:COLUMN: SEVERITY: MESSAGE`.
  public var description: String { "\(file):\(line):\(column): \(severity.rawValue): \(message)" }
}
