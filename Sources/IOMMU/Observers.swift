import KernelTypes
import MemoryModel

/// The IOMMU_DEBUG_PAGEALLOC hooks of `drivers/iommu/iommu.c`: called around
/// every map and unmap, exactly where the kernel calls
/// `iommu_debug_map()`, `iommu_debug_unmap_begin()` and
/// `iommu_debug_unmap_end()`. With the `DebugPageAlloc` trait off the calls
/// compile away.
package protocol IOMMUDebugHooks: AnyObject, Sendable {
  /// After a successful map (or the mapped part of a failed one).
  func debugMap(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext)
  /// 7.0.0's classic ops (before 6fc7e8a3b811): a failed map's error is
  /// lost (`if (!ret) return ret;`) and `iommu_debug_map()` runs over the
  /// whole range, after the driver undid the part it mapped.
  func debugMapAfterLostError(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext)
  /// Before the driver unmaps: the table is still intact.
  func debugUnmapBegin(_ domain: Domain, iova: IOVA, size: UInt64, context: CallContext)
  /// After the driver unmapped `unmapped` bytes; `removed` is what the page
  /// table really lost (the kernel cannot see this; exact accounting uses it).
  func debugUnmapEnd(
    _ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, removed: [RemovedLeaves], context: CallContext)
}

/// An IOTLB, walk-cache or ATC invalidation as the model's driver sends it.
package struct InvalidationCommand: Sendable, Hashable {
  package enum Target: Sendable, Hashable {
    /// The unit's IOTLB (and walk caches unless `leafOnly`).
    case iommu(domainID: Int?, pasid: UInt32??, leafOnly: Bool)
    /// A device's ATC: one PASID (`.some(nil)` is the RID), or every tag (nil).
    case atc(device: String, pasid: UInt32??)
  }
  /// The hardware command name, for `--stats` (`IOTLB PSI IH=1`, `TLBI_NH_VA Leaf=1`, ...).
  package var name: String
  package var unit: String
  package var target: Target
  /// Inclusive IOVA range; nil for everything.
  package var range: ClosedRange<UInt64>?
}

/// A device access, translated, with the ground truth's verdict.
package struct DeviceAccessEvent: Sendable {
  package enum Verdict: Sendable, Hashable {
    case ok
    /// The access landed on a page that is free, or was allocated again
    /// after the translation it used was made. `freedAfterTranslation` is
    /// false when the page was already free when the translation was made
    /// (a mapping that reached past its allocation): no free came after it.
    case useAfterFree(
      pfn: PFN, pageIsFree: Bool, translationEpoch: UInt64, pageGeneration: UInt64?, freedAfterTranslation: Bool)
    /// The translation walked through a page-table page that was freed.
    case staleWalk(table: PhysicalAddress, depth: Int)
  }
  package var device: Device
  package var iova: IOVA
  package var pasid: UInt32?
  /// The request's privilege: a supervisor request faults (Linux has no kernel SVA).
  package var privilege: Privilege
  package var isWrite: Bool
  package var length: Int
  /// nil when the access faulted.
  package var phys: PhysicalAddress?
  package var fault: String?
  /// Where the translation came from: `atc`, `iotlb`, `walk-cache`, `walk`.
  package var path: String
  package var verdict: Verdict
  package var domain: Domain?
  package var context: CallContext
}

