/// The width of a CPU store (`width=1|2|4|8`).
package enum AccessWidth: Int, Sendable, Hashable, CaseIterable {
  case byte = 1
  case halfword = 2
  case word = 4
  case doubleword = 8

  /// The width in bytes.
  package var bytes: Int { rawValue }

  /// Whether `value` fits in this many bytes.
  package func fits(_ value: UInt64) -> Bool {
    self == .doubleword || value >> UInt64(rawValue * 8) == 0
  }
}
