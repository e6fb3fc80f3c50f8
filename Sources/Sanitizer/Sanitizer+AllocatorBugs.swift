import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// Bugs the kernel's allocators catch themselves (CONFIG_DEBUG_VM, a WARN in
/// mm/vmalloc.c, KASAN), and iommusan's check of a DMA map's range against
/// the allocation it came from.
extension Sanitizer {
  /// A free of a block that is not allocated. With CONFIG_DEBUG_VM the
  /// kernel's `__free_pages()` hits `put_page_testzero()`'s `VM_BUG_ON_PAGE()`
  /// on the page's zero refcount (a free page, one never allocated, or a tail
  /// page of a live block); when another owner's block starts at the page
  /// now, its refcount is 1 and the kernel would free it silently:
  /// iommusan's own WARN.
  /// The corresponding Linux function is `put_page_testzero()`.
  func reportBadFree(_ block: PageBlock, last: BlockRecord?, stack: [KernelFrame], context: CallContext) {
    let pfn = block.head
    if let last, last.isAllocated, last.block.head == pfn {
      let finding = Finding(
        kind: .pageDoubleFree,
        headline:
          "iommusan: free_pages of pfn \(pfn) order \(block.order), which was freed already and now belongs to "
          + "another owner (order \(last.block.order), \(last.use.rawValue)): a kernel would free it under them",
        warningSite: WarningSite.Emulator.badFree,
        frames: ["iommusan_check_bad_free"], pfn: pfn, phys: phys(pfn),
        details: [Detail("order", .int(Int64(block.order))), Detail("owner", .string(last.use.rawValue))],
        dumpsPageOwner: true)
      report(finding, stack: stack, context: context)
      return
    }
    // A tail page of a live block has refcount 0 too (`free_pages pfn=`).
    let page: Finding.FreedPage =
      switch last {
      case nil: .neverAllocated
      case .some(let r) where r.isAllocated: .tailOfAllocation
      case .some: .freedAlready
      }
    let finding = Finding.pageRefcountUnderflow(pfn: pfn, phys: phys(pfn), order: block.order, page: page)
    report(finding, stack: stack, context: context)
  }

  /// `__free_pages()` with another order than the block was allocated with:
  /// the kernel's `bad_page()` for each page `free_pages_prepare()` rejects,
  /// else iommusan's own WARN (the kernel frees what it is given, silently).
  /// The corresponding Linux function is `free_pages_prepare()`.
  func reportWrongOrderFree(
    _ allocated: BlockRecord, order: Int, outcome: WrongOrderFree, stack: [KernelFrame], context: CallContext
  ) {
    let head = allocated.block.head
    switch outcome {
    case .badPages(let pages):
      for page in pages {
        let admitted = state.withLock { $0.badPageLimit.admit(now: machine.clock.now) }
        guard admitted.show else {
          // Not printed, but it happened: the page's history says so.
          note(.suppressedReport(.badPageState), pfn: page.pfn.rawValue, context: context)
          continue
        }
        var finding = Finding.badPageState(
          pfn: page.pfn, phys: phys(page.pfn), reason: page.reason, freedHead: head, order: order,
          allocatedOrder: allocated.block.order)
        if admitted.suppressedBefore > 0 {
          finding.kernelLog = [BadPageRateLimit.suppressedMessage(admitted.suppressedBefore)]
          finding.details.append(Detail("suppressed before", .int(Int64(clamping: admitted.suppressedBefore))))
        }
        report(
          finding, stack: ["bad_page", "free_page_is_bad_report"].map { KernelFrame($0) } + stack, context: context)
      }
    case .leaked(let pages), .foreignPages(let pages):
      let leaked: Bool
      if case .leaked = outcome { leaked = true } else { leaked = false }
      let finding = Finding.freeWithWrongOrder(
        pfn: head, phys: phys(head), order: order, allocatedOrder: allocated.block.order, pages: pages,
        leaked: leaked)
      report(finding, stack: stack, context: context)
    }
  }

  /// `vfree()` of an address with no area.
  /// The corresponding Linux function is `vfree()`.
  func reportVfreeNonexistent(_ address: VirtualAddress, context: CallContext) {
    let finding = Finding.vfreeNonexistent(address: address.rawValue)
    report(finding, context: context)
  }

