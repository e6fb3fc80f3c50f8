#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Parses fixture files into typed statements and diagnostics.
///
/// The parser reads a fixture as a stream: `consume` takes the file's bytes in
/// chunks of any size and `finish` returns the result. It keeps one line at a
/// time (at most `FixtureLimits.maxLineLength` bytes of it) and the statements
/// that parsed, so comments and blank lines cost no memory.
///
/// Never traps: every problem, garbage bytes included, is a diagnostic. All
/// errors of the file are collected, sorted by line then column.
package struct FixtureParser {
  private var state: ParserState
  /// The start of a line that the last chunk did not finish.
  private var pending: [UInt8] = []
  /// The length of that line so far (past `maxLineLength` its bytes are no longer kept).
  private var pendingLength = 0
  /// The last byte of that line so far.
  private var pendingLastByte: UInt8 = 0

  /// A parser for the file named `file` (the name used in diagnostics and for the main task's comm).
  package init(file: String) {
    state = ParserState(file: file)
  }

  /// The lines parsed so far.
  package var linesRead: Int { state.lineNumber }

  /// Whether parsing stopped (too many statements): later bytes are ignored.
  package var isStopped: Bool { state.stopped }

  /// Parses the next bytes of the file (UTF-8; a leading byte-order mark is skipped).
  package mutating func consume(_ chunk: UnsafeRawBufferPointer) {
    var start = 0
    let n = chunk.count
    while start < n, !state.stopped {
      guard let newline = Self.index(of: 0x0A, in: chunk, from: start) else {
        keep(UnsafeRawBufferPointer(rebasing: chunk[start..<n]))
        return
      }
      let piece = UnsafeRawBufferPointer(rebasing: chunk[start..<newline])
      if pendingLength == 0 {
        state.parse(line: piece, length: piece.count)
      } else {
        keep(piece)
        endPendingLine()
      }
      start = newline + 1
    }
  }

  /// Parses the last line (if the file does not end with a line feed) and returns the result.
  package mutating func finish() -> ParsedFixture {
    if pendingLength > 0 { endPendingLine() }
    state.closeFile()
    return state.result()
  }

  /// Parses the bytes of a whole fixture.
  /// - Parameters:
  ///   - source: the file's bytes (UTF-8; a leading byte-order mark is skipped).
  ///   - file: the name used in diagnostics and for the main task's comm.
  package static func parse(source: [UInt8], file: String) -> ParsedFixture {
    var parser = FixtureParser(file: file)
    source.withUnsafeBytes { parser.consume($0) }
    return parser.finish()
  }

  /// Parses a fixture held in a string.
  package static func parse(text: String, file: String) -> ParsedFixture {
    parse(source: Array(text.utf8), file: file)
  }

  /// Adds a piece of an unfinished line; past the line limit (and a byte-order
  /// mark and a carriage return) only its length is counted.
  private mutating func keep(_ piece: UnsafeRawBufferPointer) {
    let room = max(0, FixtureLimits.maxLineLength + 4 - pending.count)
    if room > 0 { pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: piece[0..<min(room, piece.count)])) }
    pendingLength += piece.count
    if let last = piece.last { pendingLastByte = last }
  }

  private mutating func endPendingLine() {
    // A line cut short loses its carriage return here; a whole one in `ParserState.parse`.
    let length = pendingLength > pending.count && pendingLastByte == 0x0D ? pendingLength - 1 : pendingLength
    pending.withUnsafeBytes { state.parse(line: $0, length: length) }
    pending.removeAll(keepingCapacity: pending.capacity <= 4096)
    pendingLength = 0
  }

  private static func index(of byte: UInt8, in buffer: UnsafeRawBufferPointer, from start: Int) -> Int? {
    guard let base = buffer.baseAddress, start < buffer.count else { return nil }
    guard let found = memchr(base + start, Int32(byte), buffer.count - start) else { return nil }
    return base.distance(to: UnsafeRawPointer(found))
  }
}
