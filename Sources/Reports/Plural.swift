/// A count with its noun, as people write it: `1 report`, `2 reports`,
/// `0 entries`. The one place the command line's printed counts get their plurals.
package enum Plural {
  /// `n` and `noun`, or `plural` (default: `noun` + "s") unless `n` is 1.
  package static func count(_ n: Int, _ noun: String, _ plural: String? = nil) -> String {
    "\(n) \(n == 1 ? noun : plural ?? noun + "s")"
  }

  /// The same for an unsigned count.
  package static func count(_ n: UInt64, _ noun: String, _ plural: String? = nil) -> String {
    "\(n) \(n == 1 ? noun : plural ?? noun + "s")"
  }
}
