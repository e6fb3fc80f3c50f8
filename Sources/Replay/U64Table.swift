import KernelTypes

/// An open-addressing hash map from `UInt64` keys to two `Int32` values
/// (linear probing, backward-shift deletion, power-of-two capacity, at most
/// half full). It is the replay engine's per-page map count table (key: PFN,
/// values: count and the mapping that last counted the page) and the bucket
/// directory of `IntervalIndex`.
///
/// Keys come from the trace, so the hash is keyed: each table draws a random
/// 64-bit key and mixes `key ^ seed` with the SplitMix64 finalizer. A fixed
/// multiplicative hash let a trace choose PFNs that all land in one probe
/// cluster (131,072 maps took 12.6 s). Nothing iterates the table, so the
/// seed never reaches the output.
///
/// `UInt64.max` is the empty marker and is never stored (a PFN or a bucket
/// key cannot reach it; `set` ignores it).
final class U64Table {
  private static let empty = UInt64.max
  @exclusivity(unchecked) private var keys: UnsafeMutablePointer<UInt64>
  @exclusivity(unchecked) private var first: UnsafeMutablePointer<Int32>
  @exclusivity(unchecked) private var second: UnsafeMutablePointer<Int32>
  @exclusivity(unchecked) private var capacity: Int
  @exclusivity(unchecked) private var shift: UInt64
  @exclusivity(unchecked) private(set) var count = 0
  private let minimumCapacity: Int
  private let seed: UInt64

  /// For a table keyed by page: how many keys each 256-page and each
  /// 65,536-page bucket holds, so `forEachKey(from:through:)` skips empty
  /// stretches of a large range (an order-20 free) instead of probing each page.
  private let occupancy: (fine: U64Table, coarse: U64Table)?

  init(capacity: Int = 1024, rangeIndexed: Bool = false) {
    occupancy = rangeIndexed ? (U64Table(capacity: 64), U64Table(capacity: 16)) : nil
    var c = 16
    while c < capacity { c <<= 1 }
    minimumCapacity = c
    var rng = SystemRandomNumberGenerator()
    seed = rng.next()
    self.capacity = c
    shift = UInt64(64 - c.trailingZeroBitCount)
    keys = .allocate(capacity: c)
    keys.initialize(repeating: Self.empty, count: c)
    first = .allocate(capacity: c)
    first.initialize(repeating: 0, count: c)
    second = .allocate(capacity: c)
    second.initialize(repeating: 0, count: c)
  }

  deinit {
    keys.deallocate()
    first.deallocate()
    second.deallocate()
  }

  var isEmpty: Bool { count == 0 }

  @inline(__always) private func ideal(_ key: UInt64) -> Int {
    Int(truncatingIfNeeded: splitMix64Mix(key ^ seed) >> shift)
  }

  @inline(__always) private func find(_ key: UInt64) -> Int? {
    let mask = capacity - 1
    var i = ideal(key)
    while true {
      let k = keys[i]
      if k == key { return i }
      if k == Self.empty { return nil }
      i = (i + 1) & mask
    }
  }

  /// The values stored for `key`.
  @inline(__always) func get(_ key: UInt64) -> (Int32, Int32)? {
    guard count > 0, key != Self.empty, let i = find(key) else { return nil }
    return (first[i], second[i])
  }

  @inline(__always) func contains(_ key: UInt64) -> Bool { get(key) != nil }

  /// Stores both values for `key`.
  func set(_ key: UInt64, _ a: Int32, _ b: Int32) {
    guard key != Self.empty else { return }
    let i = slotForInsert(key)
    first[i] = a
    second[i] = b
  }

  /// Adds `delta` to the first value of `key` (a missing key counts 0),
  /// saturating at the `Int32` range; the key is removed when it reaches 0.
  /// `owner` replaces the second value when `delta` is positive. Returns the new value.
  @discardableResult
  func add(_ key: UInt64, _ delta: Int32, owner: Int32) -> Int32 {
    guard key != Self.empty, delta != 0 else { return get(key)?.0 ?? 0 }
    let (i, found) = probeForInsert(key)
    guard found else {
      // A new key counts `delta`. Decrementing a page never counted keeps it
      // negative (replay never decrements what it did not count, so this is
      // only defensive).
      occupy(i, key)
      first[i] = delta
      second[i] = delta > 0 ? owner : -1
      return delta
    }
    let (v, o) = first[i].addingReportingOverflow(delta)
    let nv = o ? (delta > 0 ? Int32.max : Int32.min) : v
    if nv == 0 {
      remove(at: i)
      return 0
    }
    first[i] = nv
    if delta > 0 { second[i] = owner }
    return nv
  }

  /// Sets `key`'s first value to `a` (its second to 0 for a new key) and
  /// returns the first value it had, if any: a get and a set in one probe.
  @inline(__always) func exchangeFirst(_ key: UInt64, _ a: Int32) -> Int32? {
    guard key != Self.empty else { return nil }
    let (i, found) = probeForInsert(key)
    if found {
      let old = first[i]
      first[i] = a
      return old
    }
    occupy(i, key)
    first[i] = a
    second[i] = 0
    return nil
  }

  func setSecond(_ key: UInt64, _ b: Int32) {
    guard count > 0, key != Self.empty, let i = find(key) else { return }
    second[i] = b
  }

  func remove(_ key: UInt64) {
    guard count > 0, key != Self.empty, let i = find(key) else { return }
    remove(at: i)
  }

  /// The slot of `key`, inserted (values 0, -1) when missing.
  private func slotForInsert(_ key: UInt64) -> Int {
    let (i, found) = probeForInsert(key)
    if !found {
      occupy(i, key)
      first[i] = 0
      second[i] = -1
    }
    return i
  }

