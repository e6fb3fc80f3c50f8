/// Where the DMA-API debug entries lie, so that a check asking which entries
/// overlap a physical range (a `kfree`, a CPU write under
/// `dma_debug_assert_idle`) or hold one of a device's DMA addresses (a device
/// access, a sync or unmap that matches no entry exactly) probes a few
/// buckets instead of scanning every entry. An entry is filed in the buckets
/// of the finest level its range spans at most `maximumBuckets` of (4 KiB,
/// 2 MiB, then 1 GiB buckets); a larger one is on a short list every query visits.
/// The kernel's dma-debug hashes entries by DMA address into 16,384 buckets
/// (`hash_fn()`) and scans them; it has no physical index.
struct DMAEntryIndex {
  typealias Key = Sanitizer.DMAKey
  static let shifts: [UInt64] = [12, 21, 30]
  static let maximumBuckets: UInt64 = 8

  struct Bucket: Hashable {
    var level: Int
    var number: UInt64
  }
  struct DeviceBucket: Hashable {
    var device: String
    var bucket: Bucket
  }

  private var byPhys: [Bucket: Set<Key>] = [:]
  private var largeByPhys: Set<Key> = []
  private var byAddress: [DeviceBucket: Set<UInt64>] = [:]
  private var largeByAddress: [String: Set<UInt64>] = [:]

  /// The last byte of `[start, start + size)` (the start for an empty range), saturated.
  static func last(_ start: UInt64, _ size: UInt64) -> UInt64 {
    guard size > 0 else { return start }
    let (end, overflow) = start.addingReportingOverflow(size - 1)
    return overflow ? .max : end
  }

  /// The level an entry of `[start, last]` is filed at, nil for a large one.
  static func level(_ start: UInt64, _ last: UInt64) -> Int? {
    shifts.indices.first { (last >> shifts[$0]) - (start >> shifts[$0]) < maximumBuckets }
  }

  static func buckets(level: Int, _ start: UInt64, _ last: UInt64) -> [Bucket] {
    let s = shifts[level]
    return ((start >> s)...(last >> s)).map { Bucket(level: level, number: $0) }
  }

  mutating func insert(_ key: Key, phys: UInt64, size: UInt64) {
    let pl = Self.last(phys, size)
    if let level = Self.level(phys, pl) {
      for b in Self.buckets(level: level, phys, pl) { byPhys[b, default: []].insert(key) }
    } else {
      largeByPhys.insert(key)
    }
    let al = Self.last(key.address, size)
    if let level = Self.level(key.address, al) {
      for b in Self.buckets(level: level, key.address, al) {
        byAddress[DeviceBucket(device: key.device, bucket: b), default: []].insert(key.address)
      }
    } else {
      largeByAddress[key.device, default: []].insert(key.address)
    }
  }

  mutating func remove(_ key: Key, phys: UInt64, size: UInt64) {
    let pl = Self.last(phys, size)
    if let level = Self.level(phys, pl) {
      for b in Self.buckets(level: level, phys, pl) {
        byPhys[b]?.remove(key)
        if byPhys[b]?.isEmpty == true { byPhys[b] = nil }
      }
    } else {
      largeByPhys.remove(key)
    }
    let al = Self.last(key.address, size)
    if let level = Self.level(key.address, al) {
      for b in Self.buckets(level: level, key.address, al) {
        let db = DeviceBucket(device: key.device, bucket: b)
        byAddress[db]?.remove(key.address)
        if byAddress[db]?.isEmpty == true { byAddress[db] = nil }
      }
    } else {
      largeByAddress[key.device]?.remove(key.address)
      if largeByAddress[key.device]?.isEmpty == true { largeByAddress[key.device] = nil }
    }
  }

  /// How many buckets a query of `[start, last]` probes.
  static func probes(_ start: UInt64, _ last: UInt64) -> UInt64 {
    shifts.reduce(0) { $0 &+ ((last >> $1) - (start >> $1) + 1) }
  }

  /// The keys of entries whose physical range may meet `[start, last]`
  /// (callers test the exact condition), or nil when the query would probe
  /// more buckets than `limit` (a scan of the entries is cheaper then).
  func physCandidates(_ start: UInt64, _ last: UInt64, limit: Int) -> Set<Key>? {
    guard Self.probes(start, last) <= UInt64(limit) else { return nil }
    var out = largeByPhys
    for level in Self.shifts.indices {
      for b in Self.buckets(level: level, start, last) { if let keys = byPhys[b] { out.formUnion(keys) } }
    }
    return out
  }

  /// The DMA addresses of `device`'s entries whose range may meet `[start, last]`, or nil as above.
  func addressCandidates(device: String, _ start: UInt64, _ last: UInt64, limit: Int) -> Set<UInt64>? {
    guard Self.probes(start, last) <= UInt64(limit) else { return nil }
    var out = largeByAddress[device] ?? []
    for level in Self.shifts.indices {
      for b in Self.buckets(level: level, start, last) {
        if let addresses = byAddress[DeviceBucket(device: device, bucket: b)] { out.formUnion(addresses) }
      }
    }
    return out
  }
}