/// Trace-point-like hooks at the model's chokepoints. The sanitizer's
/// emulator checks and the ground truth's reports attach here.
package protocol MachineObserver: AnyObject, Sendable {
  /// `trace_map()`: the page table was updated.
  func mapped(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext)
  /// `trace_unmap()`.
  func unmapped(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext)
  /// An I/O page-table page is about to go back to the allocator.
  func tablePageFreeing(_ block: PageBlock, domain: Domain, context: CallContext)
  func invalidationIssued(_ command: InvalidationCommand, context: CallContext)
  func invalidationCompleted(_ command: InvalidationCommand, context: CallContext)
  /// An ATC invalidation the device did not complete.
  func atcInvalidationTimedOut(_ command: InvalidationCommand, device: Device, context: CallContext)
  func deviceAccessed(_ event: DeviceAccessEvent)
  /// `debug_dma_map_phys()` or `debug_dma_alloc_coherent()`: `context` comes
  /// through the API's entry (`dma_map_phys`, `dma_map_page_attrs`; or `dma_alloc_attrs`).
  func dmaMapped(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress,
    context: CallContext)
  /// `debug_dma_unmap_page()`: before the unmap, with what the driver passed.
  func dmaUnmapping(_ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, context: CallContext)
  /// A domain is being freed (or its last device, `device`, detached) with `leaves` still mapped.
  func mappingsLeft(
    _ domain: Domain, leaves: [RemovedLeaves], reason: LeakReason, device: Device?, freed: Bool, context: CallContext)
  /// A kernel log line the model prints (`pr_err`, `WARN_ONCE` text).
  func kernelMessage(_ text: String, context: CallContext)
  /// `vfree()` of an address with no vmalloc area: the kernel WARNs and returns.
  func vfreeNonexistent(_ address: VirtualAddress, context: CallContext)
  /// `iommu_domain_free()` of a domain that was freed already: a use-after-free
  /// of the domain's memory in the kernel. The model does nothing more.
  func domainFreedAgain(_ domain: Domain, context: CallContext)
  /// A `WARN` the kernel fires in code the model follows (a `WARN_ONCE()`
  /// only the first time).
  func kernelWarning(_ warning: KernelWarning, context: CallContext)
  /// DMA-API debug's sg, sync and `dma_alloc_pages()` hooks.
  func dmaDebug(_ event: DMADebugEvent, context: CallContext)
  /// `kmalloc()` and `kfree()` of objects (KASAN's and slab_debug's hooks).
  func slabEvent(_ event: SlabEvent, context: CallContext)
  /// The CPU wrote `[phys, phys + length)` (`cpu_write`, `cpu_fill`).
  func cpuWrote(_ phys: PhysicalAddress, length: UInt64, context: CallContext)
  /// io-pgtable-arm dropped `leaves` under a block it mapped over their
  /// table (`arm_lpae_init_pte()`): no unmap, no trace event.
  func leavesReplaced(_ domain: Domain, leaves: [RemovedLeaves], context: CallContext)
}

extension MachineObserver {
  package func dmaDebug(_ event: DMADebugEvent, context: CallContext) {}
  package func slabEvent(_ event: SlabEvent, context: CallContext) {}
  package func cpuWrote(_ phys: PhysicalAddress, length: UInt64, context: CallContext) {}
  package func vfreeNonexistent(_ address: VirtualAddress, context: CallContext) {}
  package func domainFreedAgain(_ domain: Domain, context: CallContext) {}
  package func kernelWarning(_ warning: KernelWarning, context: CallContext) {}
  package func leavesReplaced(_ domain: Domain, leaves: [RemovedLeaves], context: CallContext) {}
}

/// A kernel `WARN` on a path the model follows.
package enum KernelWarning: Sendable {
  /// `WARN_ONCE(true, "Unmap of a partial large IOPTE is not allowed")` in
  /// `__arm_lpae_unmap()`: an unmap cut through a block mapping; nothing was unmapped.
  case partialLargeUnmap(Domain, iova: IOVA, size: UInt64)
  /// `WARN_ON(group->resetting_domain)` in `pci_dev_reset_iommu_prepare()`:
  /// the device, or `holder` of its group, is already between reset_prepare
  /// and reset_done; EBUSY.
  case resetPrepareReentry(Device, holder: Device)

  /// The WARN's identity, for `WARN_ONCE()`.
  package var site: String {
    switch self {
    case .partialLargeUnmap: "__arm_lpae_unmap"
    case .resetPrepareReentry: "pci_dev_reset_iommu_prepare"
    }
  }
}

/// Why a domain's leftover mappings were noticed.
package enum LeakReason: String, Sendable {
  case domainFreed = "domain freed"
  case lastDeviceDetached = "last device detached"
  case processExited = "process exited"
}

