import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// `arm_lpae_run_tests()` and the generic_pt kunit tests, for every format
/// and granule.
@Suite("I/O page tables")
struct PageTableTests {
  @Test("An empty table translates nothing", arguments: Geometry.all)
  func emptyTable(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    for iova in [42, G + 42, 2 * G + 42] { #expect(d.iovaToPhys(IOVA(iova)) == .zero) }
    #expect(d.mappedLeaves().isEmpty)
    #expect(d.unmap(iova: IOVA(0), size: g.granule, context: ctx) == 0)
  }

  @Test("Every page size maps at 1G steps, overlaps fail, unmap returns the size, remap works", arguments: Geometry.all)
  func mapEveryPageSize(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    var iova: UInt64 = 0
    for size in g.pageSizes {
      try d.map(iova: IOVA(iova), phys: PhysicalAddress(iova), size: size, context: ctx)
      // Overlapping mappings.
      #expect(
        errno {
          try d.map(
            iova: IOVA(iova), phys: PhysicalAddress(iova + size), size: size, readable: true, writable: false,
            context: ctx)
        } == .EEXIST)
      #expect(d.iovaToPhys(IOVA(iova + 42)) == PhysicalAddress(iova + 42))
      #expect(leaves(d).last == Leaf(iova: iova, phys: iova, size: size))
      iova += G
    }
    #expect(leaves(d).count == g.pageSizes.count)
    // Full unmap, then remap the full block.
    iova = 0
    for size in g.pageSizes {
      #expect(d.unmap(iova: IOVA(iova), size: size, context: ctx) == size)
      #expect(d.iovaToPhys(IOVA(iova + 42)) == .zero)
      try d.map(
        iova: IOVA(iova), phys: PhysicalAddress(iova), size: size, readable: false, writable: true, context: ctx)
      #expect(d.iovaToPhys(IOVA(iova + 42)) == PhysicalAddress(iova + 42))
      iova += G
    }
    // The last largest page of the 48-bit input range.
    let top = (1 << 48) - g.largest
    try d.map(iova: IOVA(top), phys: PhysicalAddress(3 * g.largest), size: g.largest, context: ctx)
    #expect(d.iovaToPhys(IOVA(top + 42)) == PhysicalAddress(3 * g.largest + 42))
    #expect(d.iovaToPhys(IOVA((1 << 48) - 1)) == PhysicalAddress(4 * g.largest - 1))
    #expect(d.unmap(iova: IOVA(top), size: g.largest, context: ctx) == g.largest)
    #expect(d.iovaToPhys(IOVA(top + 42)) == .zero)
  }

