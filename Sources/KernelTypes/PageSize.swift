/// A CPU page size or an SMMUv3 granule: `4K`, `16K` or `64K`.
package enum PageSize: UInt64, Sendable, Hashable, CaseIterable, CustomStringConvertible {
  case size4K = 4096
  case size16K = 16384
  case size64K = 65536

  /// The page size of `1 << shift` bytes; nil unless the shift is 12, 14 or 16.
  package init?(shift: Int) {
    guard (0..<64).contains(shift) else { return nil }
    self.init(rawValue: 1 << UInt64(shift))
  }

  /// The size in bytes.
  package var bytes: UInt64 { rawValue }
  /// log2 of the size (12, 14 or 16).
  package var shift: Int { rawValue.trailingZeroBitCount }
  /// `4K`, `16K` or `64K`.
  package var description: String { "\(rawValue >> 10)K" }
}
