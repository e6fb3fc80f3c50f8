import KernelTypes

/// The DMA-API's own accounting, rebuilt from `dma:` events: what
/// CONFIG_DMA_API_DEBUG keeps (`kernel/dma/debug.c`: one entry per mapping,
/// found again by device and DMA address at the unmap) plus, from the
/// events' physical addresses (`phys_addr=`, `phys_addrs=[...]`), which CPU
/// pages each live mapping covers. It works without any IOMMU event:
/// dma-direct, swiotlb and `iommu=pt` map no IOVA, but their `dma:` events
/// still name the pages.
///
/// It keeps the live entries (bounded by the trace's live mappings) and the
/// last `releasedHistory` released addresses, for a double unmap.
final class DMAAPIAccounting {
  /// One live DMA-API mapping: `debug_dma_map_phys()`'s (or `_sg`'s,
  /// `_alloc_coherent`'s) `struct dma_debug_entry`. Plain data: its lists
  /// are out of line (`sgPhys(_:)`, `physSlots(_:)`), so reading or copying
  /// one retains nothing.
  struct Entry {
    var device: Int32
    var dmaAddress: UInt64
    var size: UInt64
    var dir: Int8
    var type: DMADebugType
    var event: TraceEventType
    /// sg: `sg_phys()` of each entry (the key of `dma_unmap_sg`) in `sgLists` (-1: none), and the list's length.
    var sgList: Int32 = -1
    var nents = 0
    var line: Int
    var ts: TraceTimestamp
    var cpu: Int32
    var pid: Int32
    /// Slots in `physIndex` (the pages it covers): the first, and the others in `slotLists` (-1: none); in `dmaIndex`.
    var physSlot: Int32 = -1
    var morePhysSlots: Int32 = -1
    var dmaSlot: Int32 = -1
    /// The next older live entry at the same device and address: debug.c's hash
    /// bucket keeps both (dma-direct maps one buffer twice at one address).
    var older: Int32 = -1
    var live = true
    /// A coherent or `_pages` buffer's CPU address (`dma_entry.paddr`):
    /// `phys_addr=` (6.12) or the `%p` of `virt_addr=` (6.13 on, `cpuAddressTraced`).
    var cpuAddress: UInt64?
    var cpuAddressTraced = false
  }

  /// A released address, remembered for a double unmap.
  struct Released {
    var line: Int
    var ts: TraceTimestamp
    var event: TraceEventType
  }

  /// Device and address: `dma_debug_entry`'s hash key (`bucket_find_exact()`).
  struct Key: Hashable {
    var device: Int32
    var address: UInt64
  }

  /// Why an unmap matched no entry.
  enum Miss {
    /// The address lies inside a live mapping of the device: an unmap of an address it never mapped.
    case insideLive(Int32)
    /// The device unmapped this address before, and nothing mapped it again.
    case doubleUnmap(Released)
    /// No traced event touched it: mapped before tracing started (or lost). Not reported.
    case untraced
    /// Several live entries at the address, none matching size, type, direction and sg count:
    /// `__hash_bucket_find()` returns none of them.
    case noPerfectFit(count: Int, newest: Int32)
  }

  let shift: UInt64
  let historyLimit: Int
  @exclusivity(unchecked) private(set) var entries = RawColumn<Entry>()
  /// The entries' out-of-line lists, and their free slots.
  @exclusivity(unchecked) private var sgLists: [[UInt64]] = []
  @exclusivity(unchecked) private var slotLists: [[Int32]] = []
  @exclusivity(unchecked) private var freeSGLists: [Int32] = []
  @exclusivity(unchecked) private var freeSlotLists: [Int32] = []
  @exclusivity(unchecked) private var freeEntries: [Int32] = []
  private let byAddress = KeyTable()
  /// sg entries by (device, first `sg_phys()`): `dma_unmap_sg` traces no DMA address.
  private let sgByPhys = KeyTable()
  /// Released addresses: key → index into `releasedValues` (its free slots in `releasedFree`).
  private let released = KeyTable()
  @exclusivity(unchecked) private var releasedValues: [Released] = []
  @exclusivity(unchecked) private var releasedFree: [Int32] = []
  @exclusivity(unchecked) private var releasedOrder: [Key] = []
  @exclusivity(unchecked) private var releasedHead = 0
  /// Physical ranges of the live entries (id: entry), for the page checks.
  let physIndex = IntervalIndex()
  /// DMA address ranges of each device's live entries (id: entry), for an
  /// unmap inside a mapping, by device id; a device's index goes when its
  /// last entry does, to a small pool of spare indices (a map after an unmap
  /// allocates nothing).
  @exclusivity(unchecked) private var dmaIndex: [IntervalIndex?] = []
  @exclusivity(unchecked) private var spareIndices: [IntervalIndex] = []
  static let maxSpareIndices = 16
  @exclusivity(unchecked) private(set) var liveCount = 0

