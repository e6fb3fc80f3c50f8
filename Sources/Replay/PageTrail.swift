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

  /// PFN → slot. A slot's events are a ring of `depth` in one flat array:
  /// recording allocates nothing once the slots exist.
  private let index = U64Table(capacity: 1024)
  @exclusivity(unchecked) private var ring: [TrailEvent] = []
  @exclusivity(unchecked) private var head: [UInt8] = []
  @exclusivity(unchecked) private var used: [UInt8] = []
  @exclusivity(unchecked) private var slotPFN: [UInt64] = []
  /// The slot the next new page takes once all are in use (round robin: the oldest trail goes).
  @exclusivity(unchecked) private var nextVictim = 0
  @exclusivity(unchecked) private var cachePFN = [UInt64](repeating: .max, count: PageTrail.cacheSlots)
  @exclusivity(unchecked) private var cacheEvent = [TrailEvent?](repeating: nil, count: PageTrail.cacheSlots)

  var isEmpty: Bool { index.isEmpty }

  /// Adds an event to a page's trail, starting one (with the page's cached kmem event first) when it has none.
  func record(_ pfn: UInt64, _ e: TrailEvent) {
    if let (slot, _) = index.get(pfn) {
      push(Int(slot), e)
      return
    }
    let slot: Int
    if slotPFN.count < Self.maxPages {
      slot = slotPFN.count
      slotPFN.append(pfn)
      head.append(0)
      used.append(0)
      ring.append(contentsOf: repeatElement(e, count: Self.depth))
    } else {
      slot = nextVictim
      nextVictim = (nextVictim + 1) % Self.maxPages
      index.remove(slotPFN[slot])
      slotPFN[slot] = pfn
      head[slot] = 0
      used[slot] = 0
    }
    index.set(pfn, Int32(slot), 0)
    let c = Int(pfn & UInt64(Self.cacheSlots - 1))
    if cachePFN[c] == pfn, let k = cacheEvent[c] { push(slot, k) }
    push(slot, e)
  }

  /// Records a page-allocator event: in the page's trail when it has one, else in the cache.
  @inline(__always)
  func recordKmem(_ pfn: UInt64, _ e: TrailEvent) {
    if !index.isEmpty, let (slot, _) = index.get(pfn) {
      push(Int(slot), e)
      return
    }
    let c = Int(pfn & UInt64(Self.cacheSlots - 1))
    cachePFN[c] = pfn
    cacheEvent[c] = e
  }

  @inline(__always)
  private func push(_ slot: Int, _ e: TrailEvent) {
    let n = Int(used[slot])
    let h = Int(head[slot])
    ring[slot * Self.depth + (h + n) % Self.depth] = e
    if n < Self.depth {
      used[slot] = UInt8(n + 1)
    } else {
      head[slot] = UInt8((h + 1) % Self.depth)
    }
  }

  /// The page's trail, oldest first.
  func events(_ pfn: UInt64) -> [TrailEvent] {
    guard let (s, _) = index.get(pfn) else { return [] }
    let slot = Int(s)
    let h = Int(head[slot])
    return (0..<Int(used[slot])).map { ring[slot * Self.depth + (h + $0) % Self.depth] }
  }
}