  /// `iommu_domain_free()` of a freed domain: KASAN's slab-use-after-free
  /// on the read of `domain->type`. The object's address is a stand-in.
  /// The corresponding Linux function is `iommu_domain_free()`.
  func reportDomainFreedAgain(_ domain: Domain, context: CallContext) {
    let driver: (alloc: String, free: String) =
      switch domain.unit.model {
      case .vtd: ("intel_iommu_domain_alloc_paging_flags", "intel_iommu_domain_free")
      case .amd: ("amd_iommu_domain_alloc_paging_flags", "amd_iommu_domain_free")
      case .smmuv3: ("arm_smmu_domain_alloc_paging_flags", "arm_smmu_domain_free_paging")
      }
    func track(_ c: CallContext, _ frames: [String]) -> KASANAccess.Track {
      KASANAccess.Track(task: c.task, stack: (frames.map { KernelFrame($0) } + c.chain([])).map(StackFrame.init))
    }
    let allocated = track(
      domain.allocatedBy,
      Finding.kasanAllocFrames + [driver.alloc, "__iommu_paging_domain_alloc_flags", "iommu_paging_domain_alloc_flags"])
    let freed = domain.freedBy.map { track($0, Finding.kasanFreeFrames + [driver.free, "iommu_domain_free"]) }
    // A stand-in for the object's address: the model has no slab.
    let address = 0xffff_8881_0000_0000 &+ UInt64(domain.id) &* 0x1000
    let finding = Finding.domainUseAfterFree(
      domain: domain.name, iommu: domain.unit.name, address: address, allocated: allocated, freed: freed)
    report(finding, context: context)
  }

  /// A DMA-API map whose physical range starts in an allocated block and
  /// ends beyond it. The allocation is the block holding the first byte; a
  /// range that starts outside RAM or in a free page is not checked here.
  func checkDMAMapRange(_ device: Device, dmaAddress: IOVA, size: UInt64, phys: PhysicalAddress, context: CallContext) {
    let first = phys.pfn(pageShift: pageShift)
    guard size > 1, let record = machine.memory.record(containing: first), record.isAllocated,
      record.block.contains(first)
    else { return }
    let blockStart = record.block.head.rawValue << UInt64(pageShift)
    let (blockEnd, o1) = blockStart.addingReportingOverflow(record.block.pageCount << UInt64(pageShift))
    let (end, o2) = phys.rawValue.addingReportingOverflow(size)
    guard !o1, !o2, end > blockEnd else { return }
    let beyond = end - blockEnd
    let firstOutside = PFN(blockEnd >> UInt64(pageShift))
    let finding = Finding(
      kind: .dmaMapBeyondAllocation,
      headline:
        "iommusan: dma_map of \(ByteSize.describe(size)) at phys \(phys) for \(device.name) runs \(beyond) bytes "
        + "past its allocation (pfn \(record.block.head) order \(record.block.order)) into pfn \(firstOutside)",
      warningSite: WarningSite.Emulator.dmaMapRange,
      frames: ["iommusan_check_dma_map_range", "debug_dma_map_phys"],
      pfn: record.block.head, phys: phys, iova: dmaAddress, domain: device.domain?.name, device: device.name,
      details: [
        Detail("size", .int(Int64(clamping: size))), Detail("allocation end", .hex(blockEnd)),
        Detail("beyond", .int(Int64(clamping: beyond))),
      ],
      dumpsPageOwner: true)
    report(finding, context: context)
  }
}

/// `bad_page()`'s rate limit: "Allow a burst of 60 reports, then keep quiet
/// for that minute". The minute is emulated time (`advance`), measured from
/// the first report of a burst; the reports kept quiet are counted, and the
/// first report after the minute is preceded by `BUG: Bad page state: %lu
/// messages suppressed` (the report's `kernelLog`: it goes with its report,
/// also when `--max-reports` leaves the report out). The kernel's `add_taint(TAINT_BAD_PAGE)` runs for
/// every call; the taint is on from the first printed report.
/// The corresponding Linux function is `bad_page()`.
struct BadPageRateLimit {
  static let burst = 60
  static let interval: UInt64 = 60 * 1_000_000_000

  /// `resume`, `nr_shown`, `nr_unshown`.
  private var resume: UInt64 = 0
  private var shown = 0
  private var unshown: UInt64 = 0

  /// Whether this report is printed, and the count to print in the
  /// `messages suppressed` line before it (0: no line).
  mutating func admit(now: UInt64) -> (show: Bool, suppressedBefore: UInt64) {
    var suppressed: UInt64 = 0
    if shown == Self.burst {
      if now < resume {  // time_before(jiffies, resume)
        unshown += 1
        return (false, 0)
      }
      suppressed = unshown
      unshown = 0
      shown = 0
    }
    if shown == 0 {
      let (end, overflow) = now.addingReportingOverflow(Self.interval)
      resume = overflow ? .max : end
    }
    shown += 1
    return (true, suppressed)
  }

  /// The `pr_alert()` before the first report after a quiet minute.
  static func suppressedMessage(_ count: UInt64) -> String { "BUG: Bad page state: \(count) messages suppressed" }
}
