import IOMMU
import KernelTypes
import MemoryModel
import Reports

extension StackFrame {
  init(_ k: KernelFrame) {
    self.init(k.function, module: k.module, sourceFile: k.file, sourceLine: k.line, isGuilty: k.isDriver)
  }
}

extension Sanitizer {
  /// Completes a finding into its report and emits it, as KASAN's
  /// `complete_report_info()` and `print_report()`: the running task, the
  /// call trace (the finding's frames above `stack`, by default the
  /// caller's frame) and the page_owner record when the finding dumps it.
  /// A `dma-use-after-free` whose page was free when the translation was
  /// made (`freedAfterTranslation` false) names no free and no reallocation.
  func report(
    _ finding: Finding, stack: [KernelFrame]? = nil, context: CallContext, freedAfterTranslation: Bool = true,
    trailer: [String] = []
  ) {
    let owner = finding.dumpsPageOwner ? finding.pfn.flatMap(pageOwner) : nil
    if let pfn = finding.pfn { note(.report(finding.kind), pfn: pfn.rawValue, context: context) }
    let callers = stack ?? context.chain([])
    var report = Report(
      finding, callers: callers.map(StackFrame.init), statement: nil, task: context.task, pageOwner: owner,
      trailer: trailer)
    if let pfn = finding.pfn, let r = machine.memory.record(containing: pfn) {
      switch finding.kind {
      case .allocatedWhileMapped:
        // Reported from post_alloc_hook(): the record is still the last owner's.
        report.freedAt = r.freeTask.map { PageEventSite(stack: r.freeStack, task: $0) }
        report.reallocatedAt = PageEventSite(stack: callers, task: context.task)
      case .dmaUseAfterFree where freedAfterTranslation:
        report.freedAt = r.freeTask.map { PageEventSite(stack: r.freeStack, task: $0) }
        if r.isAllocated { report.reallocatedAt = PageEventSite(stack: r.allocStack, task: r.allocTask) }
      default: break
      }
    }
    emit(report)
  }

  /// Adds who still maps the report's page. Done when the output is
  /// drained, after the statement, because a report can be made while the
  /// model holds the lock of the domain whose page table it would read (a
  /// page-table page allocated during a map).
  func addMappings(_ report: inout Report) {
    guard let pfn = report.pfn else { return }
    report.mappings = liveMappings(of: pfn)
    // A report about a page names the mapping that holds it when its check did not.
    if report.iova == nil, report.domain == nil, let m = report.mappings.first {
      report.iova = m.pageIOVA
      report.domain = m.domain
      report.device = m.attachments.first?.device
      report.pasid = m.attachments.first?.pasid
    }
    if configuration.accounting == .kernel, let count = report.count, count != Int64(report.mappings.count) {
      let n = report.mappings.count
      report.details.append(
        Detail(
          "page tables",
          .string("\(n) live mapping\(n == 1 ? "" : "s") of this page; kernel accounting counts \(count)")))
    }
  }

  /// Every mapping made through the IOMMU API that still translates to
  /// `pfn`, as the page tables say now.
  func liveMappings(of pfn: PFN) -> [LiveMapping] {
    let page = phys(pfn).rawValue
    let candidates = origins.withLock { $0.covering(page) }
    var out: [LiveMapping] = []
    for c in candidates {
      guard let domain = machine.domain(id: c.key.domain), !domain.isFreed else { continue }
      let pageIOVA = IOVA(c.key.iova &+ (page - c.record.phys))
      guard let leaf = domain.leaf(at: pageIOVA), leaf.phys.rawValue == page else { continue }
      out.append(
        LiveMapping(
          domain: domain.name,
          attachments: domain.attachedDevices.map { .init(device: $0.device.name, pasid: $0.pasid) },
          iova: IOVA(c.key.iova), size: c.record.size, pageIOVA: pageIOVA, leafSize: leaf.size,
          file: c.origin.caller.file, line: c.origin.caller.line, statementIndex: c.origin.statementIndex,
          path: c.origin.path))
    }
    return out
  }

  /// The page_owner dump for a page, when `page_owner=on`.
  /// `__dump_page_owner()`'s view of `pfn`: a page no allocation ever
  /// covered has page_ext without PAGE_EXT_OWNER (`never set?`).
  /// The corresponding Linux function is `__dump_page_owner()`.
  private func pageOwner(_ pfn: PFN) -> PageOwnerRecord? {
    guard configuration.pageOwner else { return nil }
    guard let r = machine.memory.record(containing: pfn) else {
      return machine.memory.hasPageExt(pfn) ? .notPresent : nil
    }
    return PageOwnerRecord(
      isAllocated: r.isAllocated, order: r.allocOrder, gfp: r.gfp, pid: r.allocTask.pid, tgid: r.allocTask.tgid,
      comm: r.allocTask.comm, ts: r.allocTime, freeTs: r.freeTime, allocStack: r.allocStack.map(StackFrame.init),
      freePid: r.freeTask?.pid, freeTgid: r.freeTask?.tgid, freeStack: r.freeStack.map(StackFrame.init))
  }

  func phys(_ pfn: PFN) -> PhysicalAddress { pfn.address(pageShift: pageShift) }
}
