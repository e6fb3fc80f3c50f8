#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Byte-level scanning on one trace line. Every function checks its index
/// against the line's length and every number against overflow, so no input
/// can trap; a failed parse returns nil or false and leaves the caller to
/// count the line as malformed.
typealias Line = UnsafeBufferPointer<UInt8>

enum ASCII {
  static let space: UInt8 = 0x20
  static let tab: UInt8 = 0x09
  static let cr: UInt8 = 0x0D
  static let dash: UInt8 = 0x2D
  static let dot: UInt8 = 0x2E
  static let slash: UInt8 = 0x2F
  static let colon: UInt8 = 0x3A
  static let equals: UInt8 = 0x3D
  static let hash: UInt8 = 0x23
  static let lbracket: UInt8 = 0x5B
  static let rbracket: UInt8 = 0x5D
  static let lparen: UInt8 = 0x28
  static let rparen: UInt8 = 0x29
  static let lbrace: UInt8 = 0x7B
  static let rbrace: UInt8 = 0x7D
  static let comma: UInt8 = 0x2C
  static let zero: UInt8 = 0x30
  static let x: UInt8 = 0x78
  static let upperX: UInt8 = 0x58

  @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == space || c == tab }
  @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
  @inline(__always) static func isWord(_ c: UInt8) -> Bool {
    isDigit(c) || (c | 0x20) &- 0x61 < 26 || c == 0x5F
  }
  /// The value of the eight hex digits at `p` (most significant first), or
  /// nil when one of the eight bytes is not a hex digit: each byte tested
  /// and converted in one 64-bit word (no branch per digit).
  @inline(__always) static func hex8(_ p: UnsafePointer<UInt8>) -> UInt64? {
    let x = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
    let ones: UInt64 = 0x0101_0101_0101_0101
    let high: UInt64 = 0x8080_8080_8080_8080
    guard x & high == 0 else { return nil }
    // With every byte below 0x80, `(x | high) - n` and `(n | high) - x` borrow
    // within a byte only: bit 7 of each byte says `x >= n`, `x <= n`.
    let digit = ((x | high) &- (0x30 &* ones)) & (((0x39 &* ones) | high) &- x) & high
    let l = x | (0x20 &* ones)
    let letter = ((l | high) &- (0x61 &* ones)) & (((0x66 &* ones) | high) &- l) & high
    guard digit | letter == high else { return nil }
    // Nibble values (a letter's low four bits plus 9), then pairs, quads, eights.
    var v = (x & (0x0F &* ones)) &+ ((letter >> 7) &* 9)
    v = (v & 0x000F_000F_000F_000F) << 4 | (v >> 8) & 0x000F_000F_000F_000F
    v = (v & 0x0000_00FF_0000_00FF) << 8 | (v >> 16) & 0x0000_00FF_0000_00FF
    v = (v & 0x0000_0000_0000_FFFF) << 16 | (v >> 32) & 0x0000_0000_0000_FFFF
    return v
  }

  /// How many of the eight bytes at `p` are decimal digits before the first
  /// other byte (0 to 8), and the value of those digits, in one 64-bit word.
  @inline(__always) static func decimalPrefix8(_ p: UnsafePointer<UInt8>) -> (count: Int, value: UInt64) {
    let x = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
    let ones: UInt64 = 0x0101_0101_0101_0101
    let high: UInt64 = 0x8080_8080_8080_8080
    // Bit 7 of a byte: a digit. A byte of 0x80 or more is not one (`~x`), and a
    // borrow it causes only reaches the bytes after it, which are not counted.
    let digit = ((x | high) &- (0x30 &* ones)) & (((0x39 &* ones) | high) &- x) & ~x & high
    let count = (~digit & high).trailingZeroBitCount >> 3
    guard count > 0 else { return (0, 0) }
    let keep: UInt64 = count == 8 ? .max : (UInt64(1) << UInt64(count * 8)) &- 1
    // The digits' values, moved to the top: the bytes below are leading zeros.
    var v = ((x & keep) &- (0x30 &* ones & keep)) << UInt64((8 - count) * 8)
    v = ((v & 0x0F0F_0F0F_0F0F_0F0F) &* 2561) >> 8
    v = ((v & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
    v = ((v & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
    return (count, v)
  }

  @inline(__always) static func hexValue(_ c: UInt8) -> UInt64? {
    if c &- 0x30 < 10 { return UInt64(c &- 0x30) }
    let l = c | 0x20
    if l &- 0x61 < 6 { return UInt64(l &- 0x61 &+ 10) }
    return nil
  }
}

extension UnsafeBufferPointer where Element == UInt8 {
  @inline(__always) func byte(_ i: Int) -> UInt8? { i >= 0 && i < count ? self[i] : nil }

  @inline(__always) func skipSpaces(_ i: inout Int) {
    while i < count, ASCII.isSpace(self[i]) { i += 1 }
  }

  /// True, and `i` moved past it, when `literal` starts at `i`.
  @inline(__always) func expect(_ literal: StaticString, _ i: inout Int) -> Bool {
    let n = literal.utf8CodeUnitCount
    guard i >= 0, n <= count - i else { return false }
    let p = literal.utf8Start
    // A longer literal costs one `memcmp` instead of a compare and a bounds check a byte.
    if n >= 6, let base = baseAddress {
      guard base[i] == p[0], memcmp(base + i, p, n) == 0 else { return false }
    } else {
      for k in 0..<n where self[i + k] != p[k] { return false }
    }
    i += n
    return true
  }

  /// The bytes `[a, b)` equal `literal`.
  @inline(__always) func equals(_ a: Int, _ b: Int, _ literal: StaticString) -> Bool {
    let n = literal.utf8CodeUnitCount
    guard a >= 0, b <= count, b - a == n else { return false }
    let p = literal.utf8Start
    for k in 0..<n where self[a + k] != p[k] { return false }
    return true
  }

  /// Decimal digits at `i` (at least one), or nil on none or overflow.
  @inline(__always) func decimal(_ i: inout Int) -> UInt64? {
    var v: UInt64 = 0
    let start = i
    while i < count, ASCII.isDigit(self[i]) {
      let (m, o1) = v.multipliedReportingOverflow(by: 10)
      let (s, o2) = m.addingReportingOverflow(UInt64(self[i] &- 0x30))
      if o1 || o2 { return nil }
      v = s
      i += 1
    }
    return i > start ? v : nil
  }

  /// Decimal digits at `i` (at least one), saturating at `UInt64.max`; nil on none.
  @inline(__always) func saturatingDecimal(_ i: inout Int) -> UInt64? {
    var v: UInt64 = 0
    let start = i
    while i < count, ASCII.isDigit(self[i]) {
      let (m, o1) = v.multipliedReportingOverflow(by: 10)
      let (s, o2) = m.addingReportingOverflow(UInt64(self[i] &- 0x30))
      v = o1 || o2 ? .max : s
      i += 1
    }
    return i > start ? v : nil
  }

  /// Hex digits at `i` (at least one; a leading `0x` is skipped), or nil on none or overflow.
  @inline(__always) func hex(_ i: inout Int) -> UInt64? {
    if i + 1 < count, self[i] == ASCII.zero, self[i + 1] | 0x20 == ASCII.x { i += 2 }
    var v: UInt64 = 0
    let start = i
    // Eight digits at a time while eight are there (the trace's `%016llx`
    // and `%llx` fields), then digit by digit, which also decides overflow.
    if let base = baseAddress {
      while count - i >= 8, v >> 32 == 0, let chunk = ASCII.hex8(base + i) {
        v = v << 32 | chunk
        i += 8
      }
    }
    while i < count, let d = ASCII.hexValue(self[i]) {
      if v >> 60 != 0 { return nil }
      v = v << 4 | d
      i += 1
    }
    return i > start ? v : nil
  }

  /// A number written `0x...` (hex) or as decimal digits.
  @inline(__always) func hexOrDecimal(_ i: inout Int) -> UInt64? {
    if i + 1 < count, self[i] == ASCII.zero, self[i + 1] | 0x20 == ASCII.x { return hex(&i) }
    return decimal(&i)
  }

  /// A signed decimal (`-1`).
  @inline(__always) func signedDecimal(_ i: inout Int) -> Int64? {
    var negative = false
    if i < count, self[i] == ASCII.dash {
      negative = true
      i += 1
    }
    guard let v = decimal(&i), v <= UInt64(Int64.max) else { return nil }
    return negative ? -Int64(v) : Int64(v)
  }

  /// The end of the token starting at `i` (the next space or the end of the line).
  @inline(__always) func tokenEnd(_ i: Int) -> Int {
    var j = i
    while j < count, !ASCII.isSpace(self[j]) { j += 1 }
    return j
  }

  /// Only spaces from `i` to the end.
  @inline(__always) func atEnd(_ i: Int) -> Bool {
    var j = i
    skipSpaces(&j)
    return j >= count
  }

  func string(_ a: Int, _ b: Int) -> String {
    guard a >= 0, b <= count, a < b else { return "" }
    return String(decoding: UnsafeBufferPointer(rebasing: self[a..<b]), as: UTF8.self)
  }
}
