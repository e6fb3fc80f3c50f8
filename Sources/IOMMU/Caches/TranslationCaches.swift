import MemoryModel

/// What a cache entry is tagged with: the domain (DID/ASID) and, for
/// first-stage or PASID translations, the PASID.
package struct CacheTag: Hashable, Sendable, CustomStringConvertible {
  package var domainID: Int
  package var pasid: UInt32?
  package init(domainID: Int, pasid: UInt32? = nil) {
    self.domainID = domainID
    self.pasid = pasid
  }
  package var description: String { pasid.map { "did \(domainID) pasid \($0)" } ?? "did \(domainID)" }
}

/// A cached leaf translation (IOTLB or ATC entry).
package struct LeafEntry: Sendable, Hashable {
  package var tag: CacheTag
  package var iova: UInt64
  package var shift: Int
  package var phys: UInt64
  package var readable: Bool
  package var writable: Bool
  package var user: Bool
  /// The epoch at which the leaf PTE was written (ground truth).
  package var epoch: UInt64
  /// Filled by a walk through a freed table page: that page (0 when none)
  /// and its depth, so a later hit is still a stale walk.
  package var staleTable: UInt64 = 0
  package var staleDepth: Int = 0
  package var size: UInt64 { 1 << UInt64(shift) }
}

/// A cached non-leaf entry (paging-structure / walk cache): the table that
/// entry at `depth` points to, for the IOVAs under `prefix`.
package struct WalkEntry: Sendable, Hashable {
  package var tag: CacheTag
  package var depth: Int
  package var iovaBase: UInt64
  package var span: UInt64
  package var table: UInt64
  /// The allocation generation of the table page when cached.
  package var generation: UInt64
  /// AND of U/S and R/W along the path (Intel SDM 4.10.3.1).
  package var user: Bool
  package var writable: Bool
}

/// A capacity-bounded leaf cache with least-recently-used eviction and a
/// reverse index by physical address. Not thread-safe: the unit locks.
/// Each entry is charged to the resident budget while it is cached; an
/// entry the budget refuses is not cached.
struct LeafCache {
  /// What one entry costs: its dictionary slot (key and entry, at the
  /// dictionary's lowest load) and its reverse-index slot and array.
  static let entryBytes = 384
  struct Key: Hashable {
    var tag: CacheTag
    var shift: Int
    var page: UInt64
  }
  struct PhysKey: Hashable {
    var shift: Int
    var page: UInt64
  }
  let capacity: Int
  /// Where entries are charged (nil: nowhere), and as what.
  let budget: ResidentBudget?
  let category: ResidentCategory
  private(set) var entries: [Key: (entry: LeafEntry, stamp: UInt64)] = [:]
  /// Keys by target page, each with the stamp it was inserted at (the order `reaching` reports them in).
  private var byPhys: [PhysKey: [Key: UInt64]] = [:]
  /// Page sizes present, smallest first: lookups try them in a fixed order.
  private var shifts: [Int] = []
  private var stamp: UInt64 = 0
  /// The keys by last use: the victim of a full cache in O(1).
  private(set) var recency = RecencyQueue<Key>()
  private(set) var evictions: UInt64 = 0

  init(capacity: Int, budget: ResidentBudget? = nil, category: ResidentCategory = .iotlbEntries) {
    self.capacity = capacity
    self.budget = budget
    self.category = category
  }

  var isEmpty: Bool { entries.isEmpty }
  var count: Int { entries.count }
  /// The bytes charged for the entries cached now.
  var chargedBytes: Int { budget == nil ? 0 : entries.count * Self.entryBytes }

  mutating func lookup(_ tag: CacheTag, _ iova: UInt64) -> LeafEntry? {
    guard !entries.isEmpty else { return nil }
    for s in shifts {
      let k = Key(tag: tag, shift: s, page: iova >> UInt64(s))
      if let e = entries[k] {
        stamp += 1
        entries[k] = (e.entry, stamp)
        noteUse(k)
        return e.entry
      }
    }
    return nil
  }

