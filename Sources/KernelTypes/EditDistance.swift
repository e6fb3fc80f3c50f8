/// The edit distance behind every "did you mean" the tool prints: fixture
/// words, report kinds and command-line options.
package enum EditDistance {
  /// The edit distance of `a` and `b`: insertions, deletions and substitutions, plus swaps of adjacent elements
  /// when `transpositions` (optimal string alignment). Gives up, returning `limit + 1`, once it must exceed `limit`.
  /// Inlinable so that callers get a copy specialised for their element type.
  @inlinable
  package static func distance<Element: Equatable>(
    _ a: [Element], _ b: [Element], limit: Int = .max, transpositions: Bool = true
  ) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var beforePrevious = [Int](repeating: 0, count: b.count + 1)
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      current[0] = i
      var rowMin = i
      for j in 1...b.count {
        let cost = a[i - 1] == b[j - 1] ? 0 : 1
        var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        if transpositions, i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
          d = min(d, beforePrevious[j - 2] + 1)
        }
        current[j] = d
        rowMin = min(rowMin, d)
      }
      if rowMin > limit { return limit + 1 }
      (beforePrevious, previous, current) = (previous, current, beforePrevious)
    }
    return previous[b.count]
  }
}
