/// Where two texts differ, line by line: the first differing lines with
/// their numbers, so a failure says what changed without printing both texts.
package struct LineDiff: Sendable, Hashable, CustomStringConvertible {
  /// One differing line: its 1-based number and both versions (nil past a text's end).
  package struct Line: Sendable, Hashable {
    package var number: Int
    package var expected: String?
    package var actual: String?
  }

  /// The first differing lines, at most the limit given.
  package var lines: [Line] = []
  /// How many lines differ in all.
  package var count = 0
  package var expectedLineCount: Int
  package var actualLineCount: Int

  package init(expected: String, actual: String, limit: Int = 4) {
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    expectedLineCount = e.count
    actualLineCount = a.count
    for i in 0..<max(e.count, a.count) {
      let want = i < e.count ? String(e[i]) : nil
      let got = i < a.count ? String(a[i]) : nil
      guard want != got else { continue }
      count += 1
      if lines.count < limit { lines.append(Line(number: i + 1, expected: want, actual: got)) }
    }
  }

  package var isEmpty: Bool { count == 0 }

  package var description: String {
    var out = "\(count) line(s) differ (want \(expectedLineCount) lines, got \(actualLineCount))"
    out += count > lines.count ? "; the first \(lines.count):" : ":"
    for l in lines {
      out += "\n  \(l.number) want: \(l.expected ?? "<end of text>")"
      out += "\n  \(l.number) got:  \(l.actual ?? "<end of text>")"
    }
    return out
  }
}
