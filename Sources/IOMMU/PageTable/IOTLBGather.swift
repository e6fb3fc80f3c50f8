import KernelTypes
import MemoryModel

/// What an unmap leaves for `iotlb_sync` to invalidate: the kernel's
/// `struct iommu_iotlb_gather` (include/linux/iommu.h). Empty is
/// `start = ULONG_MAX, end = 0`.
package struct IOTLBGather: Sendable, Hashable {
  package var start: UInt64 = .max
  package var end: UInt64 = 0
  /// The page size of the pages added (`add_page` only).
  package var pgsize: UInt64 = 0
  /// Table pages to free after the invalidation (`gather->freelist`).
  package var freelist: [PageBlock] = []
  /// Lazy mode: the flush queue invalidates later; drivers skip their adds.
  package var queued = false

  package init(queued: Bool = false) { self.queued = queued }

  /// The corresponding Linux test is `start > end` in `iommu_iotlb_sync()`.
  package var isEmpty: Bool { start > end }

  /// Whether `[iova, iova+size)` is neither inside nor adjacent to the gathered range.
  /// The corresponding Linux function is `iommu_iotlb_gather_is_disjoint()`.
  package func isDisjoint(iova: UInt64, size: UInt64) -> Bool {
    let last = iova &+ size &- 1
    return end != 0 && (last &+ 1 < start || iova > end &+ 1)
  }

  /// Extends the range. The corresponding Linux function is `iommu_iotlb_gather_add_range()`.
  package mutating func addRange(iova: UInt64, size: UInt64) {
    let last = iova &+ size &- 1
    if start > iova { start = iova }
    if end < last { end = last }
  }

  /// Adds one page; returns true when the caller must sync first (a disjoint
  /// range or another page size), as the kernel's helper does before adding.
  /// The corresponding Linux function is `iommu_iotlb_gather_add_page()`.
  package func needsSyncBeforeAdding(iova: UInt64, size: UInt64) -> Bool {
    (pgsize != 0 && size != pgsize) || isDisjoint(iova: iova, size: size)
  }
}

/// The invalidation one `iotlb_sync` sends for a gather, by driver.
package struct IOTLBSyncPlan: Sendable, Hashable {
  /// A range command over `range`, or a domain-wide one when nil.
  package var range: ClosedRange<UInt64>?
  package var leafOnly: Bool
}

extension IOMMUUnit {
  /// The largest VT-d address mask a PSI takes (`cap_max_amask_val`): 18,
  /// as QEMU's intel-iommu reports (a 1G range).
  package static let vtdMaxAddressMask = 18

  /// The command `iotlb_sync` sends for a non-empty gather.
  /// The corresponding Linux functions are `cache_tag_flush_range()` with
  /// `calculate_psi_aligned_address()` (VT-d), `domain_flush_pages()` with
  /// `build_inv_address()` (AMD) and `arm_smmu_tlb_inv_range_domain()` (SMMUv3).
  package func syncPlan(for gather: IOTLBGather) -> IOTLBSyncPlan {
    let size = gather.end &- gather.start &+ 1
    switch model {
    case .vtd:
      // IH=1 when no page-table page is freed.
      let (addr, mask) = Self.psiAlignedAddress(start: gather.start, end: gather.end)
      if mask > Self.vtdMaxAddressMask { return IOTLBSyncPlan(range: nil, leafOnly: false) }
      let span = (UInt64(4096) << UInt64(mask)) &- 1
      return IOTLBSyncPlan(range: addr...(addr &+ span), leafOnly: gather.freelist.isEmpty)
    case .amd:
      guard let r = Self.amdInvalidationRange(address: gather.start, size: size) else {
        return IOTLBSyncPlan(range: nil, leafOnly: false)
      }
      return IOTLBSyncPlan(range: r, leafOnly: false)
    case .smmuv3:
      return IOTLBSyncPlan(range: gather.start...gather.end, leafOnly: true)
    }
  }

  /// VT-d's PSI: the page count rounded up to a power of two, the mask
  /// widened until the aligned block holds the range. Returns the aligned
  /// address and the mask (64 when no mask fits).
  /// The corresponding Linux function is `calculate_psi_aligned_address()`.
  static func psiAlignedAddress(start: UInt64, end: UInt64) -> (UInt64, Int) {
    let pfn = start >> 12
    let endPFN = end >> 12
    let pages = endPFN &- pfn &+ 1
    let alignedPages =
      pages <= 1 ? 1 : (pages > 1 << 62 ? 0 : UInt64(1) << UInt64(64 - (pages - 1).leadingZeroBitCount))
    var mask = alignedPages == 0 ? 64 : alignedPages.trailingZeroBitCount
    let bitmask = alignedPages &- 1
    if alignedPages != 0, bitmask & pfn != 0 {
      let shared = ~(pfn ^ endPFN) & ~bitmask
      mask = shared != 0 ? shared.trailingZeroBitCount : 64
    }
    let addr = mask >= 52 ? 0 : start & ~((UInt64(4096) << UInt64(mask)) &- 1)
    return (addr, mask)
  }

  /// The range AMD's INVALIDATE_IOMMU_PAGES covers: one page, or the
  /// naturally aligned block up to the highest bit that differs between
  /// start and end; nil when that bit is above 51 (everything).
  /// The corresponding Linux function is `build_inv_address()`.
  static func amdInvalidationRange(address: UInt64, size: UInt64) -> ClosedRange<UInt64>? {
    let pageOffset = address & 0xfff
    let (withOffset, o1) = pageOffset.addingReportingOverflow(size)
    let pages = o1 ? UInt64.max : (withOffset &+ 0xfff) >> 12
    if pages == 1 {
      let a = address & ~0xfff
      return a...(a | 0xfff)
    }
    let end = address &+ size &- 1
    let msbDiff = 63 - (end ^ address).leadingZeroBitCount
    if msbDiff > 51 || (end ^ address) == 0 { return nil }
    let low = (UInt64(1) << UInt64(msbDiff + 1)) &- 1
    let a = address & ~low
    return a...(a | low)
  }
}