  @Test("Overlaps with smaller or larger mappings are EEXIST and change nothing", arguments: Geometry.all)
  func overlaps(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    let big = g.pageSizes[1]
    let gran = g.granule
    // A large page at 4*big; a small page at 8*big.
    try d.map(iova: IOVA(4 * big), phys: PhysicalAddress(big), size: big, context: ctx)
    try d.map(iova: IOVA(8 * big + gran), phys: PhysicalAddress(gran), size: gran, context: ctx)
    let before = leaves(d)
    // A small page inside the large one.
    #expect(
      errno { try d.map(iova: IOVA(4 * big + gran), phys: PhysicalAddress(0), size: gran, context: ctx) } == .EEXIST)
    // The same large page again, and a run that ends inside it.
    #expect(errno { try d.map(iova: IOVA(4 * big), phys: PhysicalAddress(0), size: big, context: ctx) } == .EEXIST)
    #expect(errno { try d.map(iova: IOVA(3 * big), phys: PhysicalAddress(0), size: 2 * big, context: ctx) } == .EEXIST)
    // A large page over the table holding the small one (io-pgtable-arm
    // replaces the table instead: blockOverTable).
    if g.model != .smmuv3 {
      #expect(errno { try d.map(iova: IOVA(8 * big), phys: PhysicalAddress(0), size: big, context: ctx) } == .EEXIST)
    }
    // A run of small pages whose second page collides: the first is undone.
    #expect(errno { try d.map(iova: IOVA(8 * big), phys: PhysicalAddress(0), size: 2 * gran, context: ctx) } == .EEXIST)
    #expect(d.iovaToPhys(IOVA(8 * big)) == .zero)
    // The largest page over everything.
    if g.largest > big, g.model != .smmuv3 {
      #expect(errno { try d.map(iova: IOVA(0), phys: PhysicalAddress(0), size: g.largest, context: ctx) } == .EEXIST)
    }
    #expect(leaves(d) == before)
  }

  @Test(
    "io-pgtable-arm: a block over a table that still holds leaves frees the table and drops them",
    arguments: Geometry.all.filter { $0.model == .smmuv3 })
  func blockOverTable(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    let big = g.pageSizes[1]
    let gran = g.granule
    try d.map(iova: IOVA(8 * big + gran), phys: PhysicalAddress(gran), size: gran, context: ctx)
    let tables = rig.tables(d).count
    let before = rig.unit.stats
    try d.map(iova: IOVA(8 * big), phys: PhysicalAddress(big), size: big, context: ctx)
    #expect(leaves(d) == [Leaf(iova: 8 * big, phys: big, size: big)])
    #expect(rig.tables(d).count == tables - 1, "the last-level table is freed")
    #expect(rig.issued("TLBI_NH_VA Leaf=0", since: before) == 1, "its walks are flushed first")
    // A leaf in the slot is still EEXIST.
    #expect(errno { try d.map(iova: IOVA(8 * big), phys: PhysicalAddress(0), size: big, context: ctx) } == .EEXIST)
  }

  @Test("EINVAL on misaligned iova, phys or size, and on size 0", arguments: Geometry.all)
  func einval(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    let gran = g.granule
    // gran/4 is still 4K aligned for the 16K and 64K granules.
    for bad in [gran / 4, gran / 2, 42] {
      #expect(errno { try d.map(iova: IOVA(bad), phys: PhysicalAddress(0), size: gran, context: ctx) } == .EINVAL)
      #expect(errno { try d.map(iova: IOVA(gran), phys: PhysicalAddress(bad), size: gran, context: ctx) } == .EINVAL)
      #expect(
        errno { try d.map(iova: IOVA(gran), phys: PhysicalAddress(0), size: gran + bad, context: ctx) } == .EINVAL)
    }
    #expect(errno { try d.map(iova: IOVA(gran), phys: PhysicalAddress(0), size: 0, context: ctx) } == .EINVAL)
    #expect(
      errno { try d.map(iova: IOVA(UInt64.max - gran + 1), phys: PhysicalAddress(0), size: 2 * gran, context: ctx) }
        != nil)
    #expect(d.mappedLeaves().isEmpty)
    // Misaligned or empty unmaps remove nothing.
    try d.map(iova: IOVA(0), phys: PhysicalAddress(0), size: gran, context: ctx)
    #expect(d.unmap(iova: IOVA(gran / 2), size: gran, context: ctx) == 0)
    #expect(d.unmap(iova: IOVA(0), size: gran / 2, context: ctx) == 0)
    #expect(d.unmap(iova: IOVA(0), size: 0, context: ctx) == 0)
    #expect(d.iovaToPhys(IOVA(42)) == PhysicalAddress(42))
  }

  @Test("ERANGE beyond the 48-bit input range", arguments: Geometry.all)
  func erange(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    let gran = g.granule
    #expect(errno { try d.map(iova: IOVA(1 << 48), phys: PhysicalAddress(0), size: gran, context: ctx) } == .ERANGE)
    #expect(
      errno { try d.map(iova: IOVA((1 << 48) - gran), phys: PhysicalAddress(0), size: 2 * gran, context: ctx) }
        == .ERANGE)
    #expect(errno { try d.map(iova: IOVA(1 << 52), phys: PhysicalAddress(0), size: gran, context: ctx) } == .ERANGE)
    #expect(errno { try d.map(iova: IOVA(0), phys: PhysicalAddress(1 << 52), size: gran, context: ctx) } == .ERANGE)
    #expect(d.mappedLeaves().isEmpty)
    try d.map(iova: IOVA((1 << 48) - gran), phys: PhysicalAddress(0), size: gran, context: ctx)
    #expect(d.unmap(iova: IOVA(1 << 48), size: gran, context: ctx) == 0)
    #expect(d.unmap(iova: IOVA((1 << 48) - gran), size: gran, context: ctx) == gran)
  }

  @Test("Unmapping a small page at the start of a large one", arguments: Geometry.all)
  func partialUnmap(_ g: Geometry) throws {
    let rig = try Rig(g)
    let observer = RecordingObserver()
    rig.machine.observer = observer
    let d = try rig.paging()
    for (i, large) in g.largePageSizes.enumerated() {
      let iova = UInt64(i + 1) * 2 * g.largest
      let phys = 8 * g.largest
      try d.map(iova: IOVA(iova), phys: PhysicalAddress(phys), size: large, context: ctx)
      let n = d.unmap(iova: IOVA(iova), size: g.granule, context: ctx)
      if g.removesWholeLargePage {
        // VT-d and AMD remove the whole large page and return its size.
        #expect(n == large)
        #expect(d.iovaToPhys(IOVA(iova + 42)) == .zero)
        #expect(d.iovaToPhys(IOVA(iova + large - 1)) == .zero)
        #expect(d.mappedLeaves().isEmpty)
      } else {
        // io-pgtable-arm since 6.13: WARN_ONCE and return 0; the mapping stays.
        #expect(n == 0)
        #expect(d.iovaToPhys(IOVA(iova + 42)) == PhysicalAddress(phys + 42))
        #expect(leaves(d) == [Leaf(iova: iova, phys: phys, size: large)])
        #expect(d.unmap(iova: IOVA(iova), size: large, context: ctx) == large)
      }
    }
    let warnings = observer.messages.filter { $0 == "WARNING in __arm_lpae_unmap" }
    #expect(warnings.count == (g.removesWholeLargePage ? 0 : 1), "WARN_ONCE prints once")
  }

  @Test("Table pages come from the page allocator and go back to it", arguments: Geometry.all)
  func tablePagesFromAllocator(_ g: Geometry) throws {
    let rig = try Rig(g)
    let memory = rig.memory
    let initial = memory.freePageCount
    let initialBlocks = memory.allocatedBlockCount
    let d = try rig.paging()
    #expect(memory.freePageCount == initial - g.tablePages, "the root table")
    let root = rig.root(d)
    #expect(memory.state(of: root.pfn(pageShift: 12)) != .free)
    let rootRecord = try #require(memory.record(containing: root.pfn(pageShift: 12)))
    #expect(rootRecord.use == .ioPageTable && rootRecord.isAllocated)
    #expect(rootRecord.gfp == .pageTable)
    #expect(d.tablePageDepth(at: root) == 0)

    let levels = UInt64(g.format.levels)
    try d.map(iova: IOVA(0), phys: PhysicalAddress(0), size: g.granule, context: ctx)
    #expect(memory.freePageCount == initial - levels * g.tablePages, "one table per level")
    try d.map(iova: IOVA(g.granule), phys: PhysicalAddress(g.granule), size: g.granule, context: ctx)
    #expect(memory.freePageCount == initial - levels * g.tablePages, "the same leaf table")
    let tables = rig.tables(d)
    #expect(tables.count == Int(levels))
    for t in tables {
      guard case .allocated(_, let use) = memory.state(of: t.head) else {
        Issue.record("table \(t.head) is not allocated")
        continue
      }
      #expect(use == .ioPageTable)
    }

    // Unmapping the whole next-size range frees the last-level table, after the sync.
    try d.fillLeafTable(g, after: 2 * g.granule)
    let span = g.pageSizes[1]
    let n = d.unmapFast(iova: IOVA(0), size: span, context: ctx)
    #expect(n == span)
    #expect(d.iovaToPhys(IOVA(42)) == .zero)
    let leafTable = try #require(Set(tables).subtracting(rig.tables(d)).first)
    #expect(d.tablePageDepth(at: leafTable.head.address(pageShift: 12)) == nil)
    if g.model == .smmuv3 {
      // io-pgtable-arm frees the table right after TLBI Leaf=0 and a sync.
      #expect(memory.freePageCount == initial - (levels - 1) * g.tablePages)
    } else {
      #expect(memory.freePageCount == initial - levels * g.tablePages, "freed only after the IOTLB flush")
      #expect(memory.state(of: leafTable.head) != .free)
    }
    d.iotlbSync(context: ctx)
    #expect(memory.freePageCount == initial - (levels - 1) * g.tablePages)
    #expect(memory.state(of: leafTable.head) == .free)

    // Freeing the domain returns every table.
    try rig.machine.freeDomain(d, context: ctx)
    #expect(memory.freePageCount == initial)
    #expect(memory.allocatedBlockCount == initialBlocks)
    #expect(errno { try d.map(iova: IOVA(0), phys: PhysicalAddress(0), size: g.granule, context: ctx) } == .ENODEV)
    #expect(errno { try rig.machine.freeDomain(d, context: ctx) } == .ENOENT)
  }

  @Test("Table pages are freed only when no walk-cache entry points at them", arguments: Geometry.all)
  func tablesFreedAfterWalkCacheIsClean(_ g: Geometry) throws {
    let rig = try Rig(g)
    let observer = RecordingObserver()
    rig.machine.observer = observer
    let (dev, d) = try rig.attachedDevice()
    let page = try rig.granulePage()
    try d.map(iova: IOVA(0), phys: rig.address(page), size: g.granule, context: ctx)
    try d.map(iova: IOVA(g.granule), phys: rig.address(page), size: g.granule, context: ctx)
    try d.fillLeafTable(g, after: 2 * g.granule)
    rig.read(dev, 0)
    rig.read(dev, g.granule)
    #expect(rig.unit.cachedEntryCounts.walk == g.format.levels - 1)
    #expect(d.unmap(iova: IOVA(0), size: g.pageSizes[1], context: ctx) == g.pageSizes[1])
    let frees = observer.all.compactMap { e -> Int? in
      if case .tableFree(_, let n) = e { return n } else { return nil }
    }
    #expect(frees == [0])
    #expect(rig.read(dev, 0).fault != nil)
  }

  @Test("pgsizes= restricts the page sizes a domain uses")
  func restrictedPageSizes() throws {
    let rig = try Rig(.vtd, pgsizes: 4 * K | G)
    #expect(rig.unit.pgsizeBitmap == 4 * K | G)
    let d = try rig.paging()
    try d.map(iova: IOVA(2 * M), phys: PhysicalAddress(2 * M), size: 2 * M, context: ctx)
    #expect(Set(leaves(d).map(\.size)) == [4 * K])
    try d.map(iova: IOVA(G), phys: PhysicalAddress(G), size: G, context: ctx)
    #expect(leaves(d).last == Leaf(iova: G, phys: G, size: G))
    #expect(errno { try rig.machine.addIOMMU(name: "bad", model: .vtd, pgsizes: 64 * K) } == .EINVAL)
    #expect(errno { try rig.machine.addIOMMU(name: "mmu0", model: .amd) } == .EEXIST)
  }

  @Test("Read-only and write-only mappings", arguments: Geometry.models)
  func permissions(_ g: Geometry) throws {
    let rig = try Rig(g)
    let (dev, d) = try rig.attachedDevice()
    let page = try rig.granulePage()
    try d.map(iova: IOVA(0), phys: rig.address(page), size: 4 * K, readable: true, writable: false, context: ctx)
    #expect(rig.read(dev, 0).fault == nil)
    #expect(rig.write(dev, 8, 1).fault != nil)
    #expect(rig.memory.read64(rig.address(page).advanced(by: 8)) == 0)
  }

  @Test("A map that runs out of memory for a table fails with ENOMEM and undoes what it mapped")
  func tableAllocationFails() throws {
    // Five pages: the root, three tables for the first map, one spare.
    let rig = try Rig(.vtd, memorySize: 5 * 4096)
    let d = try rig.paging()
    try d.map(iova: IOVA(0), phys: PhysicalAddress(0), size: 4 * K, context: ctx)
    try d.map(iova: IOVA(2 * M - 4 * K), phys: PhysicalAddress(0), size: 8 * K, context: ctx)
    #expect(rig.memory.freePageCount == 0)
    #expect(
      errno { try d.map(iova: IOVA(4 * M - 4 * K), phys: PhysicalAddress(0), size: 8 * K, context: ctx) } == .ENOMEM)
    #expect(d.iovaToPhys(IOVA(4 * M - 4 * K)) == .zero)
    #expect(leaves(d).count == 3)
  }
}
