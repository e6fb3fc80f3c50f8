import KernelTypes
import Synchronization

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
      let count = candidate.utf8.count
      let limit = max(1, (max(a.count, count) + 1) / 3)
      if abs(a.count - count) > limit { continue }
      let b = Array(candidate.utf8)
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

/// `Suggestion.closest(to:among:)` over one fixed list of candidates, remembered
/// per word for the whole process (at most `capacity` words, then forgotten
/// all at once): a misspelling met again, on another line or in another
/// fixture, costs one lookup instead of an edit distance per candidate.
package final class SuggestionList: Sendable {
  package let candidates: [String]
  private let memo = Mutex<[String: String?]>([:])
  static let capacity = 4096

  package init(_ candidates: [String]) { self.candidates = candidates }

  /// The candidate closest to `word` (`Suggestion.closest`).
  package func closest(to word: String) -> String? {
    guard word.utf8.count <= Suggestion.maxWordLength else { return nil }
    if let known = memo.withLock({ $0[word] }) { return known }
    let match = Suggestion.closest(to: word, among: candidates)
    memo.withLock {
      if $0.count >= Self.capacity { $0.removeAll(keepingCapacity: true) }
      $0[word] = .some(match)
    }
    return match
  }

  /// "; did you mean 'X'?" or "" (`Suggestion.didYouMean`).
  package func didYouMean(_ word: String) -> String {
    closest(to: word).map { "; did you mean '\($0)'?" } ?? ""
  }
}
