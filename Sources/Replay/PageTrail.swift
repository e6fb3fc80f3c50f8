/// One traced event of a page: what a report's history lists.
struct TrailEvent {
  var type: TraceEventType
  var line: Int
  var ts: TraceTimestamp
  var cpu: Int32
  var pid: Int32
  /// By type: map (iova, size, paddr); unmap (iova, size); dma (dma address, size, phys);
  /// kmem (order); io_page_fault (iova).
  var a: UInt64 = 0
  var b: UInt64 = 0
  var c: UInt64 = 0
  var device: Int32 = -1
}

/// The last events of the pages that mappings touched, for the history a
/// report carries (allocation, maps, dma maps, unmaps, frees, faults). A page
/// gets a trail when a map, unmap or dma event names it; kmem events are
/// added to pages that have one, and the last kmem event of any page is kept
/// in a small direct-mapped cache, so the allocation before a page's first
/// map is in its trail too. Bounded: `depth` events for each of the last
/// `maxPages` pages, and `cacheSlots` cached kmem events.
final class PageTrail {
  static let depth = 8
  static let maxPages = 16384
  static let cacheSlots = 4096
  /// How many pages of one event get a trail entry (the first ones of its range).
  static let pagesPerEvent: UInt64 = 8

  /// PFN → slot in `rings`.
  private let index = U64Table(capacity: 1024)
  @exclusivity(unchecked) private var rings: [[TrailEvent]] = []
  @exclusivity(unchecked) private var ringPFN: [UInt64] = []
  /// The slot the next new page takes once all are in use (round robin: the oldest trail goes).
  @exclusivity(unchecked) private var nextVictim = 0
  @exclusivity(unchecked) private var cachePFN = [UInt64](repeating: .max, count: PageTrail.cacheSlots)
  @exclusivity(unchecked) private var cacheEvent = [TrailEvent?](repeating: nil, count: PageTrail.cacheSlots)

  var isEmpty: Bool { index.isEmpty }

  /// Adds an event to a page's trail, starting one (with the page's cached kmem event first) when it has none.
  func record(_ pfn: UInt64, _ e: TrailEvent) {
    if let (slot, _) = index.get(pfn) {
      append(Int(slot), e)
      return
    }
    var start: [TrailEvent] = []
    let c = Int(pfn & UInt64(Self.cacheSlots - 1))
    if cachePFN[c] == pfn, let k = cacheEvent[c] { start.append(k) }
    start.append(e)
    let slot: Int
    if rings.count < Self.maxPages {
      slot = rings.count
      rings.append(start)
      ringPFN.append(pfn)
    } else {
      slot = nextVictim
      nextVictim = (nextVictim + 1) % Self.maxPages
      index.remove(ringPFN[slot])
      rings[slot] = start
      ringPFN[slot] = pfn
    }
    index.set(pfn, Int32(slot), 0)
  }

  /// Records a page-allocator event: in the page's trail when it has one, else in the cache.
  @inline(__always)
  func recordKmem(_ pfn: UInt64, _ e: TrailEvent) {
    if !index.isEmpty, let (slot, _) = index.get(pfn) {
      append(Int(slot), e)
      return
    }
    let c = Int(pfn & UInt64(Self.cacheSlots - 1))
    cachePFN[c] = pfn
    cacheEvent[c] = e
  }

  private func append(_ slot: Int, _ e: TrailEvent) {
    rings[slot].append(e)
    if rings[slot].count > Self.depth { rings[slot].removeFirst() }
  }

  /// The page's trail, oldest first.
  func events(_ pfn: UInt64) -> [TrailEvent] {
    guard let (slot, _) = index.get(pfn) else { return [] }
    return rings[Int(slot)]
  }
}