  // Counted for the summary.
  @exclusivity(unchecked) var maps = 0
  @exclusivity(unchecked) var unmaps = 0
  @exclusivity(unchecked) var unmatchedUnmaps = 0
  @exclusivity(unchecked) var syncs = 0
  @exclusivity(unchecked) var unmatchedSyncs = 0
  @exclusivity(unchecked) var remapsOverLive = 0
  @exclusivity(unchecked) var mapsWithoutPhys = 0

  init(pageShift: UInt64, releasedHistory: Int) {
    shift = pageShift
    historyLimit = max(1, releasedHistory)
  }

  deinit { entries.release() }

  /// An sg entry's `sg_phys()` list (empty for other entries).
  func sgPhys(_ e: Entry) -> [UInt64] { e.sgList < 0 ? [] : sgLists[Int(e.sgList)] }

  /// The entry's slots in `physIndex`.
  func physSlots(_ e: Entry) -> [Int32] {
    guard e.physSlot >= 0 else { return [] }
    return e.morePhysSlots < 0 ? [e.physSlot] : [e.physSlot] + slotLists[Int(e.morePhysSlots)]
  }

  var isEmpty: Bool { liveCount == 0 }

  /// Records a mapping with the physical ranges `[start, last]` it covers;
  /// returns its id. A live entry at the same device and address stays, as
  /// `hash_bucket_add()` keeps both (counted: the same buffer mapped twice, as
  /// dma-direct does at one address, or a lost unmap); an sg list over a live
  /// list at the same first entry replaces it.
  @discardableResult
  func map(_ e: Entry, sgPhys: [UInt64], phys: [(start: UInt64, last: UInt64)]) -> Int32 {
    maps += 1
    if phys.isEmpty { mapsWithoutPhys += 1 }
    let key = Key(device: e.device, address: e.dmaAddress)
    if e.type == .scatterGather, let first = sgPhys.first, let old = sgByPhys[e.device, first] {
      remapsOverLive += 1
      drop(old)
    }
    let older = byAddress[key.device, key.address] ?? -1
    if older >= 0 { remapsOverLive += 1 }
    forget(key)
    var entry = e
    entry.older = older
    let id: Int32
    if let f = freeEntries.popLast() {
      id = f
    } else {
      id = Int32(entries.count)
      entries.append(entry)
    }
    for (k, r) in phys.enumerated() {
      let s = physIndex.insert(start: r.start, last: r.last, id: id)
      if k == 0 {
        entry.physSlot = s
      } else {
        if entry.morePhysSlots < 0 {
          if let f = freeSlotLists.popLast() {
            entry.morePhysSlots = f
          } else {
            entry.morePhysSlots = Int32(slotLists.count)
            slotLists.append([])
          }
        }
        slotLists[Int(entry.morePhysSlots)].append(s)
      }
    }
    if !sgPhys.isEmpty {
      if let f = freeSGLists.popLast() {
        entry.sgList = f
        sgLists[Int(f)] = sgPhys
      } else {
        entry.sgList = Int32(sgLists.count)
        sgLists.append(sgPhys)
      }
    }
    if e.size > 0 {
      let (last, o) = e.dmaAddress.addingReportingOverflow(e.size - 1)
      let d = Int(e.device)
      if d >= dmaIndex.count { dmaIndex.append(contentsOf: repeatElement(nil, count: d + 1 - dmaIndex.count)) }
      let index: IntervalIndex
      if let i = dmaIndex[d] {
        index = i
      } else {
        index = spareIndices.popLast() ?? IntervalIndex()
        dmaIndex[d] = index
      }
      entry.dmaSlot = index.insert(start: e.dmaAddress, last: o ? .max : last, id: id)
    }
    entries[Int(id)] = entry
    byAddress.set(device: key.device, address: key.address, id)
    if entry.type == .scatterGather, let first = sgPhys.first {
      sgByPhys.set(device: entry.device, address: first, id)
    }
    liveCount += 1
    return id
  }

