import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

@Suite("IOTLB and walk caches")
struct CacheTests {
  @Test("A device access fills the IOTLB and the walk cache; a second access hits the IOTLB", arguments: Geometry.all)
  func fillAndHit(_ g: Geometry) throws {
    let rig = try Rig(g)
    let (dev, d) = try rig.attachedDevice()
    let page = try rig.granulePage()
    try d.map(iova: IOVA(0), phys: rig.address(page), size: g.granule, context: ctx)
    try d.map(iova: IOVA(g.granule), phys: rig.address(page), size: g.granule, context: ctx)
    let before = rig.unit.stats
    #expect(rig.unit.counts == [0, 0])
    let walkLevels = g.format.levels - 1

    let first = rig.write(dev, 0x10, 0xCAFE)
    #expect(first.fault == nil && first.verdict == .ok)
    #expect(rig.memory.read64(rig.address(page).advanced(by: 0x10)) == 0xCAFE)
    var s = rig.unit.stats
    #expect(s.iotlbMisses - before.iotlbMisses == 1 && s.walks - before.walks == 1)
    #expect(s.iotlbFills - before.iotlbFills == 1)
    #expect(s.walkCacheFills - before.walkCacheFills == UInt64(walkLevels))
    #expect(rig.unit.counts == [1, walkLevels])

    let second = rig.read(dev, 0x10)
    #expect(second.value == 0xCAFE)
    s = rig.unit.stats
    #expect(s.iotlbHits - before.iotlbHits == 1)
    #expect(s.walks - before.walks == 1, "no second walk")
    #expect(rig.unit.counts == [1, walkLevels])

    // Another page under the same last-level table: the walk starts from the walk cache.
    #expect(rig.read(dev, g.granule + 0x10).value == 0xCAFE)
    s = rig.unit.stats
    #expect(s.walkCacheHits - before.walkCacheHits == 1)
    #expect(s.walkCacheFills - before.walkCacheFills == UInt64(walkLevels), "nothing new to cache")
    #expect(rig.unit.counts == [2, walkLevels])
    #expect(rig.unit.iotlbEntries(reaching: rig.address(page)).count == 2)
    #expect(rig.unit.walkEntries(pointingInto: rig.root(d), length: g.tableBytes).isEmpty, "nothing points at the root")
  }

  @Test("A walk that faults fills walk-cache entries but no IOTLB entry", arguments: Geometry.all)
  func faultingWalk(_ g: Geometry) throws {
    let rig = try Rig(g)
    let (dev, d) = try rig.attachedDevice()
    let page = try rig.granulePage()
    try d.map(iova: IOVA(0), phys: rig.address(page), size: g.granule, context: ctx)
    let before = rig.unit.stats
    let r = rig.read(dev, g.granule)
    #expect(r.fault != nil && r.value == nil && r.verdict == .ok)
    let s = rig.unit.stats
    #expect(s.walkFaults - before.walkFaults == 1)
    #expect(s.iotlbFills == before.iotlbFills)
    #expect(rig.unit.counts == [0, g.format.levels - 1])
    // A fault at the top level caches nothing more.
    #expect(rig.read(dev, 1 << 47).fault != nil)
    #expect(rig.unit.counts == [0, g.format.levels - 1])
    // Beyond the input range: a fault without a walk.
    #expect(rig.read(dev, 1 << 48).fault != nil)
  }

  /// Maps two small pages under one last-level table and caches the first.
  func warm(_ g: Geometry) throws -> (Rig, Device, Domain) {
    let rig = try Rig(g)
    let (dev, d) = try rig.attachedDevice()
    let page = try rig.granulePage()
    try d.map(iova: IOVA(0), phys: rig.address(page), size: g.granule, context: ctx)
    try d.map(iova: IOVA(g.granule), phys: rig.address(page), size: g.granule, context: ctx)
    rig.read(dev, 0)
    #expect(rig.unit.counts == [1, g.format.levels - 1])
    return (rig, dev, d)
  }

  @Test(
    "Unmapping a leaf with no table freed: VT-d IH=1 and SMMUv3 Leaf=1 keep walk entries, AMD PDE=1 drops them",
    arguments: Geometry.models)
  func leafOnlyInvalidation(_ g: Geometry) throws {
    let (rig, dev, d) = try warm(g)
    let before = rig.unit.stats
    #expect(d.unmap(iova: IOVA(0), size: g.granule, context: ctx) == g.granule)
    switch g.model {
    case .vtd:
      #expect(rig.issued("IOTLB PSI IH=1", since: before) == 1)
      #expect(rig.issued("IOTLB PSI IH=0", since: before) == 0)
      #expect(rig.issued("INV_WAIT", since: before) == 1)
      #expect(rig.unit.counts == [0, 3])
    case .smmuv3:
      #expect(rig.issued("TLBI_NH_VA Leaf=1", since: before) == 1)
      #expect(rig.issued("TLBI_NH_VA Leaf=0", since: before) == 0)
      #expect(rig.issued("CMD_SYNC", since: before) == 1)
      #expect(rig.unit.counts == [0, 3])
    case .amd:
      #expect(rig.issued("INVALIDATE_IOMMU_PAGES PDE=1", since: before) == 1)
      #expect(rig.issued("COMPLETION_WAIT", since: before) == 1)
      #expect(rig.unit.counts == [0, 0])
    }
    let s = rig.unit.stats
    #expect(s.iotlbEntriesInvalidated - before.iotlbEntriesInvalidated == 1)
    #expect(rig.read(dev, 0).fault != nil)
  }

