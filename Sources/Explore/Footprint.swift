import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel

/// What one statement of a task block read and wrote, for the
/// partial-order reduction: two steps are independent when neither writes
/// what the other reads or writes. Conservative by construction: a
/// statement's footprint covers every step it is split into; what a verb may
/// touch comes from a table (`floor`), and the machine's events add the pages
/// it actually touched; a verb the table does not know touches everything.
struct Footprint: Sendable, Hashable {
  /// Depends on every step.
  var all = false
  var reads: Set<Resource> = []
  var writes: Set<Resource> = []

  /// A piece of state a step reads or writes.
  enum Resource: Sendable, Hashable {
    /// The buddy and slab free lists: which block an allocation gets.
    case allocator
    /// Every domain's page tables, IOVA allocator and flush queue, and the map counts.
    case tables
    /// Every IOMMU's IOTLB, paging-structure caches and the devices' ATCs.
    case caches
    /// One 4 KiB frame: its contents, its allocator record, its history.
    case frame(UInt64)
    /// A name of the fixture (bound by one statement, used by another).
    case name(String)
  }

  static let everything = Footprint(all: true)

  /// Whether the two steps may not commute.
  func conflicts(with other: Footprint) -> Bool {
    if all || other.all { return true }
    return !writes.isDisjoint(with: other.writes) || !writes.isDisjoint(with: other.reads)
      || !reads.isDisjoint(with: other.writes)
  }

  /// Adds what `other` reads and writes.
  mutating func formUnion(_ other: Footprint) {
    all = all || other.all
    reads.formUnion(other.reads)
    writes.formUnion(other.writes)
  }

  /// The most frames one statement's footprint lists; past it, it touches everything.
  static let maxFrames = 64

  mutating func write(frames phys: UInt64, length: UInt64) {
    guard !all else { return }
    let first = phys >> 12
    let (last, overflow) = phys.addingReportingOverflow(max(length, 1) - 1)
    guard !overflow, (last >> 12) - first < UInt64(Self.maxFrames) else {
      all = true
      return
    }
    for f in first...(last >> 12) { writes.insert(.frame(f)) }
    // Over a statement's iterations (a loop's statement is one footprint)
    // the frames add up: past the limit, it touches everything.
    if writes.count > Self.maxFrames,
      writes.count(where: { if case .frame = $0 { true } else { false } }) > Self.maxFrames
    {
      all = true
      reads = []
      writes = []
    }
  }

  /// What statement `s` may touch, whatever happens when it runs: its names,
  /// and the allocator, tables and caches its verb can reach.
  static func floor(_ s: Statement) -> Footprint {
    var f = Footprint()
    switch s.verb {
    case .allocPages:
      f.writes = [.allocator]
      f.reads = [.tables]
    case .freePages:
      f.writes = [.allocator]
      f.reads = [.tables, .caches]
    case .cpuWrite, .cpuFill:
      f.reads = [.allocator, .tables, .caches]
    case .dma, .atsTranslate:
      f.reads = [.tables]
      f.writes = [.caches]
    case .iommuMap, .iommuUnmap, .iommuUnmapFast, .iotlbSync, .flushIOTLBAll, .iovaToPhys, .dmaMap, .dmaUnmap,
      .dmaMapSG, .dmaUnmapSG, .dmaAlloc, .dmaFree, .dmaAllocPages, .dmaFreePages, .dmaSyncSingleForCPU,
      .dmaSyncSingleForDevice, .dmaSyncSGForCPU, .dmaSyncSGForDevice:
      f.writes = [.allocator, .tables, .caches]
    default:
      // The clock and its timers, resets, processes and their page tables,
      // kernel page tables, domains and attachments: not told apart.
      return .everything
    }
    // A family of indexed names (`rx[i]`, `rx[3]`) is one resource: the
    // template's names are not the elements an iteration binds or uses.
    if let b = s.binding { f.writes.insert(.name(NameIndex.base(of: b.name))) }
    _ = s.operation.mappingNames { ref in
      f.reads.insert(.name(NameIndex.base(of: ref.name)))
      return ref
    }
    return f
  }
}

/// Records the frames each statement of a task block touches, from the
/// machine's events (`RunOptions.observer`). Called on the running task's
/// thread; the scheduler runs one task at a time and hands over through
/// semaphores, so the plain fields are never touched by two threads at once.
final class FootprintRecorder: MachineObserver, PageAllocatorObserver, @unchecked Sendable {
  /// The statement whose step runs now (nil outside task blocks).
  var current: Int?
  /// The frames each statement touched so far, by statement index.
  private(set) var touched: [Int: Footprint] = [:]
  let pageShift: Int

  init(pageShift: Int) { self.pageShift = pageShift }

  private func note(_ body: (inout Footprint) -> Void) {
    guard let i = current else { return }
    body(&touched[i, default: Footprint()])
  }
  private func block(_ b: PageBlock) {
    let shift = UInt64(pageShift)
    note { $0.write(frames: b.head.rawValue << shift, length: b.pageCount << shift) }
  }

  func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    self.block(block)
  }
  func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    self.block(block)
  }
  func badFree(_ block: PageBlock, last: BlockRecord?, stack: [KernelFrame], context: CallContext) {
    self.block(block)
  }
  func wrongOrderFree(
    _ allocated: BlockRecord, order: Int, outcome: WrongOrderFree, stack: [KernelFrame], context: CallContext
  ) { note { $0.all = true } }
  func deviceAccessed(_ event: DeviceAccessEvent) {
    // A walk through a freed table page read that page (its next owner may write it).
    if case .staleWalk(let table, _) = event.verdict { note { $0.write(frames: table.rawValue, length: 1) } }
    guard let phys = event.phys else { return }
    note { $0.write(frames: phys.rawValue, length: UInt64(max(event.length, 1))) }
  }
  func cpuWrote(_ phys: PhysicalAddress, length: UInt64, context: CallContext) {
    note { $0.write(frames: phys.rawValue, length: length) }
  }
  func tablePageFreeing(_ block: PageBlock, domain: Domain, context: CallContext) { self.block(block) }
  func mapped(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {}
  func unmapped(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext) {}
  func invalidationIssued(_ command: InvalidationCommand, context: CallContext) {}
  func invalidationCompleted(_ command: InvalidationCommand, context: CallContext) {}
  func atcInvalidationTimedOut(_ command: InvalidationCommand, device: Device, context: CallContext) {}
  func dmaMapped(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress,
    context: CallContext
  ) {}
  func dmaUnmapping(_ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, context: CallContext) {
  }
  func mappingsLeft(
    _ domain: Domain, leaves: [RemovedLeaves], reason: LeakReason, device: Device?, freed: Bool, context: CallContext
  ) {}
  func kernelMessage(_ text: String, context: CallContext) {}
  func vfreeNonexistent(_ address: VirtualAddress, context: CallContext) {}
  func domainFreedAgain(_ domain: Domain, context: CallContext) {}
  func kernelWarning(_ warning: KernelWarning, context: CallContext) {}
  func dmaDebug(_ event: DMADebugEvent, context: CallContext) {}
  func slabEvent(_ event: SlabEvent, context: CallContext) {}
  func leavesReplaced(_ domain: Domain, leaves: [RemovedLeaves], context: CallContext) {}
}
