import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// The emulator's ground truth: which owner a page has now.
@Suite("Ground truth for device accesses")
struct GroundTruthTests {
  func setup(_ g: Geometry, strict: Bool = true) throws -> (Rig, Device, PageBlock, IOVA) {
    let rig = try Rig(g, strict: strict)
    let dev = try rig.device()
    let page = try rig.memory.allocPages(order: 0, context: ctx)
    let iova = try rig.machine.dmaMap(dev, phys: rig.address(page), size: 4096, direction: .bidirectional, context: ctx)
    return (rig, dev, page, iova)
  }

  @Test("Device access after the page was freed, then after it was allocated again", arguments: Geometry.models)
  func useAfterFree(_ g: Geometry) throws {
    let (rig, dev, page, iova) = try setup(g)
    let w = rig.write(dev, iova.rawValue + 0x40, 0x1234)
    #expect(w.fault == nil && w.verdict == .ok)
    #expect(rig.memory.read64(rig.address(page).advanced(by: 0x40)) == 0x1234)

    // The driver frees the page while it is still mapped.
    try rig.memory.freePages(page, context: ctx)
    let r = rig.read(dev, iova.rawValue + 0x40)
    #expect(r.fault == nil && r.value == 0x1234)
    guard case .useAfterFree(let pfn, let isFree, _, let gen, _) = r.verdict else {
      Issue.record("expected a use-after-free, got \(r.verdict)")
      return
    }
    #expect(pfn == page.head && isFree && gen == nil)

    // Order-0 LIFO gives the same page to the next allocation.
    let again = try rig.memory.allocPages(order: 0, context: ctx)
    #expect(again == page)
    let r2 = rig.write(dev, iova.rawValue, 0x5678)
    guard case .useAfterFree(let pfn2, let isFree2, let epoch, let gen2, _) = r2.verdict else {
      Issue.record("expected a use-after-free of the reallocated page, got \(r2.verdict)")
      return
    }
    #expect(pfn2 == page.head && !isFree2)
    #expect((gen2 ?? 0) > epoch, "the page's generation is newer than the translation")
    #expect(rig.memory.read64(rig.address(page)) == 0x5678, "the write landed in the new owner's page")

    // Through a fresh walk (no IOTLB entry) the verdict is the same.
    dev.domain?.flushIOTLBAll(context: ctx)
    guard case .useAfterFree(_, false, _, _, _) = rig.read(dev, iova.rawValue).verdict else {
      Issue.record("a walk to the reallocated page is a use-after-free too")
      return
    }
  }

  @Test("Unmap, then free: the access faults and nothing is wrong", arguments: Geometry.models)
  func correctSequence(_ g: Geometry) throws {
    let (rig, dev, page, iova) = try setup(g)
    rig.read(dev, iova.rawValue)
    rig.machine.dmaUnmap(dev, dmaAddress: iova, size: 4096, direction: .bidirectional, context: ctx)
    try rig.memory.freePages(page, context: ctx)
    let r = rig.read(dev, iova.rawValue)
    #expect(r.fault != nil && r.value == nil)
    #expect(r.verdict == .ok)
    // Allocating the page again changes nothing for the device.
    _ = try rig.memory.allocPages(order: 0, context: ctx)
    #expect(rig.write(dev, iova.rawValue, 1).verdict == .ok)
    #expect(rig.memory.read64(rig.address(page)) == 0)
  }

  @Test("Lazy mode: freeing the page in the flush window is allowed, using the stale entry is not")
  func lazyWindow() throws {
    let (rig, dev, page, iova) = try setup(.vtd, strict: false)
    rig.read(dev, iova.rawValue)
    rig.machine.dmaUnmap(dev, dmaAddress: iova, size: 4096, direction: .bidirectional, context: ctx)
    try rig.memory.freePages(page, context: ctx)
    let stale = rig.read(dev, iova.rawValue)
    #expect(stale.fault == nil)
    guard case .useAfterFree(let pfn, true, _, _, _) = stale.verdict else {
      Issue.record("expected a use-after-free through the stale IOTLB entry, got \(stale.verdict)")
      return
    }
    #expect(pfn == page.head)
    rig.machine.advance(by: 10_000_000, context: ctx)
    let after = rig.read(dev, iova.rawValue)
    #expect(after.fault != nil && after.verdict == .ok)
  }

  @Test("An identity domain reaches physical memory directly")
  func identity() throws {
    let rig = try Rig(.vtd)
    let dev = try rig.device()
    let id = try rig.machine.allocDomain(unit: rig.unit, type: .identity, name: "pt", context: ctx)
    try rig.machine.attach(dev, to: id, context: ctx)
    let page = try rig.memory.allocPages(order: 0, context: ctx)
    let phys = rig.address(page)
    #expect(
      try rig.machine.dmaMap(dev, phys: phys.advanced(by: 8), size: 64, direction: .toDevice, context: ctx)
        == IOVA(phys.rawValue + 8))
    #expect(rig.write(dev, phys.rawValue + 8, 9).verdict == .ok)
    #expect(rig.memory.read64(phys.advanced(by: 8)) == 9)
    #expect(id.iovaToPhys(IOVA(phys.rawValue)) == phys)
    try rig.memory.freePages(page, context: ctx)
    guard case .useAfterFree(_, true, _, _, _) = rig.read(dev, phys.rawValue).verdict else {
      Issue.record("identity access to a free page")
      return
    }
    // A blocked domain stops everything.
    try rig.machine.detach(dev, context: ctx)
    let blocked = try rig.machine.allocDomain(unit: rig.unit, type: .blocked, name: "blocked", context: ctx)
    try rig.machine.attach(dev, to: blocked, context: ctx)
    #expect(rig.read(dev, phys.rawValue).fault != nil)
    #expect(errno { try rig.machine.dmaMap(dev, phys: phys, size: 64, direction: .toDevice, context: ctx) } == .EIO)
  }
}