  @Test(
    "Unmapping a whole table: VT-d IH=0, SMMUv3 Leaf=0 and AMD PDE=1 drop leaf and walk entries",
    arguments: Geometry.models)
  func tableFreeingInvalidation(_ g: Geometry) throws {
    let (rig, dev, d) = try warm(g)
    try d.fillLeafTable(g, after: 2 * g.granule)
    rig.read(dev, g.granule)
    let before = rig.unit.stats
    #expect(d.unmap(iova: IOVA(0), size: 2 * M, context: ctx) == 2 * M)
    switch g.model {
    case .vtd:
      #expect(rig.issued("IOTLB PSI IH=0", since: before) == 1)
      #expect(rig.issued("IOTLB PSI IH=1", since: before) == 0)
    case .smmuv3:
      // io_pgtable_tlb_flush_walk() before the table is freed; no leaf of
      // the freed table is added to the gather, so no TLBI Leaf=1 follows.
      #expect(rig.issued("TLBI_NH_VA Leaf=0", since: before) == 1)
      #expect(rig.issued("TLBI_NH_VA Leaf=1", since: before) == 0)
    case .amd:
      #expect(rig.issued("INVALIDATE_IOMMU_PAGES PDE=1", since: before) == 1)
    }
    #expect(rig.unit.counts == [0, 0])
    let s = rig.unit.stats
    #expect(s.walkEntriesInvalidated - before.walkEntriesInvalidated == 3)
    #expect(s.iotlbEntriesInvalidated - before.iotlbEntriesInvalidated == 2)
  }

  @Test("unmap_fast leaves the IOTLB entry until iotlb_sync", arguments: Geometry.models)
  func unmapFastThenSync(_ g: Geometry) throws {
    let (rig, dev, d) = try warm(g)
    let before = rig.unit.stats
    #expect(d.unmapFast(iova: IOVA(0), size: g.granule, context: ctx) == g.granule)
    #expect(d.iovaToPhys(IOVA(0)) == .zero)
    #expect(rig.unit.stats.invalidations == before.invalidations, "no command yet")
    #expect(rig.unit.cachedEntryCounts.iotlb == 1)
    let stale = rig.read(dev, 0)
    #expect(stale.fault == nil, "the device still translates through the IOTLB")
    d.iotlbSync(context: ctx)
    #expect(rig.unit.cachedEntryCounts.iotlb == 0)
    #expect(rig.read(dev, 0).fault != nil)
    // A second sync has nothing to flush.
    let afterSync = rig.unit.stats
    d.iotlbSync(context: ctx)
    #expect(rig.unit.stats.invalidations == afterSync.invalidations)
  }

  @Test("flush_iotlb_all drops everything the domain caches", arguments: Geometry.models)
  func flushAll(_ g: Geometry) throws {
    let (rig, _, d) = try warm(g)
    let before = rig.unit.stats
    d.flushIOTLBAll(context: ctx)
    let name =
      switch g.model {
      case .vtd: "IOTLB DSI"
      case .smmuv3: "TLBI_NH_ASID"
      case .amd: "INVALIDATE_IOMMU_PAGES S=1 PDE=1"
      }
    #expect(rig.issued(name, since: before) == 1)
    #expect(rig.unit.counts == [0, 0])
  }

  @Test("Invalidations are scoped to their domain", arguments: Geometry.models)
  func domainScoped(_ g: Geometry) throws {
    let rig = try Rig(g)
    let (devA, a) = try rig.attachedDevice("a")
    let (devB, b) = try rig.attachedDevice("b")
    let page = try rig.granulePage()
    try a.map(iova: IOVA(0), phys: rig.address(page), size: 4 * K, context: ctx)
    try b.map(iova: IOVA(0), phys: rig.address(page), size: 4 * K, context: ctx)
    rig.read(devA, 0)
    rig.read(devB, 0)
    #expect(rig.unit.counts == [2, 6])
    a.flushIOTLBAll(context: ctx)
    #expect(rig.unit.counts == [1, 3])
    #expect(rig.unit.stats.iotlbHits == 0)
    rig.read(devB, 0)
    #expect(rig.unit.stats.iotlbHits == 1)
  }

