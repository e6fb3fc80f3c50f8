import KernelTypes
import MemoryModel

/// What a check found, before the engine that ran it says who ran it and
/// how: the part of KASAN's `kasan_report_info` that the check fills in.
/// One function per engine completes it into a `Report` with the task, the
/// statement, the call trace below `frames` and the page_owner record, as
/// `complete_report_info()` does.
package struct Finding: Sendable, Hashable {
  package var kind: ReportKind
  package var headline: String
  /// Lines of a `WARN(1, fmt...)`; empty for `WARN_ON`.
  package var warnMessage: [String]
  package var warningSite: WarningSite
  /// The detector's and the kernel's frames, innermost first, above the
  /// frames of whoever called into the kernel.
  package var frames: [String]
  package var pfn: PFN?
  package var phys: PhysicalAddress?
  package var iova: IOVA?
  package var domain: String?
  package var device: String?
  package var pasid: UInt32?
  package var count: Int64?
  package var details: [Detail]
  /// Whether the report dumps the page_owner record of `pfn`, as
  /// `__iommu_debug_check_unmapped()` calls `dump_page_owner()`.
  package var dumpsPageOwner: Bool
  /// How a kernel prints the finding: a `WARN()` unless said otherwise.
  package var splat: Splat = .warning
  /// Lines the kernel logs before the splat, in its own words: an IOMMU
  /// driver's `pr_err()`s of an invalidation timeout (`Finding.atsTimeoutLog`).
  package var kernelLog: [String] = []

  /// Whether the kernel prints `headline` after the splat. A bare `WARN_ON()`
  /// prints nothing but the splat (`WarningSite.isBareWarnOn`): its headline
  /// and page_owner record go to the `iommusan:` lines. `__iommu_debug_check_unmapped()`
  /// is followed by `pr_warn("iommu: Detected page leak!\n")` and `dump_page_owner()`.
  package var kernelPrintsHeadline: Bool { !warningSite.isBareWarnOn }

  package init(
    kind: ReportKind, headline: String, warnMessage: [String] = [], warningSite: WarningSite, frames: [String],
    pfn: PFN? = nil, phys: PhysicalAddress? = nil, iova: IOVA? = nil, domain: String? = nil, device: String? = nil,
    pasid: UInt32? = nil, count: Int64? = nil, details: [Detail] = [], dumpsPageOwner: Bool = false
  ) {
    self.kind = kind
    self.headline = headline
    self.warnMessage = warnMessage
    self.warningSite = warningSite
    self.frames = frames
    self.pfn = pfn
    self.phys = phys
    self.iova = iova
    self.domain = domain
    self.device = device
    self.pasid = pasid
    self.count = count
    self.details = details
    self.dumpsPageOwner = dumpsPageOwner
  }
}

/// The form of a kernel report.
package enum Splat: Sendable, Hashable {
  /// `WARN()`: `kernel/panic.c` `__warn()`.
  case warning
  /// `VM_BUG_ON_PAGE()`: `dump_page()` (`pageDump`, ending in `page dumped
  /// because:`, then the page_owner record), then `BUG()` at the finding's
  /// site (`kernel BUG at FILE:LINE!`) and the oops. The `RIP:` line names
  /// the site's function, the first frame.
  case bug(pageDump: [String])
  /// `bad_page()` (mm/page_alloc.c): `BUG: Bad page state in process …`,
  /// `dump_page()` (`pageDump`, ending in `page dumped because:`, then the
  /// page_owner record), the modules and `dump_stack()`. No cut line, no
  /// end marker: the kernel goes on.
  case badPage(pageDump: [String])
  /// A KASAN report (`mm/kasan/report.c` `print_report()`) of an access to a freed object.
  case kasan(KASANAccess)

  /// The taint the report leaves: `__warn()`'s `TAINT_WARN`, `oops_end()`'s
  /// `TAINT_DIE` after `BUG()`, and `TAINT_BAD_PAGE` from `bad_page()` and
  /// KASAN's `end_report()`.
  package var taint: Taint {
    switch self {
    case .warning: .warn
    case .bug: .die
    case .badPage, .kasan: .badPage
    }
  }
}

/// What a KASAN report says about the bad access and the object it hit.
package struct KASANAccess: Sendable, Hashable {
  /// A `kasan_track`: who allocated or freed the object, and the stack, innermost first.
  package struct Track: Sendable, Hashable {
    package var task: EmulatedTask
    package var stack: [StackFrame]
    package init(task: EmulatedTask, stack: [StackFrame]) {
      self.task = task
      self.stack = stack
    }
  }
  /// `slab-use-after-free`.
  package var bugType: String
  package var isWrite: Bool
  package var size: Int
  /// The object's address: an emulator stand-in, as the model has no slab.
  package var address: UInt64
  /// `Allocated by task` and `Freed by task`.
  package var allocated: Track?
  package var freed: Track?

  package init(bugType: String, isWrite: Bool, size: Int, address: UInt64, allocated: Track?, freed: Track?) {
    self.bugType = bugType
    self.isWrite = isWrite
    self.size = size
    self.address = address
    self.allocated = allocated
    self.freed = freed
  }
}
