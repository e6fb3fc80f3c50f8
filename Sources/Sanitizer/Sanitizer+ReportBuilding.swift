import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// Sites of the WARNs the sanitizer reproduces beyond IOMMU_DEBUG_PAGEALLOC's
/// (those are `WarningSite`'s own table).
enum WarnSites {
  static let dmaDebugCheckUnmap = WarningSite(file: "kernel/dma/debug.c", line: 1011, function: "check_unmap")
  /// The emulator's own checks and the ground truth have no kernel site;
  /// they name the iommusan check that fired.
  static func emulator(_ function: String, line: Int) -> WarningSite {
    WarningSite(file: "iommusan/checks.c", line: line, function: function)
  }
}

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
  func report(_ finding: Finding, stack: [KernelFrame]? = nil, context: CallContext) {
    let owner = finding.dumpsPageOwner ? finding.pfn.flatMap(pageOwner) : nil
    emit(
      Report(
        finding, callers: (stack ?? [context.caller]).map(StackFrame.init), statement: nil,
        task: context.task, pageOwner: owner))
  }

  /// The page_owner dump for a page, when `page_owner=on`.
  private func pageOwner(_ pfn: PFN) -> PageOwnerRecord? {
    guard configuration.pageOwner, let r = machine.memory.record(containing: pfn) else { return nil }
    return PageOwnerRecord(
      isAllocated: r.isAllocated, order: r.block.order, gfp: r.gfp, pid: r.allocTask.pid, tgid: r.allocTask.tgid,
      comm: r.allocTask.comm, ts: r.allocTime, freeTs: r.freeTime, allocStack: r.allocStack.map(StackFrame.init),
      freePid: r.freeTask?.pid, freeTgid: r.freeTask?.tgid, freeStack: r.freeStack.map(StackFrame.init))
  }

  func phys(_ pfn: PFN) -> PhysicalAddress { pfn.address(pageShift: pageShift) }
}
