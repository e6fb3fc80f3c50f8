import KernelTypes

/// "Did you mean" for report kind names (`iommusan explain KIND`).
extension ReportKind {
  /// The report kind that `name` most likely means, for "did you mean"
  /// messages. In order: the name itself, written with `_` or spaces, in
  /// another case or as the Swift case (`freedWhileIOTLBCached`); a unique
  /// prefix of at least 3 characters; a name whose words all belong to exactly
  /// one kind (`ats-timeout`, `leak`); the nearest name by edit distance
  /// (optimal string alignment: a swapped pair of letters is one edit), if at
  /// most 1 edit away for names up to 4 characters, else at most a third of
  /// the name's length (at least 2). Nil otherwise.
  package static func suggest(_ name: String) -> ReportKind? {
    let normalized = normalize(name)
    if normalized.isEmpty { return nil }
    if let exact = ReportKind(rawValue: normalized) { return exact }
    let prefixed = allCases.filter { $0.rawValue.hasPrefix(normalized) }
    if prefixed.count == 1, normalized.count >= 3 { return prefixed[0] }
    // Every word of the input is a word of exactly one kind: `ats-timeout`, `leak`.
    let words = Set(normalized.split(separator: "-"))
    let containing = allCases.filter { words.isSubset(of: Set($0.rawValue.split(separator: "-"))) }
    if containing.count == 1 { return containing[0] }
    let input = Array(normalized.unicodeScalars)
    var best: (kind: ReportKind, distance: Int)?
    for kind in allCases {
      let d = EditDistance.distance(input, Array(kind.rawValue.unicodeScalars))
      if best == nil || d < best!.distance { best = (kind, d) }
    }
    guard let best else { return nil }
    let limit = input.count <= 4 ? 1 : max(2, input.count / 3)
    return best.distance <= limit ? best.kind : nil
  }

  /// Lower case, `_` and white space as `-`, camelCase and acronym
  /// boundaries as `-` (`freedWhileIOTLBCached` gives `freed-while-iotlb-cached`).
  static func normalize(_ name: String) -> String {
    let scalars = Array(name.trimmingSpaces().unicodeScalars)
    func isUpper(_ s: Unicode.Scalar) -> Bool { (0x41...0x5A).contains(s.value) }
    func isLowerOrDigit(_ s: Unicode.Scalar) -> Bool {
      (0x61...0x7A).contains(s.value) || (0x30...0x39).contains(s.value)
    }
    var out = ""
    for (i, scalar) in scalars.enumerated() {
      if scalar == "_" || scalar == "-" || scalar.properties.isWhitespace {
        if !out.isEmpty && !out.hasSuffix("-") { out += "-" }
        continue
      }
      if isUpper(scalar) {
        let previous = i > 0 ? scalars[i - 1] : nil
        let next = i + 1 < scalars.count ? scalars[i + 1] : nil
        let boundary =
          previous.map { isLowerOrDigit($0) } ?? false
          || (previous.map(isUpper) ?? false) && (next.map { (0x61...0x7A).contains($0.value) } ?? false)
        if boundary && !out.isEmpty && !out.hasSuffix("-") { out += "-" }
        out.unicodeScalars.append(Unicode.Scalar(scalar.value + 0x20)!)
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    while out.hasSuffix("-") { out.removeLast() }
    return out
  }
}

extension String {
  fileprivate func trimmingSpaces() -> String {
    let scalars = unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
    let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
    return String(scalars[first...last])
  }
}
