/// A binary min-heap of PFNs with lazy deletion (the caller checks membership).
struct PFNHeap {
  private var items: [UInt64] = []
  var isEmpty: Bool { items.isEmpty }
  var min: UInt64? { items.first }
  mutating func push(_ v: UInt64) {
    items.append(v)
    var i = items.count - 1
    while i > 0 {
      let p = (i - 1) / 2
      if items[p] <= items[i] { break }
      items.swapAt(p, i)
      i = p
    }
  }
  mutating func popMin() {
    guard !items.isEmpty else { return }
    let last = items.removeLast()
    guard !items.isEmpty else { return }
    items[0] = last
    var i = 0
    while true {
      let l = 2 * i + 1
      let r = l + 1
      var m = i
      if l < items.count && items[l] < items[m] { m = l }
      if r < items.count && items[r] < items[m] { m = r }
      if m == i { break }
      items.swapAt(m, i)
      i = m
    }
  }
}

/// The buddy allocator of `mm/page_alloc.c`, orders 0 to 10, deterministic.
///
/// Order-0 frees go to a per-CPU-style list and are handed out again last-in
/// first-out; otherwise the lowest free block that fits is split. Untouched
/// memory is kept as ranges of maximum-order blocks, so a 1 TiB machine with
/// a few pages touched costs almost nothing.
struct BuddyAllocator {
  static let maxOrder = 10

  private var freeSets: [Set<UInt64>]
  private var heaps: [PFNHeap]
  /// Max-order-aligned ranges never split yet, sorted, lowest first (reversed for cheap pops).
  private var untouched: [Range<UInt64>]
  /// The per-CPU list of order-0 pages (`pcp->lists`), top is the last freed.
  private(set) var pcp: [UInt64] = []
  /// Heads of free blocks still on the free lists whose PageBuddy
  /// `bad_page()` cleared: `page_is_buddy()` is false for them, so no free
  /// merges with them, and `free_pages_prepare()` no longer finds them bad.
  private var lostBuddyFlag: Set<UInt64> = []
  private(set) var freePages: UInt64 = 0

  init(ranges: [Range<UInt64>]) {
    freeSets = Array(repeating: [], count: Self.maxOrder + 1)
    heaps = Array(repeating: PFNHeap(), count: Self.maxOrder + 1)
    untouched = []
    let block = UInt64(1) << UInt64(Self.maxOrder)
    var tails: [(UInt64, Int)] = []
    for r in ranges {
      freePages += UInt64(r.count)
      var lo = r.lowerBound
      let hi = r.upperBound
      // Leading partial blocks.
      while lo < hi && lo % block != 0 {
        var o = min(lo.trailingZeroBitCount, Self.maxOrder)
        while o > 0 && lo + (1 << UInt64(o)) > hi { o -= 1 }
        tails.append((lo, o))
        lo += 1 << UInt64(o)
      }
      let alignedHi = hi & ~(block - 1)
      if alignedHi > lo {
        untouched.append(lo..<alignedHi)
        lo = alignedHi
      }
      while lo < hi {
        var o = min(lo.trailingZeroBitCount, Self.maxOrder)
        while o > 0 && lo + (1 << UInt64(o)) > hi { o -= 1 }
        tails.append((lo, o))
        lo += 1 << UInt64(o)
      }
    }
    untouched.sort { $0.lowerBound > $1.lowerBound }
    for (pfn, o) in tails { insert(pfn, order: o) }
  }

  private mutating func insert(_ pfn: UInt64, order: Int) {
    freeSets[order].insert(pfn)
    heaps[order].push(pfn)
  }

  private mutating func lowest(order: Int) -> UInt64? {
    while let m = heaps[order].min {
      if freeSets[order].contains(m) { return m }
      heaps[order].popMin()
    }
    return nil
  }

  /// Allocates a naturally aligned block of 2^order pages, or nil (ENOMEM).
  mutating func allocate(order: Int) -> UInt64? {
    if order == 0, let p = pcp.popLast() {
      freePages -= 1
      return p
    }
    if let p = allocateFromBuddy(order: order) { return p }
    guard !pcp.isEmpty else { return nil }
    drainPCP()
    return allocateFromBuddy(order: order)
  }

  private mutating func allocateFromBuddy(order: Int) -> UInt64? {
    var best: (pfn: UInt64, order: Int)?
    for o in order...Self.maxOrder {
      if let m = lowest(order: o), best == nil || m < best!.pfn { best = (m, o) }
    }
    if let u = untouched.last, best == nil || u.lowerBound < best!.pfn {
      let pfn = u.lowerBound
      let next = pfn + (1 << UInt64(Self.maxOrder))
      untouched.removeLast()
      if next < u.upperBound { untouched.append(next..<u.upperBound) }
      best = (pfn, Self.maxOrder)
    } else if let b = best {
      freeSets[b.order].remove(b.pfn)
    }
    guard let (pfn, start) = best else { return nil }
    // Taken off the list, the head is PageBuddy no longer in any case.
    if !lostBuddyFlag.isEmpty { lostBuddyFlag.remove(pfn) }
    var o = start
    // Split, keeping the lower half.
    while o > order {
      o -= 1
      insert(pfn + (1 << UInt64(o)), order: o)
    }
    freePages -= 1 << UInt64(order)
    return pfn
  }

  /// Gives a block back. Order-0 pages go to the per-CPU list.
  mutating func free(_ pfn: UInt64, order: Int) {
    freePages += 1 << UInt64(order)
    if order == 0 {
      pcp.append(pfn)
      return
    }
    coalesce(pfn, order: order)
  }

  private mutating func coalesce(_ pfn: UInt64, order: Int) {
    var pfn = pfn
    var o = order
    while o < Self.maxOrder {
      let buddy = pfn ^ (1 << UInt64(o))
      // `page_is_buddy()`: a head without PageBuddy does not merge.
      guard lostBuddyFlag.isEmpty || !lostBuddyFlag.contains(buddy), freeSets[o].remove(buddy) != nil else { break }
      pfn = min(pfn, buddy)
      o += 1
    }
    insert(pfn, order: o)
  }

  /// Whether `pfn` heads a free block on the buddy lists (PageBuddy); pages
  /// on the per-CPU list are not PageBuddy.
  /// The corresponding Linux function is `PageBuddy()`.
  func isFreeBlockHead(_ pfn: UInt64) -> Bool {
    if lostBuddyFlag.contains(pfn) { return false }
    for o in 0...Self.maxOrder where freeSets[o].contains(pfn) { return true }
    let maxBlock = UInt64(1) << UInt64(Self.maxOrder)
    return pfn % maxBlock == 0 && untouched.contains { $0.contains(pfn) }
  }

  /// `bad_page()`'s `page_mapcount_reset(page); /* remove PageBuddy */` on
  /// the head of a free block: the block stays on its free list (it can
  /// still be handed out) but is no buddy to merge with. At most one entry
  /// per free block head, so bounded by the free lists.
  /// The corresponding Linux function is `bad_page()`.
  mutating func clearBuddyFlag(_ pfn: UInt64) {
    if isFreeBlockHead(pfn) { lostBuddyFlag.insert(pfn) }
  }

  /// Returns the per-CPU pages to the buddy lists (`drain_all_pages()`).
  mutating func drainPCP() {
    let pages = pcp
    pcp.removeAll()
    for p in pages { coalesce(p, order: 0) }
  }
}
