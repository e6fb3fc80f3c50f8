import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Testing

@testable import Sanitizer

@Suite struct AccountingTests {
  @Test(arguments: [MapAccounting.kernel, .exact])
  func freeWhileMappedReportsOncePerPage(_ mode: MapAccounting) throws {
    let t = TestMachine(accounting: mode)
    let unit = try t.machine.addIOMMU(name: "vtd0", model: .vtd)
    let d = try t.machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let blk = try t.memory.allocPages(order: 2, context: ctx)
    let phys = blk.head.address(pageShift: 12)
    try d.map(iova: IOVA(0x10_0000), phys: phys.advanced(by: 0x1000), size: 0x2000, context: ctx)
    #expect(t.sanitizer.mapCount(blk.head.advanced(by: 1)) == 1)
    #expect(t.sanitizer.mapCount(blk.head) == 0)
    try t.memory.freePages(blk, context: ctx)
    let r = t.reports()
    #expect(r.map(\.kind) == [.freedWhileMapped, .freedWhileMapped])
    #expect(r.compactMap(\.pfn) == [blk.head.advanced(by: 1), blk.head.advanced(by: 2)])
    #expect(r.allSatisfy { $0.headline == "iommu: Detected page leak!" && $0.pageOwner != nil })
  }

  @Test func kernelBlindSpotUnmapLargerLeaves511Counts() throws {
    let t = TestMachine(accounting: .kernel)
    let unit = try t.machine.addIOMMU(name: "vtd0", model: .vtd)
    let d = try t.machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let blk = try t.memory.allocPages(order: 9, context: ctx)
    try d.map(iova: IOVA(0x4000_0000), phys: blk.head.address(pageShift: 12), size: 2 << 20, context: ctx)
    #expect(d.unmap(iova: IOVA(0x4000_0000), size: 4096, context: ctx) == 2 << 20)
    #expect(t.reports().map(\.kind) == [.unmapLargerThanRequested])
    let left = (0..<512).filter { t.sanitizer.mapCount(blk.head.advanced(by: Int64($0))) != 0 }
    #expect(left.count == 511)
    #expect(left.first == 1)
  }

