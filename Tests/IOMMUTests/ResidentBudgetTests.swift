import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// `--max-resident` bounds everything the machine keeps (issue 15 item 4):
/// scattered maps (a leaf table each) and domains stop at the limit with
/// the budget's error, and the charged total never passes it.
@Suite struct ResidentBudgetTests {
  static func machine(limit: UInt64) throws -> (Machine, IOMMUUnit) {
    let memory = PhysicalMemory(config: MemoryConfiguration(size: 1 << 30), residentLimit: limit)
    let m = Machine(memory: memory, policy: MachinePolicy(strict: true))
    return (m, try m.addIOMMU(name: "smmu0", model: .smmuv3))
  }

  @Test func scatteredMapsStopAtTheLimit() throws {
    let (m, unit) = try Self.machine(limit: 1 << 20)
    defer { m.tearDown() }
    let d = try m.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let page = try m.memory.allocPages(order: 0, context: ctx)
    let phys = page.head.address(pageShift: m.memory.pageShift)
    var failure: MachineError?
    var mapped = 0
    for i in 0..<5_000 {
      do throws(MachineError) {
        try d.map(iova: IOVA(UInt64(i) << 21), phys: phys, size: 4096, context: ctx)
        mapped += 1
      } catch {
        failure = error
        break
      }
    }
    #expect(failure == .residentLimit)
    // 1M holds about 200 leaf tables of 4K frames, not 5,000.
    #expect(mapped > 100 && mapped < 256)
    let budget = m.memory.budget
    #expect(budget.limitReached)
    #expect(budget.peak <= 1 << 20)
    #expect(budget.used <= 1 << 20)
    #expect(budget.used(.frames) > 0 && budget.used(.pageTableMetadata) > 0)
  }

  @Test func domainsStopAtTheLimit() throws {
    let (m, unit) = try Self.machine(limit: 1 << 20)
    defer { m.tearDown() }
    var failure: MachineError?
    var made = 0
    for i in 0..<2_000 {
      do throws(MachineError) {
        _ = try m.allocDomain(unit: unit, type: .paging, name: "d\(i)", context: ctx)
        made += 1
      } catch {
        failure = error
        break
      }
    }
    #expect(failure == .residentLimit)
    #expect(made > 200 && made < 1_000)
    #expect(m.memory.budget.peak <= 1 << 20)
    #expect(m.memory.budget.usageDescription.hasPrefix("domains "))
  }

  /// A table holding one leaf keeps one sparse pair, not 512 epochs; the
  /// 9th leaf makes it dense, and every epoch survives the change.
  @Test func tableEpochsAreKeptByNeed() throws {
    let budget = ResidentBudget()
    #expect(budget.charge(TablePage.baseBytes, .pageTableMetadata))
    let t = TablePage(block: PageBlock(head: PFN(1), order: 0), depth: 3, slots: 512, budget: budget)
    #expect(t.reserve(1))
    t.setEpoch(7, 70)
    #expect(budget.used == UInt64(TablePage.baseBytes + TablePage.sparseBytes))
    for i in 0..<8 {
      #expect(t.reserve(1))
      t.setEpoch(100 + i, UInt64(1000 + i))
    }
    #expect(budget.used == UInt64(TablePage.baseBytes + 512 * 8 + 32))
    #expect(t.epoch(7) == 70 && t.epoch(107) == 1007 && t.epoch(8) == 0)
  }

  @Test func freedTablesAndDomainsGiveTheirChargeBack() throws {
    let (m, unit) = try Self.machine(limit: 64 << 20)
    let budget = m.memory.budget
    let before = budget.used(.pageTableMetadata)
    do {
      let d = try m.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
      let page = try m.memory.allocPages(order: 0, context: ctx)
      try d.map(iova: IOVA(1 << 30), phys: page.head.address(pageShift: m.memory.pageShift), size: 4096, context: ctx)
      #expect(budget.used(.pageTableMetadata) > before)
      try m.freeDomain(d, context: ctx)
      #expect(budget.used(.pageTableMetadata) == before)
      #expect(budget.used(.domains) == UInt64(Domain.residentBytes))
    }
    m.tearDown()
    #expect(budget.used(.domains) == 0)
  }

