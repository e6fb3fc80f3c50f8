import KernelTypes

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
      var d = EditDistance.distance(lowered, b.map(lower), limit: limit)
      if d == 0 { d = a == b ? 0 : 1 }
      if d <= limit, d < bestDistance, candidate != word {
        best = candidate
        bestDistance = d
      }
    }
    return best
  }

  /// ` Did you mean 'X'?`-style suffix: "; did you mean 'X'?" or "".
  static func didYouMean(_ word: String, among candidates: [String], quotePrefix: String = "", quoteSuffix: String = "")
    -> String
  {
    guard let match = closest(to: word, among: candidates) else { return "" }
    return "; did you mean '\(quotePrefix)\(match)\(quoteSuffix)'?"
  }

  private static func lower(_ byte: UInt8) -> UInt8 {
    (byte >= 0x41 && byte <= 0x5a) ? byte | 0x20 : byte
  }
}
