import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// `iommu_dma_map_sg()` / `iommu_dma_unmap_sg()`, and the kmalloc caches.
@Suite("DMA scatter-gather and kmalloc")
struct DMASGTests {
  func setup() throws -> (Rig, Device, Domain, [PhysicalAddress]) {
    let rig = try Rig(.vtd)
    let dev = try rig.device()
    let pages = try (0..<20).map { _ in rig.address(try rig.memory.allocPages(order: 0, context: ctx)) }
    return (rig, dev, try #require(dev.domain), pages)
  }

  /// Entries with an offset keep it in their first granule and are not merged.
  @Test func layoutKeepsOffsets() throws {
    let (rig, dev, d, p) = try setup()
    let list = [
      ScatterlistEntry(phys: p[0].advanced(by: 0x100), length: 2048), ScatterlistEntry(phys: p[1], length: 4096),
      ScatterlistEntry(phys: p[2].advanced(by: 0x80), length: 1024),
    ]
    let (entries, count) = try rig.machine.dmaMapSG(dev, entries: list, direction: .fromDevice, context: ctx)
    #expect(count == 3)
    let base = entries[0].dmaAddress.rawValue - 0x100
    #expect(base & 0xfff == 0)
    #expect(entries.map { $0.dmaAddress.rawValue - base } == [0x100, 0x1000, 0x2080])
    #expect(entries.map(\.dmaLength) == [2048, 4096, 1024])
    for (e, l) in zip(entries, list) { #expect(d.iovaToPhys(e.dmaAddress) == l.phys) }
  }

  /// Whole pages merge into one DMA segment, up to the 64K maximum segment size.
  @Test func wholePagesMerge() throws {
    let (rig, dev, _, p) = try setup()
    let list = (0..<17).map { ScatterlistEntry(phys: p[$0], length: 4096) }
    let (entries, count) = try rig.machine.dmaMapSG(dev, entries: list, direction: .toDevice, context: ctx)
    #expect(count == 2)
    #expect(entries[0].dmaLength == 65_536 && entries[1].dmaLength == 4096)
    #expect(entries[1].dmaAddress.rawValue == entries[0].dmaAddress.rawValue + 65_536)
    #expect(entries[2...].allSatisfy { $0.dmaLength == 0 })
  }

  /// With fewer entries than were mapped, the unmap stops at the end of the last DMA segment among them.
  @Test func partialUnmapLeavesTheRest() throws {
    let (rig, dev, d, p) = try setup()
    let list = [
      ScatterlistEntry(phys: p[0].advanced(by: 0x100), length: 2048), ScatterlistEntry(phys: p[1], length: 4096),
      ScatterlistEntry(phys: p[2].advanced(by: 0x80), length: 1024),
    ]
    let (entries, _) = try rig.machine.dmaMapSG(dev, entries: list, direction: .fromDevice, context: ctx)
    rig.machine.dmaUnmapSG(dev, entries: entries, nents: 2, direction: .fromDevice, context: ctx)
    #expect(d.iovaToPhys(entries[0].dmaAddress) == .zero && d.iovaToPhys(entries[1].dmaAddress) == .zero)
    #expect(d.iovaToPhys(entries[2].dmaAddress) == p[2].advanced(by: 0x80))
  }

  @Test func sizeClassesAndSlabOrders() {
    let classes = [1, 8, 9, 64, 65, 96, 97, 128, 129, 192, 193, 512, 513, 8192].map {
      SlabAllocator.sizeClass(UInt64($0), pageSize: 4096)
    }
    #expect(classes == [8, 8, 16, 64, 96, 96, 128, 128, 192, 192, 256, 512, 1024, 8192])
    #expect(SlabAllocator.sizeClass(8193, pageSize: 4096) == nil)
    let orders = [8, 96, 192, 256, 512, 1024, 2048, 4096, 8192].map {
      SlabAllocator.slabOrder(objectSize: UInt64($0), pageSize: 4096)
    }
    #expect(orders == [0, 0, 0, 0, 0, 1, 2, 3, 3])
  }

  /// Objects are packed in address order; the last freed is the next handed out; an empty slab's pages go back.
  @Test func slabReuseIsLIFOAndEmptySlabsAreReturned() throws {
    let rig = try Rig(.vtd)
    let m = rig.machine
    let a = try m.kmalloc(size: 512, gfp: .kernel, context: ctx)
    let b = try m.kmalloc(size: 500, gfp: .kernel, context: ctx)
    let c = try m.kmalloc(size: 512, gfp: .kernel, context: ctx)
    #expect(b.address == a.address.advanced(by: 512) && c.address == a.address.advanced(by: 1024))
    try m.kfree(a.address, context: ctx)
    try m.kfree(c.address, context: ctx)
    let d = try m.kmalloc(size: 512, gfp: .kernel, context: ctx)
    #expect(d.address == c.address && d.serial != c.serial)
    #expect(m.slabObjects(overlapping: a.address.rawValue, length: 2048).map(\.address) == [b.address, d.address])
    // Fill the CPU slab (8 objects), so a second slab is made; empty it: its page goes back.
    var more: [SlabObject] = []
    for _ in 0..<7 { more.append(try m.kmalloc(size: 512, gfp: .kernel, context: ctx)) }
    let second = try #require(more.last)
    #expect(second.address.pfn(pageShift: 12) != a.address.pfn(pageShift: 12))
    let pfn = second.address.pfn(pageShift: 12)
    #expect(rig.memory.record(containing: pfn)?.isAllocated == true)
    for o in more.dropLast() where o.address.pfn(pageShift: 12) == pfn { try m.kfree(o.address, context: ctx) }
    // The second slab became the CPU slab; the first one, emptied, goes back instead.
    try m.kfree(b.address, context: ctx)
    try m.kfree(d.address, context: ctx)
    for o in more where o.address.pfn(pageShift: 12) == a.address.pfn(pageShift: 12) {
      try m.kfree(o.address, context: ctx)
    }
    #expect(rig.memory.record(containing: a.address.pfn(pageShift: 12))?.isAllocated == false)
    #expect(throws: MachineError.self) { try m.kfree(b.address, context: ctx) }
  }
}