  /// What an unmap finds: a live entry, or why there is none.
  enum Lookup {
    case found(Int32)
    case missed(Miss)
  }

  /// The live entry an unmap of `(device, address)` finds (`bucket_find_exact()`, through
  /// `__hash_bucket_find()`): the only entry at that address, else the oldest that matches
  /// size, type, direction and sg entry count (the bucket's list is in map order), else none.
  func find(
    device: Int32, address: UInt64, size: UInt64? = nil, type: DMADebugType? = nil, dir: Int8 = -1, nents: Int? = nil
  ) -> Lookup {
    let key = Key(device: device, address: address)
    guard let head = byAddress[device, address] else { return .missed(miss(key)) }
    guard entries[Int(head)].older >= 0 else { return .found(head) }
    var perfect: Int32 = -1
    var count = 0
    var id = head
    while id >= 0, count < 4096 {
      let e = entries[Int(id)]
      if size.map({ $0 == e.size }) ?? true, type.map({ $0 == e.type }) ?? true, dir < 0 || dir == e.dir,
        nents.map({ $0 == e.nents }) ?? true
      {
        perfect = id  // The chain runs newest to oldest: the last perfect fit is the oldest.
      }
      id = e.older
      count += 1
    }
    return perfect >= 0 ? .found(perfect) : .missed(.noPerfectFit(count: count, newest: head))
  }

  /// The live sg entry `dma_unmap_sg` finds by its first entry's physical address.
  func findSG(device: Int32, firstPhys: UInt64) -> Lookup {
    let key = Key(device: device, address: firstPhys)
    if let id = sgByPhys[device, firstPhys] { return .found(id) }
    return .missed(miss(key))
  }

  private func miss(_ key: Key) -> Miss {
    if let r = released[key.device, key.address] { return .doubleUnmap(releasedValues[Int(r)]) }
    var inside: Int32 = -1
    if let index = indexOf(key.device) {
      index.forEachOverlap(start: key.address, last: key.address) { slot in
        let id = index.ids[Int(slot)]
        if inside < 0, entries[Int(id)].type != .scatterGather { inside = id }
      }
    }
    return inside >= 0 ? .insideLive(inside) : .untraced
  }

  /// What a sync of `[address, last]` finds: `bucket_find_contain()` (kernel/dma/debug.c), the
  /// live entry of the device whose DMA range holds the whole range (the lowest such), else why not.
  enum SyncLookup {
    case found(Int32)
    /// Live entries overlap the range but none holds all of it (the first of them).
    case pastEnd(Int32)
    /// The device released this address, and nothing mapped it again.
    case released(Released)
    /// No traced event touched it: mapped before tracing started (or lost). Not reported.
    case untraced
  }

  /// The live entry a `dma_sync_*` of `(device, [address, last])` finds.
  func findContaining(device: Int32, address: UInt64, last: UInt64) -> SyncLookup {
    if let id = byAddress[device, address], entries[Int(id)].size > 0,
      last - address <= entries[Int(id)].size - 1
    {
      return .found(id)
    }
    var holder: Int32 = -1
    var overlap: Int32 = -1
    if let index = indexOf(device) {
      index.forEachOverlap(start: address, last: last) { slot in
        let id = index.ids[Int(slot)]
        if index.starts[Int(slot)] <= address, index.lasts[Int(slot)] >= last {
          if holder < 0 || entries[Int(id)].dmaAddress < entries[Int(holder)].dmaAddress { holder = id }
        } else if overlap < 0 {
          overlap = id
        }
      }
    }
    if holder >= 0 { return .found(holder) }
    if overlap >= 0 { return .pastEnd(overlap) }
    if let r = released[device, address] { return .released(releasedValues[Int(r)]) }
    return .untraced
  }

