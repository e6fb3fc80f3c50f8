import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// dma-iommu: `dma_map_page()`, `dma_unmap_page()`, `dma_alloc_coherent()`.
@Suite("DMA API")
struct DMAAPITests {
  func setup(_ g: Geometry = .vtd) throws -> (Rig, Device, Domain) {
    let rig = try Rig(g)
    let dev = try rig.device()
    return (rig, dev, try #require(dev.domain))
  }

  @Test(
    "The MSI window is kept out of a DMA domain's IOVA space (VT-d, AMD), not SMMUv3's SW_MSI",
    arguments: Geometry.models)
  func msiWindowReserved(_ g: Geometry) throws {
    let (rig, dev, _) = try setup(g)
    let a = try rig.machine.dmaMap(dev, phys: .zero, size: 16 << 20, direction: .bidirectional, context: ctx)
    #expect(a == IOVA(0xFF00_0000))
    // The next 16M block down, 0xFE000000, holds 0xFEE00000-0xFEEFFFFF.
    let b = try rig.machine.dmaMap(dev, phys: .zero, size: 16 << 20, direction: .bidirectional, context: ctx)
    #expect(b == IOVA(g.model == .smmuv3 ? 0xFE00_0000 : 0xFD00_0000))
  }

  @Test("A device whose allocation finds no IOVA below 4G stops trying there (pci_32bit_workaround)")
  func pci32BitWorkaroundClears() throws {
    let (rig, dev, _) = try setup()
    let other = try rig.device("nic1")
    let messages = RecordingObserver()
    rig.machine.observer = messages
    // 4G of IOVA cannot fit below 4G (pfn 0 is never handed out): the
    // allocation goes above, and the device stops trying below 4G.
    let big = try rig.machine.dmaMap(dev, phys: .zero, size: 1 << 32, direction: .bidirectional, context: ctx)
    #expect(big.rawValue >= 1 << 32)
    #expect(messages.messages == ["pci \(dev.bdf): Using 48-bit DMA addresses"])
    let p = rig.address(try rig.memory.allocPages(order: 0, context: ctx))
    let small = try rig.machine.dmaMap(dev, phys: p, size: 4096, direction: .bidirectional, context: ctx)
    #expect(small.rawValue >= 1 << 32, "the workaround is off for this device")
    // Another device still tries below 4G first.
    let theirs = try rig.machine.dmaMap(other, phys: p, size: 4096, direction: .bidirectional, context: ctx)
    #expect(theirs.rawValue < 1 << 32)
    #expect(messages.messages.count == 1, "the notice is printed once")
  }

  @Test("IOVAs come from below 4G first, top-down, with the page offset preserved", arguments: Geometry.models)
  func topDownBelow4G(_ g: Geometry) throws {
    let (rig, dev, d) = try setup(g)
    #expect(d.type == .dma && !d.isLazy)
    let p = rig.address(try rig.memory.allocPages(order: 1, context: ctx))
    let a = try rig.machine.dmaMap(
      dev, phys: p.advanced(by: 0x123), size: 0x100, direction: .bidirectional, context: ctx)
    #expect(a == IOVA(0xFFFF_F123))
    #expect(d.iovaToPhys(a) == p.advanced(by: 0x123))
    let m = try #require(rig.machine.dmaMapping(dev, dmaAddress: a))
    #expect(
      m.iova == IOVA(0xFFFF_F000) && m.length == 4096 && m.size == 0x100 && m.phys == p.advanced(by: 0x123)
        && m.direction == .bidirectional)

    let b = try rig.machine.dmaMap(dev, phys: p, size: 4096, direction: .toDevice, context: ctx)
    #expect(b == IOVA(0xFFFF_E000))
    // Two pages (the buffer crosses a page boundary): a size-aligned IOVA.
    let c = try rig.machine.dmaMap(dev, phys: p.advanced(by: 0xF00), size: 0x200, direction: .fromDevice, context: ctx)
    #expect(c == IOVA(0xFFFF_CF00))
    #expect(d.iovaToPhys(c.advanced(by: 0x1FF)) == p.advanced(by: 0x10FF))
    // Three pages are rounded up to four for the IOVA, as the rcache wants.
    let e = try rig.machine.dmaMap(dev, phys: p, size: 3 * 4096, direction: .bidirectional, context: ctx)
    #expect(e == IOVA(0xFFFF_8000))
    #expect(d.iovaToPhys(e.advanced(by: 3 * 4096)) == .zero, "only three pages are mapped")
    let f = try rig.machine.dmaMap(dev, phys: p, size: 4096, direction: .bidirectional, context: ctx)
    #expect(f == IOVA(0xFFFF_7000))
  }

