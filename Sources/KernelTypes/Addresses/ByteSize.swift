// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The unit constants K, M, G keep the kernel's SZ_ spelling.

/// Byte-size helpers: `4K`, `2M`, `1G` names and power-of-two arithmetic.
package enum ByteSize {
  package static let K: UInt64 = 1 << 10
  package static let M: UInt64 = 1 << 20
  package static let G: UInt64 = 1 << 30
  package static let T: UInt64 = 1 << 40

  /// A size written the way the kernel's docs and the fixture language write it: `4K`, `2M`, `1G`, or bytes.
  package static func describe(_ size: UInt64) -> String {
    for (unit, suffix) in [(T, "T"), (G, "G"), (M, "M"), (K, "K")] where size >= unit && size % unit == 0 {
      return "\(size / unit)\(suffix)"
    }
    return "\(size)"
  }

  @inlinable package static func isPowerOfTwo(_ v: UInt64) -> Bool { v != 0 && v & (v &- 1) == 0 }
  /// `__ffs()`: index of the lowest set bit (v must be non-zero).
  @inlinable package static func ffs(_ v: UInt64) -> Int { v.trailingZeroBitCount }
  /// `__fls()`: index of the highest set bit (v must be non-zero).
  @inlinable package static func fls(_ v: UInt64) -> Int { 63 - v.leadingZeroBitCount }
}
