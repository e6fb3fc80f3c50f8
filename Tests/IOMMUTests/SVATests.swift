import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// CPU page tables, SVA walks and the walk-cache fill rules.
@Suite("SVA and CPU page tables") struct SVATests {
  struct SVARig {
    let machine: Machine
    let unit: IOMMUUnit
    let device: Device
    let process: Process
    let bond: SVABond

    init(model: IOMMUModel = .vtd, kvaFlush: KVAFlushPolicy = .deferredFree, notifier: NotifierPolicy = .sync) throws {
      machine = Machine(
        memory: PhysicalMemory(config: MemoryConfiguration(size: 256 << 20)),
        policy: MachinePolicy(kvaFlush: kvaFlush, notifier: notifier))
      unit = try machine.addIOMMU(name: "u0", model: model, sva: true)
      device = try machine.addDevice(name: "acc0", unit: unit, pasid: true, context: ctx)
      process = try machine.createProcess(comm: "p", context: ctx)
      bond = try machine.svaBind(device, process, context: ctx)
    }

    func read(_ va: UInt64) -> Machine.AccessResult {
      machine.deviceAccess(device, iova: IOVA(va), pasid: bond.pasid, isWrite: false, length: 8, value: 0, context: ctx)
    }
  }

  @Test func processesShareTheKernelHalf() throws {
    let r = try SVARig()
    let other = try r.machine.createProcess(comm: "q", context: ctx)
    let idx = PageTableFormat.x86CPU.index(CPUMemoryManager.vmallocStart, 0) << 3
    let e1 = r.machine.memory.read64(r.process.pgd.advanced(by: idx))
    let e2 = r.machine.memory.read64(other.pgd.advanced(by: idx))
    #expect(e1 != 0 && e1 == e2)
    // User half is private.
    #expect(r.machine.memory.read64(r.process.pgd) == 0)
  }

  @Test func userWalkStopsAtTheSupervisorLeafButCachesUpperLevels() throws {
    let r = try SVARig()
    let area = try r.machine.vmalloc(size: 4096, context: ctx)
    let before = r.unit.cachedEntryCounts
    let res = r.read(area.start.rawValue)
    #expect(res.fault?.contains("supervisor") == true)
    let after = r.unit.cachedEntryCounts
    #expect(after.walk - before.walk == 3, "PML4, PDPT and PD entries are cached even though the walk failed")
    #expect(after.iotlb == before.iotlb, "a failed walk creates no IOTLB entry")
    // The data itself is reachable through a user mapping.
    let m = try r.machine.mmap(r.process, size: 8192, populate: true, context: ctx)
    #expect(r.read(m.start.rawValue).fault == nil)
    #expect(r.unit.cachedEntryCounts.iotlb == after.iotlb + 1)
  }

  @Test func supervisorRequestsFaultBeforeAnyTranslation() throws {
    let r = try SVARig()
    let observer = RecordingObserver()
    r.machine.observer = observer
    let m = try r.machine.mmap(r.process, size: 4096, populate: true, context: ctx)
    let res = r.machine.deviceAccess(
      r.device, iova: IOVA(m.start.rawValue), pasid: r.bond.pasid, privilege: .supervisor, isWrite: false, length: 8,
      value: 0,
      context: ctx)
    #expect(res.fault?.contains("SRE clear") == true)
    #expect(res.value == nil)
    #expect(r.unit.cachedEntryCounts.walk == 0, "the PASID-table entry refuses it: nothing is walked")
    let accesses = observer.all.compactMap { if case .access(let e) = $0 { e } else { nil } }
    #expect(accesses.count == 1)
    #expect(accesses.first?.privilege == .supervisor && accesses.first?.fault == res.fault)
  }

  @Test func anAccessIsOneRequestPer4KPage() throws {
    let r = try SVARig()
    let observer = RecordingObserver()
    r.machine.observer = observer
    let m = try r.machine.mmap(r.process, size: 8192, populate: true, context: ctx)
    let at = IOVA(m.start.rawValue + 4092)
    let write = r.machine.deviceAccess(
      r.device, iova: at, pasid: r.bond.pasid, isWrite: true, length: 8, value: 0x1122_3344_5566_7788, context: ctx)
    #expect(write.fault == nil && write.value == nil)
    let read = r.machine.deviceAccess(
      r.device, iova: at, pasid: r.bond.pasid, isWrite: false, length: 8, value: 0, context: ctx)
    #expect(read.value == 0x1122_3344_5566_7788)
    let lengths = observer.all.compactMap { if case .access(let e) = $0 { e.length } else { nil } }
    #expect(lengths == [4, 4, 4, 4])
  }

  @Test func smmuv3NeverWalksTheKernelHalf() throws {
    let r = try SVARig(model: .smmuv3)
    let area = try r.machine.vmalloc(size: 4096, context: ctx)
    let res = r.read(area.start.rawValue)
    #expect(res.fault?.contains("EPD1") == true)
    #expect(r.unit.cachedEntryCounts.walk == 0)
  }

