import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// The lazy (`iommu.strict=0`) flush queue of dma-iommu.
@Suite("Lazy flush queue")
struct FlushQueueTests {
  static func domainFlush(_ m: IOMMUModel) -> String {
    switch m {
    case .vtd: "IOTLB DSI"
    case .smmuv3: "TLBI_NH_ASID"
    case .amd: "INVALIDATE_IOMMU_PAGES S=1 PDE=1"
    }
  }

  /// A lazy machine, its device, its DMA domain and a data page.
  func lazy(_ g: Geometry) throws -> (Rig, Device, Domain, PageBlock) {
    let rig = try Rig(g, strict: false)
    let dev = try rig.device()
    let d = try #require(dev.domain)
    #expect(d.type == .dma && d.isLazy)
    return (rig, dev, d, try rig.memory.allocPages(order: 0, context: ctx))
  }

  func mapOne(_ rig: Rig, _ dev: Device, _ page: PageBlock) throws -> IOVA {
    try rig.machine.dmaMap(dev, phys: rig.address(page), size: 4096, direction: .bidirectional, context: ctx)
  }

  @Test("dma_unmap leaves the IOTLB entry until the 10 ms timer fires", arguments: Geometry.models)
  func timer(_ g: Geometry) throws {
    let (rig, dev, d, page) = try lazy(g)
    let iova = try mapOne(rig, dev, page)
    rig.read(dev, iova.rawValue)
    #expect(rig.unit.cachedEntryCounts.iotlb == 1)
    let before = rig.unit.stats
    rig.machine.dmaUnmap(dev, dmaAddress: iova, size: 4096, direction: .bidirectional, context: ctx)
    #expect(d.iovaToPhys(iova) == .zero, "the PTE is gone at once")
    #expect(rig.unit.stats.invalidations == before.invalidations, "no invalidation yet")
    #expect(rig.unit.cachedEntryCounts.iotlb == 1)
    #expect(d.isPendingLazyFlush(iova.rawValue))
    #expect(rig.read(dev, iova.rawValue).fault == nil, "the device still uses the IOTLB entry")

    rig.machine.advance(by: 9_000_000, context: ctx)
    #expect(rig.unit.cachedEntryCounts.iotlb == 1, "9 ms: still cached")
    #expect(d.isPendingLazyFlush(iova.rawValue))
    #expect(rig.issued(Self.domainFlush(g.model), since: before) == 0)

    rig.machine.advance(by: 1_000_000, context: ctx)
    #expect(rig.machine.clock.now == 10_000_000)
    #expect(rig.unit.cachedEntryCounts.iotlb == 0, "10 ms: flushed")
    #expect(!d.isPendingLazyFlush(iova.rawValue))
    #expect(rig.issued(Self.domainFlush(g.model), since: before) == 1)
    #expect(rig.read(dev, iova.rawValue).fault != nil)

    // No more work: the timer is not re-armed.
    rig.machine.advance(by: 100_000_000, context: ctx)
    #expect(rig.issued(Self.domainFlush(g.model), since: before) == 1)
  }

  @Test("The IOVA is not reused before the flush; strict mode reuses it at once")
  func iovaReuse() throws {
    let (rig, dev, _, page) = try lazy(.vtd)
    let a = try mapOne(rig, dev, page)
    #expect(a == IOVA(0xFFFF_F000))
    rig.machine.dmaUnmap(dev, dmaAddress: a, size: 4096, direction: .bidirectional, context: ctx)
    let b = try mapOne(rig, dev, page)
    #expect(b != a)
    #expect(b == IOVA(0xFFFF_E000))
    rig.machine.advance(by: 10_000_000, context: ctx)
    let c = try mapOne(rig, dev, page)
    #expect(c == a, "released by the flush")

    let strict = try Rig(.vtd)
    let sdev = try strict.device()
    let spage = try strict.memory.allocPages(order: 0, context: ctx)
    let x = try mapOne(strict, sdev, spage)
    strict.machine.dmaUnmap(sdev, dmaAddress: x, size: 4096, direction: .bidirectional, context: ctx)
    #expect(try mapOne(strict, sdev, spage) == x)
  }

