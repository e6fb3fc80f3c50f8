/// A position in a fixture file: 1-based line and 1-based byte column.
///
/// Columns count bytes of the line, so a tab is one column and a multi-byte
/// UTF-8 character (only possible inside strings and comments) is several.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The 1-based line number.
  public var line: Int
  /// The 1-based byte column within the line.
  public var column: Int

  /// Creates a location from a 1-based line and column.
  public init(line: Int, column: Int) {
    self.line = line
    self.column = column
  }

  public static func < (a: Self, b: Self) -> Bool {
    a.line != b.line ? a.line < b.line : a.column < b.column
  }

  /// `LINE:COLUMN`.
  public var description: String { "\(line):\(column)" }
}