  mutating func insert(_ e: LeafEntry) {
    guard capacity > 0 else { return }
    let k = Key(tag: e.tag, shift: e.shift, page: e.iova >> UInt64(e.shift))
    if entries[k] != nil { remove(k) }
    // The least recently used entry (the smallest stamp), found in O(1).
    if entries.count >= capacity, let victim = oldestKey() {
      remove(victim)
      evictions += 1
    }
    if let budget, !budget.charge(Self.entryBytes, category) { return }
    stamp += 1
    entries[k] = (e, stamp)
    noteUse(k)
    if !shifts.contains(e.shift) {
      shifts.append(e.shift)
      shifts.sort()
    }
    byPhys[PhysKey(shift: e.shift, page: e.phys >> UInt64(e.shift)), default: [:]][k] = stamp
  }

  /// Records the use of `k` at the current stamp. The entries are read
  /// through a local reference, released on return (no copy on write).
  private mutating func noteUse(_ k: Key) {
    let live = entries
    recency.use(k, stamp: stamp, live: live.count) { live[$0]?.stamp }
  }

  private mutating func oldestKey() -> Key? {
    let live = entries
    return recency.oldest { live[$0]?.stamp }
  }

  private mutating func remove(_ k: Key) {
    guard let e = entries.removeValue(forKey: k)?.entry else { return }
    budget?.release(Self.entryBytes, category)
    let pk = PhysKey(shift: e.shift, page: e.phys >> UInt64(e.shift))
    byPhys[pk]?[k] = nil
    if byPhys[pk]?.isEmpty == true { byPhys[pk] = nil }
  }

  /// Drops entries matching `tag` (nil: all tags; a tag with nil PASID
  /// matches every PASID of its domain when `allPASIDs`) that overlap
  /// `[start, end]`. Returns how many were dropped.
  @discardableResult
  mutating func invalidate(domainID: Int?, pasid: UInt32?? = nil, start: UInt64 = 0, end: UInt64 = .max) -> Int {
    guard !entries.isEmpty else { return 0 }
    var victims: [Key] = []
    let small = end &- start < (64 << 12) && domainID != nil
    if small, let did = domainID, case .some(let p) = pasid {
      // Direct probes: cheaper than a scan for short ranges.
      for s in shifts {
        var page = start >> UInt64(s)
        let last = end >> UInt64(s)
        while page <= last {
          let k = Key(tag: CacheTag(domainID: did, pasid: p), shift: s, page: page)
          if entries[k] != nil { victims.append(k) }
          if page == .max { break }
          page += 1
        }
      }
    } else {
      for (k, v) in entries {
        if let did = domainID, k.tag.domainID != did { continue }
        if case .some(let p) = pasid, k.tag.pasid != p { continue }
        let e = v.entry
        if e.iova &+ e.size &- 1 < start || e.iova > end { continue }
        victims.append(k)
      }
    }
    for k in victims { remove(k) }
    return victims.count
  }

  /// Entries whose target range contains `phys`.
  func reaching(_ phys: UInt64) -> [LeafEntry] {
    guard !entries.isEmpty else { return [] }
    var out: [LeafEntry] = []
    for s in shifts {
      let keys = byPhys[PhysKey(shift: s, page: phys >> UInt64(s))] ?? [:]
      for (k, _) in keys.sorted(by: { $0.value < $1.value }) {
        if let e = entries[k] { out.append(e.entry) }
      }
    }
    return out
  }
}

/// Paging-structure caches: non-leaf entries by level, with a reverse index
/// by the table page they point to. Not thread-safe: the unit locks.
/// Entries are charged to the resident budget as `LeafCache`'s are.
struct WalkCache {
  /// What one entry costs: its dictionary slot and its reverse-index slot and array.
  static let entryBytes = 384
  struct Key: Hashable {
    var tag: CacheTag
    var depth: Int
    var prefix: UInt64
  }
  let capacity: Int
  /// Where entries are charged (nil: nowhere).
  let budget: ResidentBudget?
  private(set) var entries: [Key: (entry: WalkEntry, stamp: UInt64)] = [:]
  /// Keys by the 4 KiB frame of the table they point to.
  private var byTable: [UInt64: Set<Key>] = [:]
  private var stamp: UInt64 = 0
  /// The keys by last use: the victim of a full cache in O(1).
  private(set) var recency = RecencyQueue<Key>()
  private(set) var evictions: UInt64 = 0

