/// A position in a fixture file: 1-based line and 1-based byte column.
///
/// Columns count bytes of the line, so a tab is one column and a multi-byte
/// UTF-8 character (only possible inside strings and comments) is several.
package struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The 1-based line number.
  package var line: Int
  /// The 1-based byte column within the line.
  package var column: Int

  /// Creates a location from a 1-based line and column.
  package init(line: Int, column: Int) {
    self.line = line
    self.column = column
  }

  package static func < (a: Self, b: Self) -> Bool {
    a.line != b.line ? a.line < b.line : a.column < b.column
  }

  /// `LINE:COLUMN`.
  package var description: String { "\(line):\(column)" }
}