  /// The slot of `key`, or the free slot it would take, in one probe (the
  /// table grows first when one more key would fill it past half).
  @inline(__always) private func probeForInsert(_ key: UInt64) -> (Int, found: Bool) {
    if (count + 1) * 2 > capacity { resize(capacity * 2) }
    let mask = capacity - 1
    var i = ideal(key)
    while true {
      let k = keys[i]
      if k == key { return (i, true) }
      if k == Self.empty { return (i, false) }
      i = (i + 1) & mask
    }
  }

  /// Puts `key` in the free slot `i` found for it.
  @inline(__always) private func occupy(_ i: Int, _ key: UInt64) {
    keys[i] = key
    count += 1
    if let occupancy {
      occupancy.fine.add(key >> 8, 1, owner: -1)
      occupancy.coarse.add(key >> 16, 1, owner: -1)
    }
  }

  /// Calls `body(key, first, second)` for every key in `[lo, hi]`, in
  /// increasing order. With `rangeIndexed`, it costs the buckets the range
  /// covers plus the keys in non-empty ones; without, one probe per key.
  func forEachKey(from lo: UInt64, through hi: UInt64, _ body: (UInt64, Int32, Int32) -> Void) {
    forEachKey(from: lo, through: hi) { k, x, y in
      body(k, x, y)
      return true
    }
  }

  /// The same walk, stopped when `body` returns false.
  func forEachKey(from lo: UInt64, through hi: UInt64, while body: (UInt64, Int32, Int32) -> Bool) {
    walk(from: lo, through: hi, wholeBucket: nil, body)
  }

  /// How many keys `[lo, hi]` holds. With `rangeIndexed`, buckets the range
  /// covers whole are counted by their occupancy and only the keys of the
  /// partial ones probed; without, one probe per key.
  func keyCount(from lo: UInt64, through hi: UInt64) -> Int {
    var n = 0
    walk(
      from: lo, through: hi, wholeBucket: { n += Int($0) },
      { _, _, _ in
        n += 1
        return true
      })
    return n
  }

  /// The keys of `[lo, hi]` in increasing order, bucket by bucket, until
  /// `body` returns false. With `wholeBucket`, a bucket inside the range is
  /// handed over by its key count instead of key by key.
  private func walk(
    from lo: UInt64, through hi: UInt64, wholeBucket: ((Int32) -> Void)?, _ body: (UInt64, Int32, Int32) -> Bool
  ) {
    guard count > 0, lo <= hi else { return }
    func probe(_ a: UInt64, _ b: UInt64) -> Bool {
      var k = a
      while true {
        if let (x, y) = get(k), !body(k, x, y) { return false }
        if k == b { return true }
        k += 1
      }
    }
    guard let occupancy, hi - lo >= 512 else {
      _ = probe(lo, hi)
      return
    }
    /// A bucket of `1 << bits` keys at `number` of `table`: whole (counted) or
    /// partial (`inner`, or the keys probed). False: the walk stops.
    func bucket(_ table: U64Table, _ number: UInt64, _ bits: UInt64, inner: (UInt64, UInt64) -> Bool) -> Bool {
      guard let (n, _) = table.get(number) else { return true }
      let first = number << bits
      let last = first | ((1 << bits) - 1)
      if let wholeBucket, first >= lo, last <= hi {
        wholeBucket(n)
        return true
      }
      return inner(max(first, lo), min(last, hi))
    }
    var c = lo >> 16
    while true {
      let go = bucket(occupancy.coarse, c, 16) { a, b in
        var f = a >> 8
        while true {
          guard bucket(occupancy.fine, f, 8, inner: probe) else { return false }
          if f == b >> 8 { return true }
          f += 1
        }
      }
      if !go || c == hi >> 16 { return }
      c += 1
    }
  }

  private func remove(at slot: Int) {
    if let occupancy {
      occupancy.fine.add(keys[slot] >> 8, -1, owner: -1)
      occupancy.coarse.add(keys[slot] >> 16, -1, owner: -1)
    }
    let mask = capacity - 1
    var i = slot
    var j = slot
    while true {
      j = (j + 1) & mask
      let kj = keys[j]
      if kj == Self.empty { break }
      let k = ideal(kj)
      let stays = i <= j ? (i < k && k <= j) : (i < k || k <= j)
      if stays { continue }
      keys[i] = kj
      first[i] = first[j]
      second[i] = second[j]
      i = j
    }
    keys[i] = Self.empty
    count -= 1
    if capacity > minimumCapacity, count * 8 < capacity { resize(capacity / 2) }
  }

  private func resize(_ newCapacity: Int) {
    let oldKeys = keys
    let oldFirst = first
    let oldSecond = second
    let oldCapacity = capacity
    capacity = newCapacity
    shift = UInt64(64 - newCapacity.trailingZeroBitCount)
    keys = .allocate(capacity: newCapacity)
    keys.initialize(repeating: Self.empty, count: newCapacity)
    first = .allocate(capacity: newCapacity)
    first.initialize(repeating: 0, count: newCapacity)
    second = .allocate(capacity: newCapacity)
    second.initialize(repeating: 0, count: newCapacity)
    let mask = newCapacity - 1
    for s in 0..<oldCapacity where oldKeys[s] != Self.empty {
      var i = ideal(oldKeys[s])
      while keys[i] != Self.empty { i = (i + 1) & mask }
      keys[i] = oldKeys[s]
      first[i] = oldFirst[s]
      second[i] = oldSecond[s]
    }
    oldKeys.deallocate()
    oldFirst.deallocate()
    oldSecond.deallocate()
  }
}
