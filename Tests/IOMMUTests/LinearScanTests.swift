import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// Per-operation costs that must not grow with the input (issue 15): a full
/// cache's victim, `kfree`'s slab, the partial list. Each test counts the
/// structure's own work or runs a size a scan per operation would make slow.
@Suite("No linear scan per operation")
struct LinearScanTests {
  /// A small deterministic generator (the tests need no quality, only repeatability).
  struct LCG {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
  }

  static func leaf(_ i: UInt64, did: Int = 1) -> LeafEntry {
    LeafEntry(
      tag: CacheTag(domainID: did), iova: i << 12, shift: 12, phys: (i % 97) << 12, readable: true, writable: true,
      user: false, epoch: 1)
  }

  /// The victim is still the least recently used entry: a reference model
  /// that scans for the smallest stamp, as the cache did before, agrees
  /// after every insert, lookup and invalidation.
  @Test func leafCacheEvictsWhatAScanForTheOldestStampWould() {
    var cache = LeafCache(capacity: 64)
    var reference: [UInt64: UInt64] = [:]  // page -> last use
    var clock: UInt64 = 0
    var rng = LCG(state: 15)
    for _ in 0..<20_000 {
      let page = UInt64(rng.next(200))
      switch rng.next(10) {
      case 0..<5:
        if reference[page] == nil, reference.count >= 64, let victim = reference.min(by: { $0.value < $1.value }) {
          reference[victim.key] = nil
        }
        clock += 1
        reference[page] = clock
        cache.insert(Self.leaf(page))
      case 5..<9:
        let hit = cache.lookup(CacheTag(domainID: 1), page << 12)
        #expect((hit != nil) == (reference[page] != nil))
        if hit != nil {
          clock += 1
          reference[page] = clock
        }
      default:
        cache.invalidate(domainID: 1, pasid: .some(nil), start: page << 12, end: (page << 12) + 0xfff)
        reference[page] = nil
      }
      #expect(cache.count == reference.count)
    }
    let cached = Set(cache.entries.keys.map(\.page))
    #expect(cached == Set(reference.keys))
    #expect(cache.recency.storedCount <= 2 * 64 + 32 + 1)
  }

  /// A large full cache: each insert evicts, and finding the victim costs a
  /// few queue items, not a pass over 65,536 entries (a scan would look at
  /// 65,536 × 131,072 entries here). Every entry maps the same page, so the
  /// reverse index holds 65,536 aliases of it: removing one is one probe
  /// (an array of aliases searched per eviction took minutes here).
  @Test func fullLeafCacheFindsItsVictimInConstantTime() {
    let capacity = 65_536
    var cache = LeafCache(capacity: capacity)
    let inserts = 3 * capacity
    for i in 0..<inserts {
      var e = Self.leaf(UInt64(i))
      e.phys = 0
      cache.insert(e)
      // Touch an older entry now and then, so the queue holds stale items.
      if i % 3 == 0 { _ = cache.lookup(CacheTag(domainID: 1), UInt64(i / 2) << 12) }
    }
    #expect(cache.count == capacity)
    #expect(cache.evictions == UInt64(inserts - capacity))
    #expect(cache.recency.visited <= UInt64(8 * inserts))
    #expect(cache.recency.storedCount <= 2 * capacity + 32 + 1)
    // The aliases of the page, in the order they were cached.
    let reaching = cache.reaching(0).map { $0.iova >> 12 }
    #expect(reaching.count == capacity && reaching.last == UInt64(inserts - 1))
  }

  /// The walk cache evicts the same way.
  @Test func fullWalkCacheFindsItsVictimInConstantTime() {
    let capacity = 16_384
    var walk = WalkCache(capacity: capacity)
    func entry(_ i: UInt64) -> WalkEntry {
      WalkEntry(
        tag: CacheTag(domainID: 1), depth: 2, iovaBase: i << 21, span: 1 << 21, table: (i % 1000) << 12,
        generation: 1, user: false, writable: true)
    }
    let inserts = 4 * capacity
    for i in 0..<inserts { walk.insert(entry(UInt64(i)), format: .x86IO) }
    #expect(walk.count == capacity && walk.evictions == UInt64(inserts - capacity))
    // The survivors are the newest: the oldest went first.
    #expect(
      Set(walk.entries.values.map { $0.entry.iovaBase >> 21 }) == Set((inserts - capacity..<inserts).map(UInt64.init)))
    #expect(walk.recency.visited <= UInt64(4 * inserts))
    // Entries pointing into one table frame, found by the frame.
    let into = walk.pointing(into: 5 << 12, length: 4096)
    #expect(!into.isEmpty && into.allSatisfy { $0.table == 5 << 12 })
    #expect(walk.pointing(into: 0, length: 1 << 40).count == capacity)
  }

  /// The partial list behaves as the array it replaced (append on top, pop
  /// the top, remove anywhere), with no scan to remove.
  @Test func partialListMatchesAStack() {
    var list = SlabAllocator.PartialList()
    var reference: [UInt64] = []
    var rng = LCG(state: 19)
    for _ in 0..<20_000 {
      let head = UInt64(rng.next(300))
      switch rng.next(3) {
      case 0:
        if !reference.contains(head) {
          reference.append(head)
          list.append(head)
        }
      case 1: #expect(list.popLast() == reference.popLast())
      default:
        reference.removeAll { $0 == head }
        list.remove(head)
      }
      #expect(list.count == reference.count)
    }
    while let top = list.popLast() { #expect(top == reference.popLast()) }
    #expect(reference.isEmpty)
  }

  /// `kfree` finds an object's slab by the slab's alignment: 4,096 slabs of
  /// `kmalloc-4k` (order 3), objects freed in an order that leaves every slab
  /// partial first; every slab's pages go back at the end.
  @Test func kfreeFindsTheSlabWithoutAScan() throws {
    let rig = try Rig(.vtd, memorySize: 1 << 30)
    let m = rig.machine
    let free = rig.memory.freePageCount
    var objects: [SlabObject] = []
    for _ in 0..<(8 * 4096) { objects.append(try m.kmalloc(size: 4096, gfp: .kernel, context: ctx)) }
    let slabs = m.slab.withLock { $0.caches[4096]?.slabs.count }
    #expect(slabs == 4096)
    for (i, o) in objects.enumerated() where i % 8 == 3 { try m.kfree(o.address, context: ctx) }
    #expect(m.slab.withLock { $0.caches[4096]?.partial.count } == 4095)
    for (i, o) in objects.enumerated() where i % 8 != 3 { try m.kfree(o.address, context: ctx) }
    #expect(m.slab.withLock { ($0.caches[4096]?.slabs.count, $0.caches[4096]?.partial.count) } == (1, 0))
    // Only the CPU slab's eight pages stay allocated.
    #expect(rig.memory.freePageCount == free - 8)
  }
}