  init(capacity: Int, budget: ResidentBudget? = nil) {
    self.capacity = capacity
    self.budget = budget
  }
  var isEmpty: Bool { entries.isEmpty }
  var count: Int { entries.count }
  /// The bytes charged for the entries cached now.
  var chargedBytes: Int { budget == nil ? 0 : entries.count * Self.entryBytes }

  /// The deepest cached entry for `iova` (hardware uses the longest match).
  mutating func lookup(_ tag: CacheTag, _ iova: UInt64, format: PageTableFormat) -> WalkEntry? {
    guard !entries.isEmpty else { return nil }
    for d in stride(from: format.levels - 2, through: 0, by: -1) {
      let k = Key(tag: tag, depth: d, prefix: iova >> UInt64(format.shift(d)))
      if let e = entries[k] {
        stamp += 1
        entries[k] = (e.entry, stamp)
        noteUse(k)
        return e.entry
      }
    }
    return nil
  }

  mutating func insert(_ e: WalkEntry, format: PageTableFormat) {
    guard capacity > 0 else { return }
    let k = Key(tag: e.tag, depth: e.depth, prefix: e.iovaBase >> UInt64(format.shift(e.depth)))
    if entries[k] != nil { remove(k) }
    // The least recently used entry (the smallest stamp), found in O(1).
    if entries.count >= capacity, let victim = oldestKey() {
      remove(victim)
      evictions += 1
    }
    if let budget, !budget.charge(Self.entryBytes, .walkCacheEntries) { return }
    stamp += 1
    entries[k] = (e, stamp)
    noteUse(k)
    byTable[e.table >> 12, default: []].insert(k)
  }

  /// Records the use of `k` at the current stamp. The entries are read
  /// through a local reference, released on return (no copy on write).
  private mutating func noteUse(_ k: Key) {
    let live = entries
    recency.use(k, stamp: stamp, live: live.count) { live[$0]?.stamp }
  }

  private mutating func oldestKey() -> Key? {
    let live = entries
    return recency.oldest { live[$0]?.stamp }
  }

  private mutating func remove(_ k: Key) {
    guard let e = entries.removeValue(forKey: k)?.entry else { return }
    budget?.release(Self.entryBytes, .walkCacheEntries)
    byTable[e.table >> 12]?.remove(k)
    if byTable[e.table >> 12]?.isEmpty == true { byTable[e.table >> 12] = nil }
  }

  @discardableResult
  mutating func invalidate(domainID: Int?, pasid: UInt32?? = nil, start: UInt64 = 0, end: UInt64 = .max) -> Int {
    guard !entries.isEmpty else { return 0 }
    var victims: [Key] = []
    for (k, v) in entries {
      if let did = domainID, k.tag.domainID != did { continue }
      if case .some(let p) = pasid, k.tag.pasid != p { continue }
      let e = v.entry
      if e.iovaBase &+ e.span &- 1 < start || e.iovaBase > end { continue }
      victims.append(k)
    }
    for k in victims { remove(k) }
    return victims.count
  }

  /// Entries pointing into the table page at `[phys, phys+length)`.
  func pointing(into phys: UInt64, length: UInt64) -> [WalkEntry] {
    guard !entries.isEmpty else { return [] }
    var out: [WalkEntry] = []
    func collect(_ keys: Set<Key>) {
      for k in keys {
        if let e = entries[k]?.entry, e.table >= phys && e.table - phys < length { out.append(e) }
      }
    }
    // The frames of the range, one probe each, or every frame when there are fewer.
    let first = phys >> 12
    let last =
      length == 0 ? first : (phys.addingReportingOverflow(length - 1).overflow ? UInt64.max : phys + length - 1) >> 12
    if last - first < UInt64(byTable.count) {
      for frame in first...last { if let keys = byTable[frame] { collect(keys) } }
    } else {
      for (frame, keys) in byTable where frame >= first && frame <= last { collect(keys) }
    }
    // PASID last: entries of one domain, depth and base differ only by it (nil first).
    return out.sorted {
      ($0.tag.domainID, $0.depth, $0.iovaBase, $0.tag.pasid.map(Int64.init) ?? -1)
        < ($1.tag.domainID, $1.depth, $1.iovaBase, $1.tag.pasid.map(Int64.init) ?? -1)
    }
  }
}
