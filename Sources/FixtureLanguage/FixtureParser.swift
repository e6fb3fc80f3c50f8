/// Parses fixture files into typed statements and diagnostics.
package struct FixtureParser: Sendable {
  /// Parses the bytes of a fixture.
  ///
  /// Never traps: every problem, garbage bytes included, is a diagnostic. All
  /// errors of the file are collected, sorted by line then column.
  /// - Parameters:
  ///   - source: the file's bytes (UTF-8; a leading byte-order mark is skipped).
  ///   - file: the name used in diagnostics and for the main task's comm.
  package static func parse(source: [UInt8], file: String) -> ParsedFixture {
    var state = ParserState(source: source, file: file)
    state.run()
    return state.result()
  }

  /// Parses a fixture held in a string.
  package static func parse(text: String, file: String) -> ParsedFixture {
    parse(source: Array(text.utf8), file: file)
  }
}