  /// Every category has a counter and a name of its own.
  @Test func everyCategoryHasACounterAndAName() {
    #expect(ResidentCategory.allCases.count == 18)
    #expect(Set(ResidentCategory.allCases.map(\.label)).count == ResidentCategory.allCases.count)
    let budget = ResidentBudget()
    for (i, c) in ResidentCategory.allCases.enumerated() { #expect(budget.charge(i + 1, c)) }
    for (i, c) in ResidentCategory.allCases.enumerated() { #expect(budget.used(c) == UInt64(i + 1)) }
  }

  /// Usage figures: one decimal below 10 units, so a list adds up to about the limit.
  @Test func usageFigures() {
    #expect(ResidentBudget.describe(480) == "480B")
    #expect(ResidentBudget.describe(2048) == "2K")
    #expect(ResidentBudget.describe(1536) == "1.5K")
    #expect(ResidentBudget.describe(1_992_294) == "1.8M")
    #expect(ResidentBudget.describe(812 << 10 | 1000) == "812K")
  }

  /// IOTLB (and ATC) entries are charged while cached, given back when
  /// evicted or invalidated; an entry the budget refuses is not cached.
  @Test func cacheEntriesAreChargedWhileCached() {
    let budget = ResidentBudget()
    var cache = LeafCache(capacity: 4, budget: budget, category: .atcEntries)
    func entry(_ i: UInt64) -> LeafEntry {
      LeafEntry(
        tag: CacheTag(domainID: 1), iova: i << 12, shift: 12, phys: i << 12, readable: true, writable: true,
        user: false, epoch: 1)
    }
    for i in 0..<3 { cache.insert(entry(UInt64(i))) }
    #expect(budget.used(.atcEntries) == UInt64(3 * LeafCache.entryBytes))
    for i in 3..<6 { cache.insert(entry(UInt64(i))) }  // two evictions
    #expect(cache.count == 4 && budget.used(.atcEntries) == UInt64(4 * LeafCache.entryBytes))
    cache.invalidate(domainID: nil)
    #expect(budget.used == 0)

    let small = ResidentBudget(limit: UInt64(2 * WalkCache.entryBytes))
    var walk = WalkCache(capacity: 64, budget: small)
    for d in 0..<3 {
      walk.insert(
        WalkEntry(
          tag: CacheTag(domainID: 1), depth: d, iovaBase: 0, span: 1 << 30, table: 0x1000, generation: 1,
          user: false, writable: true), format: .x86IO)
    }
    #expect(walk.count == 2 && small.limitReached)
    #expect(small.used(.walkCacheEntries) == UInt64(2 * WalkCache.entryBytes))
  }

  /// The IOVA tree charges a node slot once (a freed slot is reused), and
  /// the range caches a magazine per 127 cached ranges; a flush of the
  /// depot gives its magazines back.
  @Test func iovaNodesAndMagazines() throws {
    let budget = ResidentBudget()
    var a = IOVAAllocator(granuleShift: 12, budget: budget)
    var pfns: [UInt64] = []
    for _ in 0..<300 {
      let pfn = a.allocateFast(pages: 1, limitPFN: 1 << 20, flushRCache: true)
      pfns.append(try #require(pfn))
    }
    #expect(budget.used(.iovaNodes) == UInt64(300 * IOVAAllocator.nodeBytes))
    for p in pfns { a.freeFast(pfn: p, pages: 1) }
    // 300 ranges: the loaded and previous magazines full, one in the depot... and one more loaded.
    let magazines = a.rcaches[0].magazines
    #expect(magazines == 3)
    #expect(budget.used(.iovaMagazines) == UInt64(magazines * IOVARCache.magazineBytes))
    a.freeGlobalCachedIOVAs()
    #expect(budget.used(.iovaMagazines) == UInt64(a.rcaches[0].magazines * IOVARCache.magazineBytes))
    #expect(a.rcaches[0].magazines < magazines)
    // Freed nodes' slots are reused: no new charge.
    for _ in 0..<300 { _ = a.allocateFast(pages: 1, limitPFN: 1 << 20, flushRCache: true) }
    #expect(budget.used(.iovaNodes) == UInt64(300 * IOVAAllocator.nodeBytes))
    #expect(a.chargedBytes.nodes == 300 * IOVAAllocator.nodeBytes)
  }

  /// dma-iommu's records are charged per live mapping; lazy unmaps charge
  /// the flush queue until the flush; kmalloc records until kfree; and a
  /// torn-down machine gives everything back.
  @Test func dmaStateAndSlabObjectsGiveTheirChargeBack() throws {
    let memory = PhysicalMemory(config: MemoryConfiguration(size: 1 << 30), residentLimit: 64 << 20)
    let budget = memory.budget
    do {
      let m = Machine(memory: memory, policy: MachinePolicy(strict: false))
      defer { m.tearDown() }
      let unit = try m.addIOMMU(name: "smmu0", model: .smmuv3)
      let dev = try m.addDevice(name: "nic", unit: unit, ats: true, context: ctx)
      let page = try m.memory.allocPages(order: 0, context: ctx)
      let phys = page.head.address(pageShift: m.memory.pageShift)
      var handles: [IOVA] = []
      for _ in 0..<50 {
        handles.append(try m.dmaMap(dev, phys: phys, size: 4096, direction: .bidirectional, context: ctx))
      }
      #expect(budget.used(.dmaMappings) == UInt64(50 * DMAMapping.residentBytes))
      for h in handles { m.dmaUnmap(dev, dmaAddress: h, size: 4096, direction: .bidirectional, context: ctx) }
      #expect(budget.used(.dmaMappings) == 0)
      #expect(budget.used(.flushQueueEntries) > 0)
      m.advance(by: FlushQueue.timeoutNS * 2, context: ctx)
      #expect(budget.used(.flushQueueEntries) == 0)

      var objects: [SlabObject] = []
      for _ in 0..<10 { objects.append(try m.kmalloc(size: 64, gfp: .kernel, context: ctx)) }
      let slab = UInt64(SlabAllocator.Slab.residentBytes(capacity: 64))
      #expect(budget.used(.slabObjects) > slab)
      for o in objects { try m.kfree(o.address, context: ctx) }
      // The CPU slab stays, as SLUB keeps it.
      #expect(budget.used(.slabObjects) == slab)
      let h = try m.dmaMap(dev, phys: phys, size: 4096, direction: .bidirectional, context: ctx)
      _ = m.atsTranslate(dev, iova: h, pasid: nil, context: ctx)
      #expect(budget.used(.atcEntries) == UInt64(LeafCache.entryBytes))
    }
    // The machine is gone: its domains, units and devices gave back what they held.
    #expect(budget.used(.dmaMappings) == 0 && budget.used(.iovaNodes) == 0 && budget.used(.domains) == 0)
    #expect(budget.used(.atcEntries) == 0 && budget.used(.iotlbEntries) == 0)
  }
}
