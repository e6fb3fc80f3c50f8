/// The `file:line function` of a kernel `WARN`.
package struct WarningSite: Sendable, Hashable {
  package var file: String
  package var line: Int
  package var function: String
  package init(file: String, line: Int, function: String) {
    self.file = file
    self.line = line
    self.function = function
  }
}

/// The WARN sites of `drivers/iommu/iommu-debug-pagealloc.c` (IOMMU_DEBUG_PAGEALLOC,
/// Linux 7.0), shared by the sanitizer and replay.
extension WarningSite {
  /// The file of IOMMU_DEBUG_PAGEALLOC.
  package static let debugPageAllocFile = "drivers/iommu/iommu-debug-pagealloc.c"
  /// `WARN_ON(atomic_inc_return_relaxed(&d->ref) <= 0)` in `iommu_debug_inc_page()`.
  package static let incPage = WarningSite(file: debugPageAllocFile, line: 47, function: "iommu_debug_inc_page")
  /// `WARN_ON(atomic_dec_return_relaxed(&d->ref) < 0)` in `iommu_debug_dec_page()`.
  package static let decPage = WarningSite(file: debugPageAllocFile, line: 60, function: "iommu_debug_dec_page")
  /// `WARN_ON(iommu_debug_page_count(page))` in `__iommu_debug_check_unmapped()`, followed by
  /// `pr_warn("iommu: Detected page leak!\n")` and `dump_page_owner()`.
  package static let checkUnmapped = WarningSite(
    file: debugPageAllocFile, line: 91, function: "__iommu_debug_check_unmapped")
  /// `WARN_ON(!phys || check_add_overflow(phys, size, &end))` in `__iommu_debug_map()`.
  package static let debugMap = WarningSite(file: debugPageAllocFile, line: 104, function: "__iommu_debug_map")
  /// `WARN_ON(check_add_overflow(...))` in `__iommu_debug_update_iova()`.
  package static let updateIOVA = WarningSite(
    file: debugPageAllocFile, line: 117, function: "__iommu_debug_update_iova")
  /// `WARN_ON_ONCE(unmapped > size)` in `__iommu_debug_unmap_end()`.
  package static let unmapEnd = WarningSite(file: debugPageAllocFile, line: 143, function: "__iommu_debug_unmap_end")
}

/// The WARN site of CONFIG_DMA_API_DEBUG's unmap checks, shared by the sanitizer and replay.
extension WarningSite {
  /// `err_printk()` (a `WARN(1, ...)`) in `check_unmap()`, `kernel/dma/debug.c`.
  package static let dmaDebugCheckUnmap = WarningSite(file: "kernel/dma/debug.c", line: 1011, function: "check_unmap")
}
