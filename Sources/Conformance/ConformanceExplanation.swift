import KernelTypes

/// Why a class of divergence exists: the kernel code (or model rule) that
/// makes counts and page tables differ. A class that none of these rules
/// fits is unexplained: the checker or the model is wrong.
package struct ConformanceExplanation: Sendable, Hashable {
  /// A short name for the tables.
  package var name: String
  package var text: String

  /// The rule that fits `c`, if one does.
  static func find(_ c: ConformanceClass) -> ConformanceExplanation? {
    let k = c.key
    guard k.accounting == .kernel else { return nil }
    let inertHooks = k.hooks700
    // generic_pt domains: VT-d and AMD.
    let iommupt = c.formats.allSatisfy { $0 == "vtd" || $0 == "amd" }
    let armOnly = c.formats.allSatisfy { $0.hasPrefix("smmuv3") }
    switch (k.trigger, k.direction) {
    case (.map, .under) where k.granuleTails, (.mapReplacingLeaves, .under) where k.granuleTails:
      return granule
    case (.unmap, .over) where inertHooks && iommupt, (.unmapShort, .over) where inertHooks && iommupt,
      (.unmapLarger, .over) where inertHooks && iommupt:
      return inertUnmapEnd
    case (.unmapLarger, .over) where !inertHooks:
      return unmapLarger
    case (.map, .under) where inertHooks, (.mapReplacingLeaves, .under) where inertHooks:
      return inertMap
    case (.unmap, .under) where inertHooks && armOnly, (.unmapLarger, .under) where inertHooks && armOnly:
      return inertUnmap
    case (.mapErrorLost, .over) where inertHooks && armOnly, (.mapErrorLost, .mixed) where inertHooks && armOnly:
      return lostError
    case (.mapReplacingLeaves, .over) where armOnly && !inertHooks:
      return replacedLeaves
    default:
      return nil
    }
  }

  static let granule = ConformanceExplanation(
    name: "blind spot: granule above PAGE_SIZE",
    text: """
      `__iommu_debug_map()` counts one page per smallest IOMMU page (`1UL << __ffs(pgsize_bitmap)`), by \
      its first physical address: with a 16K or 64K granule on 4K CPU pages the other CPU pages of each \
      granule are never counted, and freeing one while it is mapped goes unreported (a false negative).
      """)
  static let unmapLarger = ConformanceExplanation(
    name: "blind spot: unmap larger than requested",
    text: """
      `__iommu_debug_unmap_begin()` decrements only the requested range, and `__iommu_debug_unmap_end()` \
      stops at `WARN_ON_ONCE(unmapped > size)`: the pages of the removed leaf beyond the request keep \
      their counts, and freeing them is reported though nothing maps them (false positives; Pranjal \
      Shrivastava's review of v5).
      """)
  static let inertMap = ConformanceExplanation(
    name: "7.0.0: the map hook is never called",
    text: """
      As 7.0.0 shipped, `iommu_debug_map()` is not reached after a successful map (fixed by \
      b948a8722848 and 0735c54804c7 in 7.0.11): nothing is counted, every free of a mapped page is missed.
      """)
  static let inertUnmap = ConformanceExplanation(
    name: "7.0.0: unmap_begin without the map hook",
    text: """
      In 7.0.0 `unmap_begin` runs in `__iommu_unmap_domain_pgtbl()` (io-pgtable domains) while the map \
      hook never ran: each unmap decrements a count never taken (`map-count-underflow`).
      """)
  static let inertUnmapEnd = ConformanceExplanation(
    name: "7.0.0: unmap_end without unmap_begin",
    text: """
      In 7.0.0 a generic_pt (VT-d, AMD) domain's unmap skips `unmap_begin` (only \
      `__iommu_unmap_domain_pgtbl()` calls it) but `unmap_end` runs: an unmap that stops short \
      re-increments the part still mapped, and nothing ever decrements it (b948a8722848 moves \
      `unmap_begin` before the `unmap_range()` split).
      """)
  static let lostError = ConformanceExplanation(
    name: "7.0.0: a failed classic map returns 0 and is counted",
    text: """
      7.0.0's `iommu_map_nosync()` tests `if (!ret) return ret;` on classic (io-pgtable) ops: a map that \
      failed, and whose driver undid the part it mapped, goes on to `iommu_debug_map()` of the whole range \
      and returns 0 (6fc7e8a3b811): pages nothing maps are counted.
      """)
  static let replacedLeaves = ConformanceExplanation(
    name: "io-pgtable-arm: a block over a table drops its leaves",
    text: """
      `arm_lpae_init_pte()` frees a table a block replaces and drops its leaves without an unmap, so no \
      `unmap_begin` decrements them: their counts stay (false positives at their free).
      """)
}