  @Test("Later unmaps do not push the timer back")
  func timerNotPushedBack() throws {
    let (rig, dev, _, page) = try lazy(.vtd)
    let a = try mapOne(rig, dev, page)
    let b = try mapOne(rig, dev, page)
    rig.read(dev, a.rawValue)
    rig.read(dev, b.rawValue)
    let before = rig.unit.stats
    rig.machine.dmaUnmap(dev, dmaAddress: a, size: nil, direction: nil, context: ctx)
    rig.machine.advance(by: 5_000_000, context: ctx)
    rig.machine.dmaUnmap(dev, dmaAddress: b, size: nil, direction: nil, context: ctx)
    rig.machine.advance(by: 5_000_000, context: ctx)
    #expect(rig.issued("IOTLB DSI", since: before) == 1)
    #expect(rig.unit.cachedEntryCounts.iotlb == 0)
  }

  @Test(
    "Freed table pages wait for the flush too (io-pgtable-arm frees them at once after a walk flush)",
    arguments: Geometry.models)
  func tablePagesWait(_ g: Geometry) throws {
    let (rig, dev, _, _) = try lazy(g)
    let observer = RecordingObserver()
    rig.machine.observer = observer
    let block = try rig.memory.allocPages(order: 10, context: ctx)
    // 2M at a 4K offset: 512 small pages filling one last-level table.
    let iova = try rig.machine.dmaMap(
      dev, phys: rig.address(block).advanced(by: 4096), size: 2 * M, direction: .bidirectional, context: ctx)
    #expect(iova == IOVA(0xFFE0_0000))
    rig.read(dev, iova.rawValue)
    let free = rig.memory.freePageCount
    rig.machine.dmaUnmap(dev, dmaAddress: iova, size: 2 * M, direction: .bidirectional, context: ctx)
    if g.model == .smmuv3 {
      #expect(rig.memory.freePageCount == free + 1)
      #expect(rig.unit.cachedEntryCounts.iotlb == 0, "TLBI_NH_VA Leaf=0 covers the range")
    } else {
      #expect(rig.memory.freePageCount == free, "the table waits in the flush queue")
      #expect(rig.unit.cachedEntryCounts.iotlb == 1)
    }
    rig.machine.advance(by: 10_000_000, context: ctx)
    #expect(rig.memory.freePageCount == free + 1)
    #expect(rig.unit.counts == [0, 0])
    let frees = observer.all.compactMap { e -> Int? in
      if case .tableFree(_, let n) = e { return n } else { return nil }
    }
    #expect(frees == [0], "one table, freed after the walk caches forgot it")
  }

  @Test("A full queue flushes at once, without the timer")
  func fullQueue() throws {
    let (rig, dev, d, page) = try lazy(.vtd)
    let before = rig.unit.stats
    var queued: [IOVA] = []
    for _ in 0..<255 {
      let iova = try mapOne(rig, dev, page)
      queued.append(iova)
      rig.machine.dmaUnmap(dev, dmaAddress: iova, size: nil, direction: nil, context: ctx)
    }
    #expect(Set(queued).count == 255, "no IOVA reused while queued")
    #expect(rig.issued("IOTLB DSI", since: before) == 0)
    #expect(d.isPendingLazyFlush(queued[1].rawValue))
    // The kernel's ring of IOVA_DEFAULT_FQ_SIZE (256) slots holds 255 entries:
    // fq_full() is ((tail + 1) & mod_mask) == head, so queueing the 256th
    // unmap flushes first.
    let iova256 = try mapOne(rig, dev, page)
    rig.machine.dmaUnmap(dev, dmaAddress: iova256, size: nil, direction: nil, context: ctx)
    #expect(rig.issued("IOTLB DSI", since: before) == 1)
    let iova257 = try mapOne(rig, dev, page)
    rig.machine.dmaUnmap(dev, dmaAddress: iova257, size: nil, direction: nil, context: ctx)
    #expect(rig.issued("IOTLB DSI", since: before) == 1, "flushed once, by the full queue")
    #expect(rig.machine.clock.now == 0, "no time passed")
    #expect(!d.isPendingLazyFlush(queued[1].rawValue), "released by the flush")
    #expect(!d.isPendingLazyFlush(queued[253].rawValue))
    #expect(iova257 == queued[254], "the range cache hands back the last IOVA the flush released")
  }
}