  /// Regression (issue 20 item 5): `vfree` never frees a kernel page-table
  /// page; a huge vmalloc over the same PMD frees it (`pmd_free_pte_page()`).
  @Test(arguments: [KVAFlushPolicy.none, .tlbRange, .deferredFree])
  func retiredKernelTableAndTheWalkCache(_ policy: KVAFlushPolicy) throws {
    let r = try SVARig(kvaFlush: policy)
    let area = try r.machine.vmalloc(size: 8192, context: ctx)
    _ = r.read(area.start.rawValue)
    // The PTE table the cached PD entry points at.
    let pte = try #require(
      r.unit.caches.withLock { c in c.walk.entries.values.first { $0.entry.depth == 2 }?.entry.table })
    let freeBefore = r.machine.memory.freePageCount
    try r.machine.vfree(area, context: ctx)
    #expect(r.machine.memory.freePageCount == freeBefore + 2, "the two data pages; the PTE page stays")
    #expect(r.machine.cpu.state.withLock { $0.tables[pte] != nil }, "still linked from its PMD entry")
    let big = try r.machine.vmallocHuge(size: 2 << 20, context: ctx)
    #expect(big.huge && big.start == area.start, "the freed range is reused: the same PMD")
    #expect(r.machine.cpu.state.withLock { $0.tables[pte] == nil })
    let stale = !r.unit.walkEntries(pointingInto: PhysicalAddress(pte), length: 4096).isEmpty
    let afterHuge = freeBefore + 2 - 512
    switch policy {
    case .none:
      #expect(stale, "before the fix nothing told the IOMMU")
      #expect(r.machine.memory.freePageCount == afterHuge + 1, "the PTE page went back at once")
    case .tlbRange:
      #expect(!stale)
      #expect(r.machine.memory.freePageCount == afterHuge + 1)
    case .deferredFree:
      #expect(r.machine.memory.freePageCount == afterHuge, "the PTE page waits for the worker")
      r.machine.runDeferredWork(context: ctx)
      #expect(r.unit.walkEntries(pointingInto: PhysicalAddress(pte), length: 4096).isEmpty)
      #expect(r.machine.memory.freePageCount == afterHuge + 1)
    }
    // The walk now stops at the 2M supervisor leaf (unless stale).
    if policy != .none { #expect(r.read(area.start.rawValue).fault?.contains("supervisor") == true) }
    try r.machine.vfree(big, context: ctx)
    #expect(r.machine.memory.freePageCount == afterHuge + 1 + 512)
  }

  /// The vmap space is allocated lowest-address first, a guard page after
  /// each area, and freed ranges are reused (`alloc_vmap_area()`).
  @Test func vmapAreasReuseFreedRangesLowestFirst() throws {
    let r = try SVARig()
    let start = CPUMemoryManager.vmallocStart
    let a = try r.machine.vmalloc(size: 8192, context: ctx)
    let b = try r.machine.vmalloc(size: 4096, context: ctx)
    #expect(a.start.rawValue == start && b.start.rawValue == start + 3 * 4096)
    try r.machine.vfree(a, context: ctx)
    let c = try r.machine.vmalloc(size: 4096, context: ctx)
    #expect(c.start.rawValue == start, "the lowest free range")
    let h = try r.machine.vmallocHuge(size: 3 << 20, context: ctx)
    #expect(h.start.rawValue == start + (2 << 20) && h.size == 4 << 20 && h.pages.count == 2)
    let d = try r.machine.vmalloc(size: 4096, context: ctx)
    #expect(d.start.rawValue == start + 5 * 4096, "the gap the 2M-aligned search skipped")
    try r.machine.vfree(d, context: ctx)
    try r.machine.vfree(b, context: ctx)
    try r.machine.vfree(c, context: ctx)
    let small = try r.machine.vmallocHuge(size: 8192, context: ctx)
    #expect(!small.huge && small.start.rawValue == start, "under 2M: a plain vmalloc")
    try r.machine.vfree(small, context: ctx)
    try r.machine.vfree(h, context: ctx)
    #expect(r.machine.cpu.state.withLock { $0.vmapAreas.isEmpty && $0.vmapFree.count == 1 }, "merged back whole")
  }

  @Test(arguments: [NotifierPolicy.sync, .deferredEnd])
  func munmapInvalidatesSecondaryTLBs(_ n: NotifierPolicy) throws {
    let r = try SVARig(notifier: n)
    let m = try r.machine.mmap(r.process, size: 8192, populate: true, context: ctx)
    #expect(r.read(m.start.rawValue).fault == nil)
    let before = r.unit.stats.invalidations["P_IOTLB PSI IH=0", default: 0]
    try r.machine.munmap(r.process, area: m, context: ctx)
    // Under sync, the emptied PTE page is freed only after a second
    // invalidation (tlb_finish_mmu()), so a walk cached after the CPU flush
    // cannot outlive it (explore's notifier-sync.fixture).
    #expect(r.unit.stats.invalidations["P_IOTLB PSI IH=0", default: 0] == before + (n == .sync ? 2 : 1))
    #expect(r.unit.cachedEntryCounts.iotlb == 0)
    #expect(r.read(m.start.rawValue).fault != nil)
  }

  @Test func bindNeedsPASIDAndSVA() throws {
    let m = Machine(memory: PhysicalMemory(config: MemoryConfiguration(size: 64 << 20)))
    let u = try m.addIOMMU(name: "u", model: .vtd)
    let d = try m.addDevice(name: "d", unit: u, pasid: true, context: ctx)
    let p = try m.createProcess(comm: "p", context: ctx)
    #expect(errno { try m.svaBind(d, p, context: ctx) } == .EOPNOTSUPP)
  }
}
