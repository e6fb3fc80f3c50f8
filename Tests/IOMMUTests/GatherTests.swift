import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// `struct iommu_iotlb_gather` and the commands each driver's `iotlb_sync` computes from it.
@Suite("IOTLB gather")
struct GatherTests {
  @Test("is_disjoint: adjacent ranges join, a gap or an empty gather does not sync")
  func disjoint() {
    var g = IOTLBGather()
    #expect(g.isEmpty && !g.isDisjoint(iova: 0x5000, size: 0x1000), "an empty gather (end 0) is never disjoint")
    g.addRange(iova: 0x2000, size: 0x1000)
    #expect(!g.isDisjoint(iova: 0x3000, size: 0x1000), "adjacent above")
    #expect(!g.isDisjoint(iova: 0x1000, size: 0x1000), "adjacent below")
    #expect(g.isDisjoint(iova: 0x4000, size: 0x1000))
    #expect(g.isDisjoint(iova: 0, size: 0x1000))
    g.pgsize = 0x1000
    #expect(g.needsSyncBeforeAdding(iova: 0x3000, size: 0x20_0000), "another page size syncs first")
    #expect(!g.needsSyncBeforeAdding(iova: 0x3000, size: 0x1000))
  }

  @Test("VT-d PSI: pages rounded up to a power of two, the mask widened to an aligned block holding the range")
  func vtdPSI() {
    #expect(IOMMUUnit.psiAlignedAddress(start: 0x1000, end: 0x1fff) == (0x1000, 0))
    #expect(
      IOMMUUnit.psiAlignedAddress(start: 0x2000, end: 0x4fff) == (0, 3), "3 pages round to 4; pfn 2 is not 4-aligned: 8"
    )
    // Unaligned: 0x1ff000..0x200fff crosses bit 21 of the address (bit 9 of the pfn).
    #expect(IOMMUUnit.psiAlignedAddress(start: 0x1f_f000, end: 0x20_0fff) == (0, 10))
    #expect(IOMMUUnit.psiAlignedAddress(start: 0, end: 0x3fff_ffff) == (0, 18))
  }

  @Test("AMD build_inv_address: one page, an aligned block, or everything")
  func amdAddress() {
    #expect(IOMMUUnit.amdInvalidationRange(address: 0x5000, size: 0x1000) == 0x5000...0x5fff)
    #expect(IOMMUUnit.amdInvalidationRange(address: 0x1f_f000, size: 0x2000) == 0...0x3f_ffff)
    #expect(IOMMUUnit.amdInvalidationRange(address: 0, size: 1 << 53) == nil)
    // An empty gather (start ULONG_MAX, end 0) gives size 2: everything.
    #expect(IOMMUUnit.amdInvalidationRange(address: .max, size: 2) == nil)
  }

  @Test("VT-d falls back to a domain-selective flush above cap_max_amask_val")
  func vtdDSIFallback() throws {
    let rig = try Rig(.vtd)
    let d = try rig.paging()
    let page = try rig.granulePage()
    // Two 4K pages 2G apart: the aligned block needs mask 20 > 18.
    try d.map(iova: IOVA(0), phys: rig.address(page), size: 4096, context: ctx)
    try d.map(iova: IOVA(0x8000_0000), phys: rig.address(page), size: 4096, context: ctx)
    let before = rig.unit.stats
    #expect(d.unmapFast(iova: IOVA(0), size: 4096, context: ctx) == 4096)
    #expect(d.unmapFast(iova: IOVA(0x8000_0000), size: 4096, context: ctx) == 4096)
    d.iotlbSync(context: ctx)
    #expect(rig.issued("IOTLB DSI", since: before) == 1)
    #expect(rig.issued("IOTLB PSI IH=1", since: before) == 0)
  }

  @Test("SMMUv3 add_page syncs before a page of another size: one TLBI per page size")
  func smmuPageSizeChange() throws {
    let rig = try Rig(.smmu4K)
    let d = try rig.paging()
    let block = try rig.memory.allocPages(order: 9, context: ctx)
    let page = try rig.granulePage()
    try d.map(iova: IOVA(0x20_0000), phys: rig.address(block), size: 0x20_0000, context: ctx)
    try d.map(iova: IOVA(0x40_0000), phys: rig.address(page), size: 4096, context: ctx)
    let before = rig.unit.stats
    #expect(d.unmap(iova: IOVA(0x20_0000), size: 0x20_1000, context: ctx) == 0x20_1000)
    #expect(rig.issued("TLBI_NH_VA Leaf=1", since: before) == 2)
    #expect(rig.issued("CMD_SYNC", since: before) == 2)
  }

  @Test("Before ee6e69d03255 (CVE-2026-31735) iommupt gathers the requested length")
  func shortGather() throws {
    for (version, end) in [(KernelVersion(6, 19, 11), UInt64(0x20_0fff)), (.newest, 0x3f_ffff)] {
      let memory = PhysicalMemory(config: MemoryConfiguration(size: 1 << 30))
      let machine = Machine(memory: memory, policy: MachinePolicy(kernel: version))
      let unit = try machine.addIOMMU(name: "vtd0", model: .vtd)
      let d = try machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
      let block = try memory.allocPages(order: 9, context: ctx)
      try d.map(iova: IOVA(0x20_0000), phys: block.head.address(pageShift: 12), size: 0x20_0000, context: ctx)
      _ = d.unmapFast(iova: IOVA(0x20_0000), size: 4096, context: ctx)
      let g = d.state.withLock { $0.pending }
      #expect(g.start == 0x20_0000 && g.end == end, "\(version)")
    }
  }
}