  /// The last release of `(device, address)` the history holds, if nothing mapped it since.
  func released(device: Int32, address: UInt64) -> Released? {
    released[device, address].map { releasedValues[Int($0)] }
  }

  /// A live sg list of `device` one of whose entries covers physical address `phys`.
  func liveSG(device: Int32, containing phys: UInt64) -> Int32? {
    var found: Int32?
    physIndex.forEachOverlap(start: phys, last: phys) { slot in
      let id = physIndex.ids[Int(slot)]
      let e = entries[Int(id)]
      if e.device == device, e.type == .scatterGather, e.sgList >= 0, found.map({ id < $0 }) ?? true { found = id }
    }
    return found
  }

  /// Removes a live entry (an unmap or free) and remembers its address as released.
  func release(_ id: Int32, line: Int, ts: TraceTimestamp, event: TraceEventType, sgKey: UInt64? = nil) {
    let e = entries[Int(id)]
    drop(id)
    remember(Key(device: e.device, address: e.dmaAddress), Released(line: line, ts: ts, event: event))
    if let first = sgPhys(e).first {
      remember(Key(device: e.device, address: first), Released(line: line, ts: ts, event: event))
    }
  }

  /// An unmap of an address no entry holds, remembered so that a repeat is a double unmap.
  func rememberUnmatched(device: Int32, address: UInt64, line: Int, ts: TraceTimestamp, event: TraceEventType) {
    remember(Key(device: device, address: address), Released(line: line, ts: ts, event: event))
  }

  private func remember(_ key: Key, _ r: Released) {
    if let v = released[key.device, key.address] {
      releasedValues[Int(v)] = r
      return
    }
    if releasedOrder.count < historyLimit {
      releasedOrder.append(key)
    } else {
      forget(releasedOrder[releasedHead])
      releasedOrder[releasedHead] = key
      releasedHead = (releasedHead + 1) % releasedOrder.count
    }
    let v: Int32
    if let f = releasedFree.popLast() {
      v = f
      releasedValues[Int(f)] = r
    } else {
      v = Int32(releasedValues.count)
      releasedValues.append(r)
    }
    released.set(device: key.device, address: key.address, v)
  }

  /// Forgets a released address (mapped again, or evicted from the history).
  @inline(__always) private func forget(_ key: Key) {
    if released.count > 0, let v = released.remove(device: key.device, address: key.address) {
      releasedFree.append(v)
    }
  }

  private func drop(_ id: Int32) {
    let e = entries[Int(id)]
    guard e.live else { return }
    if e.physSlot >= 0 { physIndex.remove(slot: e.physSlot) }
    if e.morePhysSlots >= 0 {
      for s in slotLists[Int(e.morePhysSlots)] { physIndex.remove(slot: s) }
      slotLists[Int(e.morePhysSlots)].removeAll(keepingCapacity: true)
      freeSlotLists.append(e.morePhysSlots)
    }
    if e.dmaSlot >= 0, let index = indexOf(e.device) {
      index.remove(slot: e.dmaSlot)
      if index.isEmpty {
        dmaIndex[Int(e.device)] = nil
        if spareIndices.count < Self.maxSpareIndices { spareIndices.append(index) }
      }
    }
    let key = Key(device: e.device, address: e.dmaAddress)
    if let head = byAddress[key.device, key.address] {
      if head == id {
        if e.older >= 0 {
          byAddress.set(device: key.device, address: key.address, e.older)
        } else {
          byAddress.remove(device: key.device, address: key.address)
        }
      } else {
        var p = head
        var steps = 0
        while p >= 0, steps < 4096 {
          if entries[Int(p)].older == id {
            entries[Int(p)].older = e.older
            break
          }
          p = entries[Int(p)].older
          steps += 1
        }
      }
    }
    if e.sgList >= 0 {
      if let first = sgLists[Int(e.sgList)].first, sgByPhys[e.device, first] == id {
        sgByPhys.remove(device: e.device, address: first)
      }
      // Kept until the slot is reused: a report on the released entry still reads it.
      freeSGLists.append(e.sgList)
    }
    entries[Int(id)].live = false
    entries[Int(id)].older = -1
    entries[Int(id)].physSlot = -1
    entries[Int(id)].morePhysSlots = -1
    entries[Int(id)].sgList = -1
    freeEntries.append(id)
    liveCount -= 1
  }