  @Test("dma_unmap with the handle removes the mapping; other addresses are not handles")
  func unmapWithHandle() throws {
    let (rig, dev, d) = try setup()
    let page = try rig.memory.allocPages(order: 0, context: ctx)
    let a = try rig.machine.dmaMap(
      dev, phys: rig.address(page).advanced(by: 0x10), size: 0x80, direction: .bidirectional, context: ctx)
    rig.read(dev, a.rawValue)
    #expect(
      rig.machine.dmaUnmap(dev, dmaAddress: a.advanced(by: 0x10), size: 0x80, direction: .bidirectional, context: ctx)
        == nil)
    #expect(d.iovaToPhys(a) == rig.address(page).advanced(by: 0x10))
    let m = try #require(rig.machine.dmaUnmap(dev, dmaAddress: a, size: 0x80, direction: .bidirectional, context: ctx))
    #expect(m.dmaAddress == a && m.size == 0x80)
    #expect(rig.machine.dmaMapping(dev, dmaAddress: a) == nil)
    #expect(d.iovaToPhys(a) == .zero)
    #expect(rig.unit.cachedEntryCounts.iotlb == 0, "strict: invalidated before dma_unmap returns")
    #expect(rig.read(dev, a.rawValue).fault != nil)
    #expect(
      rig.machine.dmaUnmap(dev, dmaAddress: a, size: 0x80, direction: .bidirectional, context: ctx) == nil,
      "a second unmap finds nothing")
  }

  @Test("Directions set the mapping's permissions")
  func directions() throws {
    let (rig, dev, _) = try setup()
    let page = try rig.memory.allocPages(order: 0, context: ctx)
    let toDev = try rig.machine.dmaMap(dev, phys: rig.address(page), size: 4096, direction: .toDevice, context: ctx)
    #expect(rig.read(dev, toDev.rawValue).fault == nil)
    #expect(rig.write(dev, toDev.rawValue, 1).fault != nil)
    let fromDev = try rig.machine.dmaMap(dev, phys: rig.address(page), size: 4096, direction: .fromDevice, context: ctx)
    #expect(rig.write(dev, fromDev.rawValue, 2).fault == nil)
    #expect(rig.read(dev, fromDev.rawValue).fault != nil, "VT-d second stage: no read permission")
    #expect(rig.memory.read64(rig.address(page)) == 2)
  }

  @Test("dma_alloc_coherent and dma_free_coherent")
  func allocFree() throws {
    let (rig, dev, d) = try setup()
    let (iova, block) = try rig.machine.dmaAlloc(dev, size: 0x3000, context: ctx)
    #expect(block.order == 2)
    #expect(iova.rawValue < 1 << 32)
    #expect(iova.rawValue % 0x4000 == 0)
    #expect(d.iovaToPhys(iova) == rig.address(block))
    #expect(rig.machine.dmaMapping(dev, dmaAddress: iova)?.coherentBlock == block)
    #expect(rig.memory.read64(rig.address(block).advanced(by: 0x2008)) == 0, "zeroed")
    rig.write(dev, iova.rawValue + 0x2008, 0xABCD)
    #expect(rig.memory.read64(rig.address(block).advanced(by: 0x2008)) == 0xABCD)
    guard case .allocated(_, .data) = rig.memory.state(of: block.head) else {
      Issue.record("the coherent buffer is not allocated data")
      return
    }
    try rig.machine.dmaFree(dev, dmaAddress: iova, size: 0x3000, block: block, context: ctx)
    #expect(rig.memory.state(of: block.head) == .free)
    #expect(rig.machine.dmaMapping(dev, dmaAddress: iova) == nil)
    #expect(d.iovaToPhys(iova) == .zero)
    let r = rig.read(dev, iova.rawValue)
    #expect(r.fault != nil && r.verdict == .ok)
    #expect(
      errno { try rig.machine.dmaFree(dev, dmaAddress: iova, size: 0x3000, block: block, context: ctx) } == .EINVAL,
      "double free")

    #expect(errno { try rig.machine.dmaAlloc(dev, size: 0, context: ctx) } == .EINVAL)
    #expect(errno { try rig.machine.dmaAlloc(dev, size: 8 << 20, context: ctx) } == .ENOMEM)
  }

  @Test("Bad arguments, and a device that is not in a DMA domain")
  func errors() throws {
    let (rig, dev, _) = try setup()
    #expect(
      errno {
        try rig.machine.dmaMap(dev, phys: PhysicalAddress(0x8000_0000), size: 0, direction: .toDevice, context: ctx)
      } == .EINVAL)
    #expect(
      errno {
        try rig.machine.dmaMap(
          dev, phys: PhysicalAddress(UInt64.max - 10), size: 100, direction: .toDevice, context: ctx)
      } == .EOVERFLOW)
    let paging = try rig.paging()
    try rig.machine.attach(dev, to: paging, context: ctx)
    #expect(
      errno {
        try rig.machine.dmaMap(dev, phys: PhysicalAddress(0x8000_0000), size: 64, direction: .toDevice, context: ctx)
      } == .EINVAL)
    #expect(rig.machine.dmaUnmap(dev, dmaAddress: IOVA(0xFFFF_F000), size: nil, direction: nil, context: ctx) == nil)
  }

  @Test("Once the space below 4G is used up, IOVAs come from above it")
  func above4G() throws {
    let (rig, dev, d) = try setup()
    // 1G fits at 0x40000000; the next 1G block up holds the MSI window.
    let a = try rig.machine.dmaMap(dev, phys: PhysicalAddress(0), size: G, direction: .bidirectional, context: ctx)
    #expect(a == IOVA(0x8000_0000))
    #expect(Set(leaves(d).map(\.size)) == [G])
    // 2G no longer fits below 4G (IOVA pfn 0 is never handed out).
    let b = try rig.machine.dmaMap(dev, phys: PhysicalAddress(0), size: 2 * G, direction: .bidirectional, context: ctx)
    #expect(b == IOVA((1 << 48) - 2 * G))
    #expect(d.iovaToPhys(b.advanced(by: G + 5)) == PhysicalAddress(G + 5))
  }
}
