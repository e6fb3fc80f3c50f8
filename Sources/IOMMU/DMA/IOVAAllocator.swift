import KernelTypes

/// A deterministic top-down IOVA allocator over `[start, limit)`, in
/// granule units, with size-aligned allocations.
/// The corresponding Linux function is `alloc_iova()` (without the rcache).
struct IOVAAllocator {
  let granuleShift: Int
  /// The lowest allocatable IOVA page (the kernel reserves IOVA 0).
  let startPFN: UInt64
  /// Allocated ranges `[lo, hi)` in pages, sorted ascending.
  private(set) var ranges: [(lo: UInt64, hi: UInt64)] = []

  init(granuleShift: Int) {
    self.granuleShift = granuleShift
    self.startPFN = 1
  }

  /// Allocates `pages` pages below `limitPFN` (exclusive), aligned to the
  /// next power of two of the size as `iommu_dma_alloc_iova()` asks.
  mutating func allocate(pages: UInt64, limitPFN: UInt64) -> UInt64? {
    guard pages > 0, pages <= limitPFN else { return nil }
    let alignShift = pages == 1 ? 0 : 64 - (pages - 1).leadingZeroBitCount
    let alignMask: UInt64 = alignShift >= 63 ? .max : ~((1 << UInt64(alignShift)) - 1)
    var high = limitPFN
    var i = ranges.count - 1
    // Skip ranges at or above the limit.
    while i >= 0 && ranges[i].lo >= high { i -= 1 }
    while true {
      if i >= 0 && ranges[i].hi > high { high = ranges[i].lo; i -= 1; continue }
      let floor = i >= 0 ? ranges[i].hi : startPFN
      if high >= pages {
        let candidate = (high - pages) & alignMask
        if candidate >= floor && candidate >= startPFN {
          insert(candidate, candidate + pages, at: i + 1)
          return candidate
        }
      }
      guard i >= 0 else { return nil }
      high = ranges[i].lo
      i -= 1
    }
  }

  private mutating func insert(_ lo: UInt64, _ hi: UInt64, at index: Int) {
    ranges.insert((lo, hi), at: index)
  }

  /// Frees the allocation that starts at `pfn`.
  mutating func free(pfn: UInt64) {
    var lo = 0, hi = ranges.count
    while lo < hi {
      let mid = (lo + hi) / 2
      if ranges[mid].lo < pfn { lo = mid + 1 } else { hi = mid }
    }
    if lo < ranges.count && ranges[lo].lo == pfn { ranges.remove(at: lo) }
  }

  var allocatedCount: Int { ranges.count }
}