  @inline(__always) private func indexOf(_ device: Int32) -> IntervalIndex? {
    device >= 0 && Int(device) < dmaIndex.count ? dmaIndex[Int(device)] : nil
  }

  /// Some live entry covers a page of `[lo, hi]` (no allocation: the common miss).
  func coversAnyPage(_ lo: UInt64, _ hi: UInt64) -> Bool {
    !physIndex.isEmpty && physIndex.overlaps(start: lo << shift, last: (hi << shift) | ((UInt64(1) << shift) - 1))
  }

  /// The page ranges of live entries inside `[lo, hi]`, clipped to it, with their entries.
  func pageRanges(_ lo: UInt64, _ hi: UInt64) -> [(lo: UInt64, hi: UInt64, entry: Int32)] {
    guard !physIndex.isEmpty else { return [] }
    var ranges: [(lo: UInt64, hi: UInt64, entry: Int32)] = []
    let mask = (UInt64(1) << shift) - 1
    physIndex.forEachOverlap(start: lo << shift, last: (hi << shift) | mask) { slot in
      let a = max(lo, physIndex.starts[Int(slot)] >> shift)
      let b = min(hi, physIndex.lasts[Int(slot)] >> shift)
      if a <= b { ranges.append((a, b, physIndex.ids[Int(slot)])) }
    }
    return ranges
  }

  /// The first `limit` pages of `[lo, hi]` that live entries cover: page →
  /// (count, first entry), in page order. One sweep over the overlapping
  /// ranges sorted by start and over the union of their pages: O((pages +
  /// ranges) log ranges), however many ranges overlap.
  func pages(_ lo: UInt64, _ hi: UInt64, limit: Int) -> [(pfn: UInt64, count: Int64, entry: Int32)] {
    var ranges = pageRanges(lo, hi)
    guard !ranges.isEmpty else { return [] }
    ranges.sort { $0.lo != $1.lo ? $0.lo < $1.lo : $0.entry < $1.entry }
    let ends = ranges.map(\.hi).sorted()
    var out: [(pfn: UInt64, count: Int64, entry: Int32)] = []
    var started = 0
    var ended = 0
    var active = PositionHeap()
    var p = ranges[0].lo
    while true {
      while started < ranges.count, ranges[started].lo <= p {
        active.push(started)
        started += 1
      }
      while ended < ends.count, ends[ended] < p { ended += 1 }
      while let top = active.min, ranges[top].hi < p { active.popMin() }
      if let top = active.min {
        out.append((p, Int64(started - ended), ranges[top].entry))
        if p == hi || out.count == limit { break }
        p += 1
      } else if started < ranges.count {
        p = ranges[started].lo
      } else {
        break
      }
    }
    return out
  }

  /// The live entries that cover page `pfn`, oldest map first (bounded: at most 64).
  func entries(coveringPage pfn: UInt64) -> [Int32] {
    guard !physIndex.isEmpty else { return [] }
    var ids: [Int32] = []
    let mask = (UInt64(1) << shift) - 1
    physIndex.forEachOverlap(start: pfn << shift, last: (pfn << shift) | mask) { slot in
      let id = physIndex.ids[Int(slot)]
      if ids.count < 64, !ids.contains(id) { ids.append(id) }
    }
    return ids.sorted { entries[Int($0)].line < entries[Int($1)].line }
  }

  /// Pages the live entries cover (for the summary).
  var livePages: Int {
    var n: UInt64 = 0
    for e in entries where e.live {
      for s in physSlots(e) {
        n &+= (physIndex.lasts[Int(s)] >> shift) - (physIndex.starts[Int(s)] >> shift) + 1
      }
    }
    return Int(clamping: n)
  }
}
