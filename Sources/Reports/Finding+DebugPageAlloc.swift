import KernelTypes
import MemoryModel

/// The reports of IOMMU_DEBUG_PAGEALLOC (drivers/iommu/iommu-debug-pagealloc.c,
/// Linux 7.0), one per WARN site, as the sanitizer and replay both print
/// them: headline, site and the kernel frames of the call trace. Each WARN
/// is a `WARN_ON()`, with no message in the cut-here block. The engine adds
/// its own details and the frames below (the driver's, or the traced task's).
extension Finding {
  /// `WARN_ON(iommu_debug_page_count(page))` in `__iommu_debug_check_unmapped()`,
  /// then `pr_warn("iommu: Detected page leak!\n")` and `dump_page_owner()`:
  /// a page allocated (`post_alloc_hook()`) or freed (`free_pages_prepare()`)
  /// while counted. The page allocator's frames, from that hook out, follow.
  package static func pageLeak(
    _ kind: ReportKind, pfn: PFN, phys: PhysicalAddress, count: Int64, order: Int
  ) -> Finding {
    Finding(
      kind: kind, headline: "iommu: Detected page leak!", warningSite: .checkUnmapped,
      frames: [WarningSite.checkUnmapped.function], pfn: pfn, phys: phys, count: count,
      details: [Detail("order", .int(Int64(order)))], dumpsPageOwner: true)
  }

  /// `WARN_ON(!phys || check_add_overflow(phys, size, &end))` in `__iommu_debug_map()`.
  package static func mapAddressOverflow(phys: PhysicalAddress, size: UInt64, iova: IOVA) -> Finding {
    let what = phys == .zero ? "phys is 0" : "phys \(phys) + size \(size.hexAlt) wraps around"
    return Finding(
      kind: .addressOverflow, headline: "iommu: " + what, warningSite: .debugMap,
      frames: DebugPageAllocCaller.map.frames, phys: phys, iova: iova, details: [Detail("size", .hex(size))])
  }

  /// `WARN_ON(check_add_overflow(iova, size, &end))` in `__iommu_debug_update_iova()`,
  /// from `__iommu_debug_unmap_begin()`.
  package static func unmapAddressOverflow(iova: IOVA, size: UInt64) -> Finding {
    Finding(
      kind: .addressOverflow, headline: "iommu: iova \(iova) + size \(size.hexAlt) wraps around",
      warningSite: .updateIOVA, frames: DebugPageAllocCaller.unmapBegin.frames, iova: iova,
      details: [Detail("size", .hex(size))])
  }

  /// `WARN_ON_ONCE(unmapped > size)` in `__iommu_debug_unmap_end()`.
  package static func largerUnmap(iova: IOVA, size: UInt64, unmapped: UInt64) -> Finding {
    Finding(
      kind: .unmapLargerThanRequested,
      headline: "iommu: unmap of \(size.hexAlt) bytes at iova \(iova) removed \(unmapped.hexAlt) bytes",
      warningSite: .unmapEnd, frames: [WarningSite.unmapEnd.function] + DebugPageAllocCaller.unmapPath, iova: iova,
      details: [Detail("size", .hex(size)), Detail("unmapped", .hex(unmapped))])
  }

  /// `WARN_ON(atomic_inc_return_relaxed(&d->ref) <= 0)` in `iommu_debug_inc_page()`,
  /// or a count past iommusan's `emu.map_count_max`, from `caller`.
  package static func mapCountOverflow(
    pfn: PFN, phys: PhysicalAddress, count: Int64, maximum: Int64, iova: IOVA, caller: DebugPageAllocCaller?
  ) -> Finding {
    Finding(
      kind: .mapCountOverflow, headline: "iommu: map count of pfn \(pfn) passed its maximum (\(maximum))",
      warningSite: .incPage, frames: [WarningSite.incPage.function] + (caller?.frames ?? []), pfn: pfn, phys: phys,
      iova: iova, count: count, dumpsPageOwner: true)
  }

  /// `WARN_ON(atomic_dec_return_relaxed(&d->ref) < 0)` in `iommu_debug_dec_page()`, from `caller`.
  package static func mapCountUnderflow(
    pfn: PFN, phys: PhysicalAddress, count: Int64, iova: IOVA, caller: DebugPageAllocCaller?
  ) -> Finding {
    Finding(
      kind: .mapCountUnderflow,
      headline: "iommu: map count of pfn \(pfn) went below zero: unmapped more than was mapped",
      warningSite: .decPage, frames: [WarningSite.decPage.function] + (caller?.frames ?? []), pfn: pfn, phys: phys,
      iova: iova, count: count, dumpsPageOwner: true)
  }
}

/// Where IOMMU_DEBUG_PAGEALLOC counts: the function that calls
/// `iommu_debug_inc_page()` or `iommu_debug_dec_page()`, and the kernel
/// path from it out to the IOMMU API.
package enum DebugPageAllocCaller: Sendable, Hashable {
  /// `__iommu_debug_map()`, from `iommu_map_nosync()`: one increment per granule.
  case map
  /// Exact accounting (iommusan's), in place of `__iommu_debug_map()`'s
  /// loop: shown as the hook that calls it, `iommu_debug_map()`.
  case exactMap
  /// `__iommu_debug_update_iova(..., false)` from `__iommu_debug_unmap_begin()`,
  /// from `__iommu_unmap()`: one decrement per granule still mapped. Exact
  /// accounting's decrements of the leaves an unmap removed stand for these.
  case unmapBegin
  /// `__iommu_debug_update_iova(domain, iova + unmapped, size - unmapped, true)`
  /// from `__iommu_debug_unmap_end()`: what an unmap left mapped, counted again.
  case unmapEnd

  /// The frames, innermost first.
  package var frames: [String] {
    switch self {
    case .map: [WarningSite.debugMap.function] + Self.mapPath
    case .exactMap: ["iommu_debug_map"] + Self.mapPath
    case .unmapBegin: [WarningSite.updateIOVA.function, "__iommu_debug_unmap_begin"] + Self.unmapPath
    case .unmapEnd: [WarningSite.updateIOVA.function, WarningSite.unmapEnd.function] + Self.unmapPath
    }
  }

  /// `iommu_map()` calls `iommu_map_nosync()`, which calls the map hook.
  static let mapPath = ["iommu_map_nosync", "iommu_map"]
  /// `iommu_unmap()` calls `__iommu_unmap()`, which calls both unmap hooks.
  static let unmapPath = ["__iommu_unmap", "iommu_unmap"]
}
