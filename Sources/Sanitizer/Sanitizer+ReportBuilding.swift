import IOMMU
import MemoryModel
import Reports

/// Kernel source locations of the WARNs the sanitizer reproduces.
enum WarnSites {
  static let file = "drivers/iommu/iommu-debug-pagealloc.c"
  static let incPage = WarningSite(file: file, line: 47, function: "iommu_debug_inc_page")
  static let decPage = WarningSite(file: file, line: 60, function: "iommu_debug_dec_page")
  static let checkUnmapped = WarningSite(file: file, line: 91, function: "__iommu_debug_check_unmapped")
  static let map = WarningSite(file: file, line: 104, function: "__iommu_debug_map")
  static let updateIOVA = WarningSite(file: file, line: 117, function: "__iommu_debug_update_iova")
  static let unmapEnd = WarningSite(file: file, line: 143, function: "__iommu_debug_unmap_end")
  static let dmaDebugCheckUnmap = WarningSite(file: "kernel/dma/debug.c", line: 1011, function: "check_unmap")
  /// The emulator's own checks and the ground truth have no kernel site;
  /// they name the iommusan check that fired.
  static func emulator(_ function: String, line: Int) -> WarningSite {
    WarningSite(file: "iommusan/checks.c", line: line, function: function)
  }
}

extension TaskInfo {
  init(_ t: EmulatedTask) { self.init(pid: t.pid, tgid: t.tgid, comm: t.comm, cpu: t.cpu) }
}

extension StackFrame {
  init(_ k: KernelFrame) {
    self.init(k.function, module: k.module, sourceFile: k.file, sourceLine: k.line, isGuilty: k.isDriver)
  }
}

extension Sanitizer {
  /// A call trace: detector frames (innermost first) above the model's chain.
  func trace(_ detector: [String], _ chain: [KernelFrame]) -> [StackFrame] {
    detector.map { StackFrame($0) } + chain.map(StackFrame.init)
  }

  /// The page_owner dump for a page, when `page_owner=on`.
  func pageOwner(_ pfn: PFN) -> PageOwnerRecord? {
    guard configuration.pageOwner, let r = machine.memory.record(containing: pfn) else { return nil }
    return PageOwnerRecord(
      isAllocated: r.isAllocated, order: r.block.order, migratetype: r.gfp.migratetype, gfpMask: r.gfp.mask,
      gfpNames: r.gfp.names, pid: r.allocTask.pid, tgid: r.allocTask.tgid, comm: r.allocTask.comm, ts: r.allocTime,
      freeTs: r.freeTime, allocStack: r.allocStack.map(StackFrame.init), freePid: r.freeTask?.pid,
      freeTgid: r.freeTask?.tgid, freeStack: r.freeStack.map(StackFrame.init))
  }

  func phys(_ pfn: PFN) -> PhysicalAddress { pfn.address(pageShift: pageShift) }
}