/// What one strict unmap sends on units whose gather the kernel version decides.
@Suite("IOTLB gather by kernel version")
struct GatherVersionTests {
  /// Maps, caches, unmaps 4K; returns the invalidation commands sent by the unmap.
  func unmapCommands(_ version: KernelVersion, model: IOMMUModel, npcache: Bool = false, gathers: Bool = true) throws
    -> [String: UInt64]
  {
    let memory = PhysicalMemory(config: MemoryConfiguration(size: 1 << 30))
    let machine = Machine(memory: memory, policy: MachinePolicy(kernel: version))
    let unit = try machine.addIOMMU(name: "u", model: model, npcache: npcache, gathers: gathers)
    let d = try machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let page = try memory.allocPages(order: 0, context: ctx)
    try d.map(iova: IOVA(0x10_0000), phys: page.head.address(pageShift: 12), size: 4096, context: ctx)
    let before = unit.stats.invalidations
    #expect(d.unmap(iova: IOVA(0x10_0000), size: 4096, context: ctx) == 4096)
    var sent: [String: UInt64] = [:]
    for (name, n) in unit.stats.invalidations where n != before[name] ?? 0 { sent[name] = n - (before[name] ?? 0) }
    return sent
  }

  @Test("NpCache (NO_GAPS): a full flush before 90c5def10bea, nothing until b48ca920, one page after")
  func npcache() throws {
    #expect(
      try unmapCommands(KernelVersion(6, 19, 5), model: .amd, npcache: true)
        == ["INVALIDATE_IOMMU_PAGES S=1 PDE=1": 1, "COMPLETION_WAIT": 1])
    #expect(try unmapCommands(KernelVersion(7, 0, rc: 5), model: .amd, npcache: true) == [:])
    #expect(
      try unmapCommands(.newest, model: .amd, npcache: true)
        == ["INVALIDATE_IOMMU_PAGES PDE=1": 1, "COMPLETION_WAIT": 1])
  }

  @Test("A driver that never fills the gather: no iotlb_sync between 90c5def10bea and 7e0548525abd")
  func gatherOff() throws {
    #expect(try unmapCommands(KernelVersion(7, 0, rc: 5), model: .smmuv3, gathers: false) == [:])
    for v in [KernelVersion(6, 19, 5), .newest] {
      #expect(
        try unmapCommands(v, model: .smmuv3, gathers: false) == ["TLBI_NH_ASID": 1, "CMD_SYNC": 1], "\(v)")
    }
  }

  @Test("SMMUv3 range invalidation: TG from the granule, TTL from the level, NUM/SCALE (__arm_smmu_tlb_inv_range)")
  func smmuRangeEncoding() throws {
    let rig = try Rig(.smmu4K)
    func names(_ r: ClosedRange<UInt64>, leaf: Bool, granule: UInt64, bitmap: UInt64) -> [String] {
      rig.unit.rangeCommands(domainID: 1, range: r, leafOnly: leaf, granule: granule, pgsizeBitmap: bitmap).map {
        "\($0.name) @\(String($0.range!.lowerBound, radix: 16))"
      }
    }
    let bitmap4K: UInt64 = 0x4020_1000
    // A 2M block: one command, level 2, 512 pages.
    #expect(
      names(0x4000_0000...0x401f_ffff, leaf: true, granule: 0x20_0000, bitmap: bitmap4K) == [
        "TLBI_NH_VA Leaf=1 TG=1 TTL=2 NUM=0 SCALE=9 @40000000"
      ])
    // 33 pages: the lowest set bits first, one page then 32.
    #expect(
      names(0x5000_0000...0x5002_0fff, leaf: true, granule: 4096, bitmap: bitmap4K) == [
        "TLBI_NH_VA Leaf=1 TG=1 TTL=3 NUM=0 SCALE=0 @50000000", "TLBI_NH_VA Leaf=1 TG=1 TTL=3 NUM=0 SCALE=5 @50001000",
      ])
    // A walk of one page: TTL=0 and two pages, so that NUM and SCALE are not both 0.
    #expect(
      names(0x6000_0000...0x6000_0fff, leaf: false, granule: 4096, bitmap: bitmap4K) == [
        "TLBI_NH_VA Leaf=0 TG=1 TTL=0 NUM=0 SCALE=1 @60000000"
      ])
    // A 16K granule: TG=2, a 16K leaf at level 3, 31 pages in one command.
    #expect(
      names(0...(31 * 0x4000 - 1), leaf: true, granule: 0x4000, bitmap: 0x200_4000) == [
        "TLBI_NH_VA Leaf=1 TG=2 TTL=3 NUM=30 SCALE=0 @0"
      ])
    // VT-d keeps one command.
    let vtd = try Rig(.vtd)
    #expect(
      vtd.unit.rangeCommands(domainID: 1, range: 0...0x2fff, leafOnly: true, granule: 4096, pgsizeBitmap: bitmap4K)
        .count == 1)
  }
}