  @Test("IOTLB capacity with least-recently-used eviction")
  func iotlbLRU() throws {
    let rig = try Rig(.vtd, iotlb: 2)
    let (dev, d) = try rig.attachedDevice()
    let page = try rig.granulePage()
    for i: UInt64 in 0..<3 { try d.map(iova: IOVA(i * 4 * K), phys: rig.address(page), size: 4 * K, context: ctx) }
    let (a, b, c): (UInt64, UInt64, UInt64) = (0, 4 * K, 8 * K)
    rig.read(dev, a)
    rig.read(dev, b)
    #expect(rig.unit.cachedEntryCounts.iotlb == 2)
    rig.read(dev, a)  // a is now the most recently used
    #expect(rig.unit.stats.iotlbHits == 1)
    rig.read(dev, c)  // evicts b
    #expect(rig.unit.stats.iotlbEvictions == 1)
    #expect(rig.unit.cachedEntryCounts.iotlb == 2)
    rig.read(dev, a)
    #expect(rig.unit.stats.iotlbHits == 2, "a survived")
    rig.read(dev, c)
    #expect(rig.unit.stats.iotlbHits == 3, "c is cached")
    let misses = rig.unit.stats.iotlbMisses
    rig.read(dev, b)
    #expect(rig.unit.stats.iotlbMisses == misses + 1, "b was evicted")
    #expect(rig.unit.stats.iotlbEvictions == 2)
  }

  @Test("Walk-cache capacity, and caches of size 0")
  func walkCapacity() throws {
    let rig = try Rig(.vtd, walk: 2)
    let (dev, d) = try rig.attachedDevice()
    let page = try rig.granulePage()
    try d.map(iova: IOVA(0), phys: rig.address(page), size: 4 * K, context: ctx)
    rig.read(dev, 0)
    #expect(rig.unit.counts == [1, 2])
    #expect(rig.unit.stats.walkCacheEvictions == 1)

    let none = try Rig(.vtd, iotlb: 0, walk: 0)
    let (dev0, d0) = try none.attachedDevice()
    try d0.map(iova: IOVA(0), phys: none.address(try none.granulePage()), size: 4 * K, context: ctx)
    none.read(dev0, 0)
    none.read(dev0, 0)
    #expect(none.unit.counts == [0, 0])
    #expect(none.unit.stats.walks == 2 && none.unit.stats.iotlbHits == 0)
  }

  @Test("Large pages are cached as one IOTLB entry and invalidated by a range inside them")
  func largePageEntry() throws {
    let rig = try Rig(.vtd)
    let (dev, d) = try rig.attachedDevice()
    try d.map(iova: IOVA(2 * M), phys: PhysicalAddress(0x8020_0000), size: 2 * M, context: ctx)
    rig.read(dev, 2 * M + 0x1234)
    rig.read(dev, 4 * M - 8)
    #expect(rig.unit.counts == [1, 2])
    #expect(rig.unit.stats.iotlbHits == 1)
    #expect(rig.unit.iotlbEntries(reaching: PhysicalAddress(0x8030_0000)).count == 1)
    #expect(d.unmap(iova: IOVA(2 * M), size: 2 * M, context: ctx) == 2 * M)
    #expect(rig.unit.cachedEntryCounts.iotlb == 0)
  }

  /// A 4K entry left by unmap_fast (no sync yet) and a 2M entry for a new
  /// mapping both cover the IOVA. Returns what the device reads there.
  func overlappingEntriesRead() throws -> UInt64? {
    // No walk cache: it would still point at the unlinked table and fault.
    let rig = try Rig(.vtd, walk: 0)
    let (dev, d) = try rig.attachedDevice()
    let a = try rig.memory.allocPages(order: 0, context: ctx)
    let b = try rig.memory.allocPages(order: 9, context: ctx)
    rig.memory.write64(rig.address(a).advanced(by: 8), 0xAAAA)
    rig.memory.write64(rig.address(b).advanced(by: 8), 0xBBBB)
    try d.map(iova: IOVA(2 * M), phys: rig.address(a), size: 4 * K, context: ctx)
    try d.fillLeafTable(.vtd, base: 2 * M, after: 4 * K)
    rig.read(dev, 2 * M + 8)
    #expect(d.unmapFast(iova: IOVA(2 * M), size: 2 * M, context: ctx) == 2 * M)
    try d.map(iova: IOVA(2 * M), phys: rig.address(b), size: 2 * M, context: ctx)
    rig.read(dev, 2 * M + 4 * K)
    #expect(rig.unit.cachedEntryCounts.iotlb == 2)
    return rig.read(dev, 2 * M + 8).value
  }

  @Test("Overlapping IOTLB entries of different sizes resolve the same way every time")
  func overlappingEntriesDeterministic() throws {
    var seen: Set<UInt64?> = []
    for _ in 0..<16 { seen.insert(try overlappingEntriesRead()) }
    #expect(seen.count == 1, "reads gave \(seen.map { $0.map { String($0, radix: 16) } ?? "nil" })")
  }
}