/// Forwards every `MachineObserver` and `PageAllocatorObserver` hook to each
/// of several observers in turn, so a recorder can watch the machine beside
/// the sanitizer. `Machine.addObserver(_:)` installs one only for a second
/// observer: with one, its slot holds that observer and a hook call costs
/// what it did. (The IOMMU_DEBUG_PAGEALLOC hooks keep their single slot.)
package final class ObserverFanOut: MachineObserver, PageAllocatorObserver {
  package let machineObservers: [any MachineObserver]
  package let pageObservers: [any PageAllocatorObserver]

  package init(machineObservers: [any MachineObserver], pageObservers: [any PageAllocatorObserver]) {
    self.machineObservers = machineObservers
    self.pageObservers = pageObservers
  }

  package func mapped(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    for o in machineObservers { o.mapped(domain, iova: iova, phys: phys, size: size, context: context) }
  }
  package func unmapped(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext) {
    for o in machineObservers { o.unmapped(domain, iova: iova, size: size, unmapped: unmapped, context: context) }
  }
  package func tablePageFreeing(_ block: PageBlock, domain: Domain, context: CallContext) {
    for o in machineObservers { o.tablePageFreeing(block, domain: domain, context: context) }
  }
  package func invalidationIssued(_ command: InvalidationCommand, context: CallContext) {
    for o in machineObservers { o.invalidationIssued(command, context: context) }
  }
  package func invalidationCompleted(_ command: InvalidationCommand, context: CallContext) {
    for o in machineObservers { o.invalidationCompleted(command, context: context) }
  }
  package func atcInvalidationTimedOut(_ command: InvalidationCommand, device: Device, context: CallContext) {
    for o in machineObservers { o.atcInvalidationTimedOut(command, device: device, context: context) }
  }
  package func deviceAccessed(_ event: DeviceAccessEvent) {
    for o in machineObservers { o.deviceAccessed(event) }
  }
  package func dmaMapped(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress,
    context: CallContext
  ) {
    for o in machineObservers {
      o.dmaMapped(device, dmaAddress: dmaAddress, size: size, direction: direction, phys: phys, context: context)
    }
  }
  package func dmaDebug(_ event: DMADebugEvent, context: CallContext) {
    for o in machineObservers { o.dmaDebug(event, context: context) }
  }
  package func slabEvent(_ event: SlabEvent, context: CallContext) {
    for o in machineObservers { o.slabEvent(event, context: context) }
  }
  package func cpuWrote(_ phys: PhysicalAddress, length: UInt64, context: CallContext) {
    for o in machineObservers { o.cpuWrote(phys, length: length, context: context) }
  }
  package func dmaUnmapping(
    _ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, context: CallContext
  ) {
    for o in machineObservers {
      o.dmaUnmapping(device, dmaAddress: dmaAddress, size: size, direction: direction, context: context)
    }
  }
  package func mappingsLeft(
    _ domain: Domain, leaves: [RemovedLeaves], reason: LeakReason, device: Device?, freed: Bool, context: CallContext
  ) {
    for o in machineObservers {
      o.mappingsLeft(domain, leaves: leaves, reason: reason, device: device, freed: freed, context: context)
    }
  }
  package func kernelMessage(_ text: String, context: CallContext) {
    for o in machineObservers { o.kernelMessage(text, context: context) }
  }
  package func vfreeNonexistent(_ address: VirtualAddress, context: CallContext) {
    for o in machineObservers { o.vfreeNonexistent(address, context: context) }
  }
  package func kernelWarning(_ warning: KernelWarning, context: CallContext) {
    for o in machineObservers { o.kernelWarning(warning, context: context) }
  }
  package func domainFreedAgain(_ domain: Domain, context: CallContext) {
    for o in machineObservers { o.domainFreedAgain(domain, context: context) }
  }
  package func leavesReplaced(_ domain: Domain, leaves: [RemovedLeaves], context: CallContext) {
    for o in machineObservers { o.leavesReplaced(domain, leaves: leaves, context: context) }
  }
  package func badFree(_ block: PageBlock, last: BlockRecord?, stack: [KernelFrame], context: CallContext) {
    for o in pageObservers { o.badFree(block, last: last, stack: stack, context: context) }
  }
  package func wrongOrderFree(
    _ allocated: BlockRecord, order: Int, outcome: WrongOrderFree, stack: [KernelFrame], context: CallContext
  ) {
    for o in pageObservers {
      o.wrongOrderFree(allocated, order: order, outcome: outcome, stack: stack, context: context)
    }
  }
  package func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    for o in pageObservers { o.postAllocHook(block, use: use, stack: stack, context: context) }
  }
  package func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    for o in pageObservers { o.freePagesPrepare(block, use: use, stack: stack, context: context) }
  }
}

extension Machine {
  /// Attaches `extra` to the trace-point and page-allocator hooks, after any
  /// observer already there (the sanitizer): alone in a slot it takes the
  /// slot, beside another the slot gets an `ObserverFanOut` of both. Call it
  /// before the first operation, as for `observer`.
  package func addObserver(_ extra: any MachineObserver & PageAllocatorObserver) {
    let machineObservers = (observer.map(Self.flattened) ?? []) + [extra]
    let pageObservers = (memory.observer.map(Self.flattened) ?? []) + [extra]
    let fanOut = ObserverFanOut(machineObservers: machineObservers, pageObservers: pageObservers)
    observer = machineObservers.count == 1 ? extra : fanOut
    memory.observer = pageObservers.count == 1 ? extra : fanOut
  }

  private static func flattened(_ o: any MachineObserver) -> [any MachineObserver] {
    (o as? ObserverFanOut)?.machineObservers ?? [o]
  }

  private static func flattened(_ o: any PageAllocatorObserver) -> [any PageAllocatorObserver] {
    (o as? ObserverFanOut)?.pageObservers ?? [o]
  }
}
