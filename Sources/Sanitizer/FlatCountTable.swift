/// An open-addressing hash table from piece keys to counts: linear probing,
/// a multiplicative hash, no deletion (a zero count stays in place). The
/// hot path of exact accounting does one lookup per map or unmap, and
/// `Dictionary`'s seeded SipHash would cost more than the rest of it.
struct FlatCountTable {
  /// Never a piece key (the level lives in the top byte, at most 7).
  private static let empty = UInt64.max
  private var keys: [UInt64]
  private var values: [Int64]
  private(set) var count = 0

  init() {
    keys = Array(repeating: Self.empty, count: 64)
    values = Array(repeating: 0, count: 64)
  }

  @inline(__always) private func slot(_ key: UInt64, _ mask: Int) -> Int {
    Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
  }

  /// The count stored for `key` (0 when absent).
  func value(_ key: UInt64) -> Int64 {
    let mask = keys.count - 1
    var i = slot(key, mask)
    while true {
      let k = keys[i]
      if k == key { return values[i] }
      if k == Self.empty { return 0 }
      i = (i + 1) & mask
    }
  }

  /// Adds `delta` and returns (old, new).
  mutating func add(_ key: UInt64, _ delta: Int64) -> (Int64, Int64) {
    if (count + 1) * 2 > keys.count { grow() }
    let mask = keys.count - 1
    var i = slot(key, mask)
    while true {
      let k = keys[i]
      if k == key {
        let old = values[i]
        values[i] = old &+ delta
        return (old, values[i])
      }
      if k == Self.empty {
        keys[i] = key
        values[i] = delta
        count += 1
        return (0, delta)
      }
      i = (i + 1) & mask
    }
  }

  private mutating func grow() {
    let oldKeys = keys
    let oldValues = values
    keys = Array(repeating: Self.empty, count: oldKeys.count * 2)
    values = Array(repeating: 0, count: oldKeys.count * 2)
    count = 0
    for (k, v) in zip(oldKeys, oldValues) where k != Self.empty && v != 0 {
      _ = add(k, v)
    }
  }

  /// Keys whose count is not zero.
  var nonZeroCount: Int { values.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
}
