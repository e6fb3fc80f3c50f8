/// "Did you mean" suggestions by edit distance.
package enum Suggestion {
  /// Words longer than this get no suggestion (keeps garbage cheap).
  static let maxWordLength = 64

  /// The candidate closest to `word`, if it is close enough to be a likely typo.
  ///
  /// Words shorter than 3 bytes get none. Case differences count as one edit in total, so `IOMMU_MAP` suggests
  /// `iommu_map`. Ties go to the earlier candidate.
  static func closest(to word: String, among candidates: [String]) -> String? {
    let a = Array(word.utf8)
    guard a.count >= 3, a.count <= maxWordLength else { return nil }
    let lowered = a.map(lower)
    var best: String?
    var bestDistance = Int.max
    for candidate in candidates {
      let b = Array(candidate.utf8)
      let limit = max(1, (max(a.count, b.count) + 1) / 3)
      if abs(a.count - b.count) > limit { continue }
      var d = editDistance(lowered, b.map(lower), limit: limit)
      if d == 0 { d = a == b ? 0 : 1 }
      if d <= limit, d < bestDistance, candidate != word {
        best = candidate
        bestDistance = d
      }
    }
    return best
  }

  /// ` Did you mean 'X'?`-style suffix: "; did you mean 'X'?" or "".
  static func didYouMean(_ word: String, among candidates: [String], quotePrefix: String = "", quoteSuffix: String = "") -> String {
    guard let match = closest(to: word, among: candidates) else { return "" }
    return "; did you mean '\(quotePrefix)\(match)\(quoteSuffix)'?"
  }

  private static func lower(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5a) ? byte | 0x20 : byte
  }

  /// The edit distance of `a` and `b`: insertions, deletions and substitutions, plus swaps of adjacent elements
  /// when `transpositions` (optimal string alignment). Gives up, returning `limit + 1`, once it must exceed `limit`.
  package static func editDistance<Element: Equatable>(
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
