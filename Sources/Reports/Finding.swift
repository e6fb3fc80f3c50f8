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

  /// Whether the kernel prints `headline` after the splat. IOMMU_DEBUG_PAGEALLOC's
  /// WARN_ONs print nothing but the splat, except `__iommu_debug_check_unmapped()`'s
  /// `pr_warn("iommu: Detected page leak!\n")` and `dump_page_owner()`; for the
  /// others the headline and the page_owner record go to the `iommusan:` lines.
  package var kernelPrintsHeadline: Bool {
    warningSite.file != WarningSite.debugPageAllocFile || warningSite == .checkUnmapped
  }

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
