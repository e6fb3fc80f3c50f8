import KernelTypes
import MemoryModel
import Synchronization

/// A DMA mapping made through the DMA API, as dma-iommu remembers it.
package struct DMAMapping: Sendable, Hashable {
  package var dmaAddress: IOVA
  /// The IOVA allocation: granule aligned start and length.
  package var iova: IOVA
  package var length: UInt64
  /// What the driver asked for.
  package var size: UInt64
  package var phys: PhysicalAddress
  package var direction: DMADirection
  /// For `dma_alloc`: the pages the API allocated.
  package var coherentBlock: PageBlock?

  /// What dma-iommu's record of a live mapping costs: its dictionary slot
  /// (key and record) at the dictionary's lowest load.
  static let residentBytes = 224
}

/// One attachment of a device to a domain: its RID (PASID nil) or a PASID.
struct Attachment: Hashable {
  var device: ObjectIdentifier
  var pasid: UInt32?
  init(_ device: Device, _ pasid: UInt32?) {
    self.device = ObjectIdentifier(device)
    self.pasid = pasid
  }
}

/// An IOMMU domain: an I/O address space with its page table.
package final class Domain: Sendable, CustomStringConvertible {
  package let id: Int
  /// Who allocated the domain.
  package let allocatedBy: CallContext
  /// The name the fixture bound (or `dma:<device>` for a default domain).
  package let name: String
  package let type: DomainType
  package let unit: IOMMUUnit
  package let pgsizeBitmap: UInt64
  /// For an SVA domain: the process whose page tables it walks.
  package let process: Process?
  /// The machine that made this domain, held unretained (`Unmanaged`) and
  /// reached with `_withUnsafeGuaranteedRef`: every thread's map and unmap
  /// use it, and retaining the shared object would bounce its reference
  /// count's cache line between them.
  ///
  /// The invariant: whoever owns a `Machine` (the fixture runner's
  /// `Execution`, a bench worker, a test) keeps it alive as long as it keeps
  /// any of its `Domain`s, freed ones included: `free_domain` only takes a
  /// domain out of the machine's registry, and a freed `Domain` still reaches
  /// its machine to refuse later calls. Debug builds check it on every access.
  private let machineRef: Unmanaged<Machine>
  #if DEBUG
    /// The same machine, weakly: nil once it is gone, which the invariant forbids.
    private weak let machineCheck: Machine?
  #endif
  /// The owning machine, through a guaranteed reference.
  var machine: MachineAccess {
    #if DEBUG
      assert(machineCheck != nil, "domain \(name) used after its Machine was deallocated")
    #endif
    return MachineAccess(ref: machineRef)
  }

  struct State {
    var pageTable: IOPageTable?
    /// What `iommu_unmap_fast()` gathered and no `iotlb_sync` flushed yet.
    var pending = IOTLBGather()
    var iovas: IOVAAllocator
    var dmaMappings: [UInt64: DMAMapping] = [:]
    var fq = FlushQueue()
    /// Attachments: one per (device, PASID), the RID being PASID nil.
    var devices: [Attachment: (device: Device, pasid: UInt32?)] = [:]
    var isFreed = false
    /// Who freed the domain (`iommu_domain_free()`).
    var freedBy: CallContext?
  }
  let state: Mutex<State>

  init(
    id: Int, name: String, type: DomainType, unit: IOMMUUnit, machine: Machine, context: CallContext,
    process: Process? = nil
  ) throws(MachineError) {
    self.id = id
    self.process = process
    self.name = name
    self.type = type
    self.unit = unit
    self.machineRef = Unmanaged.passUnretained(machine)
    #if DEBUG
      self.machineCheck = machine
    #endif
    self.pgsizeBitmap = unit.pgsizeBitmap
    self.budget = machine.memory.budget
    self.allocatedBy = context
    var pt: IOPageTable?
    if type == .paging || type == .dma {
      pt = try IOPageTable(
        format: unit.format, memory: machine.memory, use: .ioPageTable, model: unit.model, context: context)
    }
    var iovas = IOVAAllocator(granuleShift: ByteSize.ffs(unit.pgsizeBitmap), budget: machine.memory.budget)
    if type == .dma {
      // iommu_dma_init_domain() -> iova_reserve_iommu_regions().
      let shift = UInt64(iovas.granuleShift)
      for r in unit.reservedIOVARegions { iovas.reserve(lo: r.lowerBound >> shift, hi: r.upperBound >> shift) }
    }
    self.state = Mutex(State(pageTable: pt, iovas: iovas))
  }

  /// What a domain costs besides its page table: the object, its state and
  /// its IOVA allocator (measured: 250,000 domains, release build). The
  /// machine charges it before `init`; `deinit` gives it back.
  static let residentBytes = 1536
  /// Where `residentBytes` was charged.
  private let budget: ResidentBudget

  /// Gives back the domain's charge and what its DMA state was charged.
  deinit {
    budget.release(Self.residentBytes, .domains)
    state.withLock { s in
      let iova = s.iovas.chargedBytes
      budget.release(iova.nodes, .iovaNodes)
      budget.release(iova.magazines, .iovaMagazines)
      budget.release(s.dmaMappings.count * DMAMapping.residentBytes, .dmaMappings)
      budget.release(s.fq.chargedBytes, .flushQueueEntries)
    }
  }

  package var description: String { name }
  /// The smallest page size: the granule the sanitizer counts in.
  package var granule: UInt64 { 1 << UInt64(ByteSize.ffs(pgsizeBitmap)) }
  package var hasPageTable: Bool { type == .paging || type == .dma }
  package var isLazy: Bool { type == .dma && !machine.policy.strict }

  // MARK: - Map

  /// Maps `[iova, iova+size)` to `[phys, phys+size)`.
  /// The corresponding Linux function is `iommu_map()`.
  package func map(
    iova: IOVA, phys: PhysicalAddress, size: UInt64, readable: Bool = true, writable: Bool = true, context: CallContext
  ) throws(MachineError) {
    guard hasPageTable else { throw MachineError(.ENODEV, "a \(type.rawValue) domain has no page table") }
    let minPage = granule
    guard size != 0, (iova.rawValue | phys.rawValue | size) & (minPage - 1) == 0 else {
      throw MachineError(
        .EINVAL,
        "unaligned: iova \(iova.rawValue.hexAlt) pa \(phys.rawValue.hexAlt) size \(size.hexAlt) min_pagesz \(minPage.hexAlt)"
      )
    }
    guard let iovaEnd = iova.adding(size), phys.adding(size) != nil else {
      throw MachineError(.EINVAL, "iova+size or phys+size wraps around")
    }
    guard iovaEnd.rawValue <= unit.format.inputLimit else {
      throw MachineError(
        .ERANGE, "iova \(iova) + \(ByteSize.describe(size)) is beyond the \(unit.format.inputBits)-bit input range")
    }
    guard phys.rawValue &+ size <= 1 << 52 else {
      throw MachineError(.ERANGE, "phys is beyond the 52-bit output range")
    }
    let epoch = machine.currentEpoch
    var mapped: UInt64 = 0
    var failure: MachineError?
    var unlinked = UnmapGather()
    state.withLock { s in
      guard let pt = s.pageTable, !s.isFreed else {
        failure = MachineError(.ENODEV, "domain \(name) was freed")
        return
      }
      for run in LeafRuns(bitmap: pgsizeBitmap, iova: iova.rawValue, phys: phys.rawValue, size: size) {
        let (n, err) = pt.mapRun(
          iova: run.iova, phys: run.phys, leafShift: run.leafShift, count: run.count,
          readable: readable, writable: writable, epoch: epoch, context: context, unlinked: &unlinked)
        mapped += n * run.pgsize
        if let err {
          failure = err
          return
        }
      }
      if mapped < size { failure = MachineError(.EINVAL, "no page size fits") }
    }
    if !unlinked.freelist.isEmpty {
      issueRange(unlinked.start...unlinked.end, leafOnly: false, granule: granule, context: context)
      machine.issueSync(unit, context: context)
      freeTables(unlinked.freelist, context: context)
      if !unlinked.removed.isEmpty {
        machine.observer?.leavesReplaced(self, leaves: unlinked.removed, context: context)
      }
      #if IOMMU_DEBUG_PAGEALLOC
        // Leaves io-pgtable-arm dropped under the block: no kernel hook sees
        // them (unmapped == size is a no-op for kernel accounting); exact
        // accounting releases them.
        if !unlinked.removed.isEmpty, let hooks = machine.debugHooks {
          let n = unlinked.removed.reduce(UInt64(0)) { $0 &+ $1.size }
          Self.debugUnmapEnd(hooks, self, IOVA(unlinked.start), n, n, unlinked.removed, context)
        }
      #endif
    }
    if let failure {
      // As since the CVE-2026-64152 fix: record the partial map, then undo it.
      // (7.0.0's hooks are the kernel accounting's business: Sanitizer+DebugPageAlloc.)
      if mapped > 0 {
        debugMap(iova: iova, phys: phys, size: mapped, context: context)
        _ = unmap(iova: iova, size: mapped, context: context)
      }
      // 7.0.0's `iommu_map_nosync()` for classic ops (io-pgtable-arm here):
      // `if (!ret) return ret;`, a typo fixed by 6fc7e8a3b811 ("iommu: Fix
      // loss of errno on map failure for classic ops"): the failure goes on
      // to trace_map() and iommu_debug_map() of the whole range and returns 0.
      if unit.model == .smmuv3 && !machine.policy.kernel.has(.debugPageallocHooks) {
        #if IOMMU_DEBUG_PAGEALLOC
          machine.debugHooks?._withUnsafeGuaranteedRef {
            $0.hooks.debugMapAfterLostError(self, iova: iova, phys: phys, size: size, context: context)
          }
        #endif
        machine.observer?.mapped(self, iova: iova, phys: phys, size: size, context: context)
        return
      }
      throw failure
    }
    machine.memory.stepObserver?.kernelStep(.mapPTEsWritten)
    debugMap(iova: iova, phys: phys, size: size, context: context)
    machine.observer?.mapped(self, iova: iova, phys: phys, size: size, context: context)
  }

  @inline(__always) private func debugMap(iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    #if IOMMU_DEBUG_PAGEALLOC
      if let hooks = machine.debugHooks { Self.debugMap(hooks, self, iova, phys, size, context) }
    #endif
  }

  // MARK: - Unmap

  /// Unmaps and invalidates synchronously. Returns the bytes unmapped.
  /// The corresponding Linux function is `iommu_unmap()`.
  package func unmap(iova: IOVA, size: UInt64, context: CallContext) -> UInt64 {
    var gather = IOTLBGather()
    let n = unmapGathering(iova: iova, size: size, into: &gather, context: context)
    iotlbSync(gather, context: context)
    return n
  }

  /// Unmaps and leaves the IOTLB flush to a later `iotlbSync`.
  /// The corresponding Linux function is `iommu_unmap_fast()`.
  package func unmapFast(iova: IOVA, size: UInt64, context: CallContext) -> UInt64 {
    var gather = state.withLock { s -> IOTLBGather in
      defer { s.pending = IOTLBGather() }
      return s.pending
    }
    let n = unmapGathering(iova: iova, size: size, into: &gather, context: context)
    state.withLock { s in
      // Another unmap_fast may have gathered meanwhile: merge, as one gather.
      s.pending.addRange(iova: gather.start, size: gather.isEmpty ? 0 : gather.end &- gather.start &+ 1)
      s.pending.freelist += gather.freelist
      if s.pending.pgsize == 0 { s.pending.pgsize = gather.pgsize }
    }
    return n
  }

  /// Flushes what `unmapFast` gathered. The corresponding Linux function is `iommu_iotlb_sync()`.
  package func iotlbSync(context: CallContext) {
    let g = state.withLock { s -> IOTLBGather in
      let g = s.pending
      s.pending = IOTLBGather()
      return g
    }
    iotlbSync(g, context: context)
  }

  /// Unmaps into a fresh gather (the DMA layer's path).
  func unmapGathering(iova: IOVA, size: UInt64, context: CallContext) -> (UInt64, IOTLBGather) {
    var gather = IOTLBGather(queued: isLazy)
    let n = unmapGathering(iova: iova, size: size, into: &gather, context: context)
    return (n, gather)
  }

  /// The corresponding Linux function is `__iommu_unmap()`.
  func unmapGathering(iova: IOVA, size: UInt64, into iotlb: inout IOTLBGather, context: CallContext) -> UInt64 {
    var gather = UnmapGather()
    guard hasPageTable else { return 0 }
    let minPage = granule
    // Since b948a8722848 `iommu_debug_unmap_begin()` runs before the
    // alignment check, and an unaligned unmap ends with unmapped = 0.
    let beginFirst = machine.policy.kernel.has(.debugPageallocHooks)
    #if IOMMU_DEBUG_PAGEALLOC
      if beginFirst, let hooks = machine.debugHooks { Self.debugUnmapBegin(hooks, self, iova, size, context) }
    #endif
    guard size != 0, (iova.rawValue | size) & (minPage - 1) == 0 else {
      machine.observer?.kernelMessage(
        "iommu: unaligned: iova \(iova.rawValue.hexAlt) size \(size.hexAlt) min_pagesz \(minPage.hexAlt)",
        context: context)
      #if IOMMU_DEBUG_PAGEALLOC
        if beginFirst, let hooks = machine.debugHooks { Self.debugUnmapEnd(hooks, self, iova, size, 0, [], context) }
      #endif
      return 0
    }
    #if IOMMU_DEBUG_PAGEALLOC
      if !beginFirst, let hooks = machine.debugHooks { Self.debugUnmapBegin(hooks, self, iova, size, context) }
    #endif
    machine.memory.stepObserver?.kernelStep(.unmapBegun)
    var unmapped: UInt64 = 0
    var refused = false
    if let end = iova.adding(size), end.rawValue <= unit.format.inputLimit {
      let algorithm = unit.unmapAlgorithm
      state.withLock { s in
        guard let pt = s.pageTable, !s.isFreed else { return }
        var runs = LeafRuns(bitmap: pgsizeBitmap, iova: iova.rawValue, phys: iova.rawValue, size: size)
        while let run = runs.next() {
          let (n, r) = pt.unmapPages(
            iova: run.iova, pgShift: run.leafShift, count: run.count, algorithm: algorithm, gather: &gather)
          if n == 0 {
            refused = r
            break
          }
          unmapped += n
          runs.offset = unmapped
        }
      }
    }
    if refused {
      machine.warnOnce(.partialLargeUnmap(self, iova: iova, size: size), context: context)
    }
    gatherInvalidation(gather, iova: iova.rawValue, size: size, unmapped: unmapped, into: &iotlb, context: context)
    machine.memory.stepObserver?.kernelStep(.unmapPTEsCleared)
    #if IOMMU_DEBUG_PAGEALLOC
      if let hooks = machine.debugHooks {
        Self.debugUnmapEnd(hooks, self, iova, size, unmapped, gather.removed, context)
      }
    #endif
    machine.observer?.unmapped(self, iova: iova, size: size, unmapped: unmapped, context: context)
    machine.memory.stepObserver?.kernelStep(.unmapEnded)
    return unmapped
  }

  /// Adds what one unmap removed to the IOTLB gather, as the domain's page
  /// table code does, syncing first where the kernel does.
  ///
  /// vtd and amd are iommupt domains (`PT_FEAT_FLUSH_RANGE`): the unmapped
  /// range is added once (`gather_range_pages()`; before ee6e69d03255,
  /// CVE-2026-31735, the requested length instead). smmuv3 is
  /// io-pgtable-arm: a table unlinked whole has its walks flushed and is
  /// freed at once (`io_pgtable_tlb_flush_walk()` in `__arm_lpae_unmap()`),
  /// and each leaf removed is added by `iommu_iotlb_gather_add_page()`
  /// unless the gather is queued (lazy mode).
  private func gatherInvalidation(
    _ walk: UnmapGather, iova: UInt64, size: UInt64, unmapped: UInt64, into iotlb: inout IOTLBGather,
    context: CallContext
  ) {
    let kernel = machine.policy.kernel
    guard unit.gathers else {
      // The driver adds nothing; since 7e0548525abd `__iommu_unmap()` adds
      // what was unmapped on its behalf.
      if kernel.has(.emptyGatherSync), iotlb.isEmpty, unmapped > 0 { iotlb.addRange(iova: iova, size: unmapped) }
      iotlb.freelist += walk.freelist
      return
    }
    switch unit.model {
    case .vtd, .amd:
      // `gather_range_pages()`: the range really unmapped since
      // ee6e69d03255, the range requested before.
      let range: (UInt64, UInt64)? =
        !kernel.has(.shortGather)
        ? (unmapped > 0 ? (iova, size) : nil)
        : (walk.isEmpty ? nil : (walk.start, walk.end &- walk.start &+ 1))
      if let (start, len) = range {
        if unit.npcache {
          // PT_FEAT_FLUSH_RANGE_NO_GAPS: sync a disjoint gather first; the
          // range itself is added only since b48ca920613858b4.
          if iotlb.isDisjoint(iova: start, size: len) {
            iotlbSync(iotlb, context: context)
            iotlb = IOTLBGather(queued: iotlb.queued)
          }
          if kernel.has(.gatherNoGaps) { iotlb.addRange(iova: start, size: len) }
        } else {
          iotlb.addRange(iova: start, size: len)
        }
      }
      iotlb.freelist += walk.freelist
    case .smmuv3:
      for r in walk.tableRanges {
        // io-pgtable-arm's tlb_flush_walk: the nominal last-level granule.
        issueRange(r, leafOnly: false, granule: granule, context: context)
        // arm_smmu_tlb_inv_range_domain() sends CMD_ATC_INV too.
        invalidateATCs(range: r, context: context)
        machine.issueSync(unit, context: context)
      }
      freeTables(walk.freelist, context: context)
      guard !iotlb.queued else { return }
      for leaf in walk.removed where !walk.tableRanges.contains(where: { $0.contains(leaf.iova.rawValue) }) {
        var a = leaf.iova.rawValue
        let pg = UInt64(1) << UInt64(leaf.leafShift)
        while a < leaf.iova.rawValue &+ leaf.size {
          if iotlb.needsSyncBeforeAdding(iova: a, size: pg) {
            iotlbSync(iotlb, context: context)
            iotlb = IOTLBGather()
          }
          iotlb.pgsize = pg
          iotlb.addRange(iova: a, size: pg)
          a &+= pg
        }
      }
    }
  }

  /// Sends the driver's range invalidation: one command, or SMMUv3's
  /// TG/TTL/NUM/SCALE commands (`IOMMUUnit.rangeCommands`).
  func issueRange(_ range: ClosedRange<UInt64>, leafOnly: Bool, granule: UInt64, context: CallContext) {
    for c in unit.rangeCommands(
      domainID: id, range: range, leafOnly: leafOnly, granule: granule, pgsizeBitmap: pgsizeBitmap)
    {
      machine.issue(c, on: unit, context: context)
    }
  }

  /// Invalidates what an unmap gathered, then frees its table pages. An
  /// empty gather reaches no driver since 90c5def10bea; before it, AMD's
  /// `build_inv_address()` made an empty gather (size 2 at `ULONG_MAX`) a
  /// flush of everything, and SMMUv3 (`pgsize` 0) and VT-d sent nothing
  /// useful (VT-d's UBSAN splat is not modelled).
  /// The corresponding Linux function is `iommu_iotlb_sync()` and the
  /// driver's `iotlb_sync` (`intel_iommu_tlb_sync()`, `amd_iommu_iotlb_sync()`,
  /// `arm_smmu_iotlb_sync()`).
  func iotlbSync(_ gather: IOTLBGather, context: CallContext) {
    let driverCalled = !gather.isEmpty || !machine.policy.kernel.has(.emptyGatherSkip)
    if driverCalled && (!unit.gathers || (gather.isEmpty && unit.model == .amd)) {
      // A driver that flushes its whole domain in iotlb_sync.
      machine.issue(unit.domainCommand(domainID: id), on: unit, context: context)
      invalidateATCs(range: nil, context: context)
      machine.issueSync(unit, context: context)
    } else if !gather.isEmpty {
      let plan = unit.syncPlan(for: gather)
      if let range = plan.range {
        issueRange(range, leafOnly: plan.leafOnly, granule: gather.pgsize, context: context)
      } else {
        machine.issue(unit.domainCommand(domainID: id), on: unit, context: context)
      }
      invalidateATCs(range: plan.range, context: context)
      machine.issueSync(unit, context: context)
    }
    freeTables(gather.freelist, context: context)
  }

  /// Invalidates everything this domain caches.
  /// The corresponding Linux function is `iommu_flush_iotlb_all()`.
  package func flushIOTLBAll(context: CallContext) {
    machine.issue(unit.domainCommand(domainID: id), on: unit, context: context)
    invalidateATCs(range: nil, context: context)
    machine.issueSync(unit, context: context)
  }

  func invalidateATCs(range: ClosedRange<UInt64>?, context: CallContext) {
    let devices = state.withLock { $0.devices.values.filter { $0.device.ats } }
    for (dev, pasid) in devices.sorted(by: { $0.device.name < $1.device.name }) {
      machine.ref._withUnsafeGuaranteedRef { m in
        dev.invalidateATC(unit.atcCommand(device: dev.name, pasid: pasid, range: range), machine: m, context: context)
      }
    }
  }

  func freeTables(_ blocks: [PageBlock], context: CallContext) {
    for b in blocks {
      machine.observer?.tablePageFreeing(b, domain: self, context: context)
      try? machine.memory.freePages(
        b, context: context, stack: context.chain("free_pages_prepare", "__free_frozen_pages", "iommu_put_pages_list"))
    }
  }

  // MARK: - Lookup

  /// The corresponding Linux function is `iommu_iova_to_phys()`.
  package func iovaToPhys(_ iova: IOVA) -> PhysicalAddress {
    switch type {
    case .identity: return PhysicalAddress(iova.rawValue)
    case .blocked, .sva: return .zero
    case .paging, .dma: return state.withLock { $0.pageTable?.lookup(iova.rawValue)?.phys } ?? .zero
    }
  }

  /// The leaf that translates `iova` in the page table: its output address
  /// for `iova` and its size; nil where nothing is mapped or the domain has
  /// no page table.
  package func leaf(at iova: IOVA) -> (phys: PhysicalAddress, size: UInt64)? {
    guard hasPageTable, let t = state.withLock({ $0.pageTable?.lookup(iova.rawValue) }) else { return nil }
    return (t.phys, 1 << UInt64(t.leafShift))
  }

  /// Leaves still mapped, as runs.
  package func mappedLeaves() -> [RemovedLeaves] { state.withLock { $0.pageTable?.mappedLeaves() ?? [] } }

  /// The devices (and PASIDs) attached to this domain.
  /// Records an attachment.
  func link(_ device: Device, pasid: UInt32?) {
    state.withLock { $0.devices[Attachment(device, pasid)] = (device, pasid) }
  }

  /// Removes one attachment; returns how many remain.
  @discardableResult
  func unlink(_ device: Device, pasid: UInt32?) -> Int {
    state.withLock { s in
      s.devices[Attachment(device, pasid)] = nil
      return s.devices.count
    }
  }

  package var attachedDevices: [(device: Device, pasid: UInt32?)] {
    state.withLock { Array($0.devices.values) }.sorted {
      ($0.device.name, $0.pasid ?? 0) < ($1.device.name, $1.pasid ?? 0)
    }
  }

  package var isFreed: Bool { state.withLock { $0.isFreed } }
  /// Who freed the domain, once it is freed.
  package var freedBy: CallContext? { state.withLock { $0.freedBy } }

  /// The depth of this domain's table page at `phys`, if it is one.
  func tablePageDepth(at phys: PhysicalAddress) -> Int? {
    state.withLock { $0.pageTable?.tables[phys.rawValue]?.depth }
  }

  /// Whether an IOVA of this domain sits in the lazy flush-queue window.
  package func isPendingLazyFlush(_ iova: UInt64) -> Bool { state.withLock { $0.fq.isPending(iova) } }

  // The hook calls live out of line, so that with the static key off the
  // map and unmap paths carry one load and one branch, as the kernel's
  // `static_branch_unlikely()` does.
  #if IOMMU_DEBUG_PAGEALLOC
    @inline(never)
    static func debugMap(
      _ h: Unmanaged<DebugHookSlot>, _ d: Domain, _ iova: IOVA, _ phys: PhysicalAddress, _ size: UInt64,
      _ ctx: CallContext
    ) {
      h._withUnsafeGuaranteedRef { $0.hooks.debugMap(d, iova: iova, phys: phys, size: size, context: ctx) }
    }

    @inline(never)
    static func debugUnmapBegin(
      _ h: Unmanaged<DebugHookSlot>, _ d: Domain, _ iova: IOVA, _ size: UInt64, _ ctx: CallContext
    ) {
      h._withUnsafeGuaranteedRef { $0.hooks.debugUnmapBegin(d, iova: iova, size: size, context: ctx) }
    }

    @inline(never)
    static func debugUnmapEnd(
      _ h: Unmanaged<DebugHookSlot>, _ d: Domain, _ iova: IOVA, _ size: UInt64, _ unmapped: UInt64,
      _ removed: [RemovedLeaves], _ ctx: CallContext
    ) {
      h._withUnsafeGuaranteedRef {
        $0.hooks.debugUnmapEnd(d, iova: iova, size: size, unmapped: unmapped, removed: removed, context: ctx)
      }
    }
  #endif
}