  @Test func countReportsNameTheRealCaller() throws {
    // emu.map_count_max=1 and a page mapped twice: the unmap of a range with
    // a hole decrements it in unmap_begin and counts it again in unmap_end.
    let config = MemoryConfiguration(size: 64 << 20, page: PageSize(shift: 12)!)
    let machine = Machine(memory: PhysicalMemory(config: config), policy: MachinePolicy(strict: true))
    var c = Sanitizer.Configuration()
    c.accounting = .kernel
    c.mapCountMax = 1
    let sanitizer = Sanitizer(machine: machine, configuration: c)
    sanitizer.attach()
    let unit = try machine.addIOMMU(name: "vtd0", model: .vtd)
    let d = try machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let blk = try machine.memory.allocPages(order: 1, context: ctx)
    let p = blk.head.address(pageShift: 12)
    try d.map(iova: IOVA(0x10_0000), phys: p, size: 0x1000, context: ctx)
    try d.map(iova: IOVA(0x10_2000), phys: p.advanced(by: 0x1000), size: 0x1000, context: ctx)
    try d.map(iova: IOVA(0x20_0000), phys: p.advanced(by: 0x1000), size: 0x1000, context: ctx)
    #expect(d.unmap(iova: IOVA(0x10_0000), size: 0x3000, context: ctx) == 0x1000)
    let reports = sanitizer.drain().compactMap { if case .report(let r) = $0 { r } else { nil } }
    let traces = reports.map { $0.callTrace.map(\.function) }
    #expect(reports.map(\.kind) == [.mapCountOverflow, .mapCountOverflow])
    #expect(reports.map(\.iova) == [IOVA(0x20_0000), IOVA(0x10_2000)])
    #expect(
      traces == [
        ["iommu_debug_inc_page", "__iommu_debug_map", "iommu_map_nosync", "iommu_map", "test_driver"],
        [
          "iommu_debug_inc_page", "__iommu_debug_update_iova", "__iommu_debug_unmap_end", "__iommu_unmap",
          "iommu_unmap", "test_driver",
        ],
      ])
  }

  @Test func exactReleasesTheWholeLargePage() throws {
    let t = TestMachine(accounting: .exact)
    let unit = try t.machine.addIOMMU(name: "vtd0", model: .vtd)
    let d = try t.machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let blk = try t.memory.allocPages(order: 9, context: ctx)
    try d.map(iova: IOVA(0x4000_0000), phys: blk.head.address(pageShift: 12), size: 2 << 20, context: ctx)
    #expect(d.unmap(iova: IOVA(0x4000_0000), size: 4096, context: ctx) == 2 << 20)
    #expect(t.reports().map(\.kind) == [.unmapLargerThanRequested])
    #expect((0..<512).allSatisfy { t.sanitizer.mapCount(blk.head.advanced(by: Int64($0))) == 0 })
  }

  @Test func kernelBlindSpotGranuleLargerThanPage() throws {
    for mode in [MapAccounting.kernel, .exact] {
      let t = TestMachine(accounting: mode)
      let unit = try t.machine.addIOMMU(name: "smmu0", model: .smmuv3, granule: .size16K)
      let d = try t.machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
      let blk = try t.memory.allocPages(order: 2, context: ctx)
      try d.map(iova: IOVA(0x10_0000), phys: blk.head.address(pageShift: 12), size: 16 << 10, context: ctx)
      let counted = (0..<4).filter { t.sanitizer.mapCount(blk.head.advanced(by: Int64($0))) != 0 }
      #expect(counted == (mode == .kernel ? [0] : [0, 1, 2, 3]))
    }
  }

  @Test func granuleSmallerThanPageCountsEveryLeaf() throws {
    // 4K IOMMU pages on 16K CPU pages: a page holds four leaves.
    for mode in [MapAccounting.kernel, .exact] {
      let t = TestMachine(accounting: mode, pageShift: 14)
      let unit = try t.machine.addIOMMU(name: "vtd0", model: .vtd)
      let d = try t.machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
      let blk = try t.memory.allocPages(order: 1, context: ctx)
      let phys = blk.head.address(pageShift: 14)
      try d.map(iova: IOVA(0x10_0000), phys: phys.advanced(by: 0x2000), size: 0x4000, context: ctx)
      #expect(t.sanitizer.mapCount(blk.head) == 2)
      #expect(t.sanitizer.mapCount(blk.head.advanced(by: 1)) == 2)
      #expect(d.unmap(iova: IOVA(0x10_1000), size: 0x2000, context: ctx) == 0x2000)
      #expect(t.sanitizer.mapCount(blk.head) == 1)
      #expect(t.sanitizer.mapCount(blk.head.advanced(by: 1)) == 1)
    }
  }

  @Test func largeMapCostsFewPieces() throws {
    let t = TestMachine(accounting: .exact, memory: 4 << 30)
    let unit = try t.machine.addIOMMU(name: "vtd0", model: .vtd)
    let d = try t.machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    // 1G of physical memory mapped as 1G: the counts take a handful of pieces.
    try d.map(iova: IOVA(1 << 30), phys: PhysicalAddress(0xC000_0000), size: 1 << 30, context: ctx)
    #expect(t.sanitizer.countPieces <= 8)
    #expect(t.sanitizer.mapCount(PFN(0xC000_0000 >> 12)) == 1)
    #expect(t.sanitizer.mapCount(PFN((0xC000_0000 >> 12) + 262_143)) == 1)
    #expect(t.sanitizer.mapCount(PFN((0xC000_0000 >> 12) + 262_144)) == 0)
    #expect(d.unmap(iova: IOVA(1 << 30), size: 1 << 30, context: ctx) == 1 << 30)
    #expect(t.sanitizer.countPieces == 0)
  }

  @Test func mmioAndOfflineAreNotCounted() throws {
    let m = Machine(
      memory: PhysicalMemory(config: MemoryConfiguration(size: 64 << 20, offline: [0x8100_0000...0x81ff_ffff])))
    let s = Sanitizer(machine: m)
    s.attach()
    let unit = try m.addIOMMU(name: "vtd0", model: .vtd)
    let d = try m.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    try d.map(iova: IOVA(0x10_0000), phys: PhysicalAddress(0x8100_0000), size: 0x2000, context: ctx)
    try d.map(iova: IOVA(0x20_0000), phys: PhysicalAddress(0xfe00_0000), size: 0x2000, context: ctx)
    #expect(s.mapCount(PFN(0x81000)) == 0)
    #expect(s.countPieces == 0)
  }
}