/// A domain's calls into its machine, without reference counting.
struct MachineAccess {
  let ref: Unmanaged<Machine>
  var memory: PhysicalMemory { ref.takeUnretainedValue().memory }
  var policy: MachinePolicy { ref._withUnsafeGuaranteedRef { $0.policy } }
  var observer: (any MachineObserver)? { ref._withUnsafeGuaranteedRef { $0.observer } }
  #if IOMMU_DEBUG_PAGEALLOC
    var debugHooks: Unmanaged<DebugHookSlot>? { ref._withUnsafeGuaranteedRef { $0.debugHookRef } }
  #endif
  var currentEpoch: UInt64 { ref._withUnsafeGuaranteedRef { $0.memory.currentEpoch } }
  func issue(_ cmd: InvalidationCommand, on unit: IOMMUUnit, context: CallContext) {
    ref._withUnsafeGuaranteedRef { $0.issue(cmd, on: unit, context: context) }
  }
  func issueSync(_ unit: IOMMUUnit, context: CallContext) {
    ref._withUnsafeGuaranteedRef { $0.issueSync(unit, context: context) }
  }
  func warnOnce(_ warning: KernelWarning, context: CallContext) {
    ref._withUnsafeGuaranteedRef { $0.warnOnce(warning, context: context) }
  }
}
