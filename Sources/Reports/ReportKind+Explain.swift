import KernelTypes

/// `iommusan explain KIND`: what each report kind means, where a real kernel
/// would see it, the driver bug behind it, the fix, and the `expect` line.
///
/// The texts are Markdown files, `Explanations/KIND.md` (see `Explanation`).
/// Package.swift embeds them with `.embedInCode`, which compiles each file
/// into the module as bytes (`PackageResources.<file name with _ for - and .>`).
/// `Bundle.module` is not used: on Linux it looks for a resource bundle beside
/// the executable, then at the absolute build path, and traps when neither
/// exists, so a copied or installed binary would crash on `explain`.
extension ReportKind {
  /// A one-line description (the fixture language's "what happened").
  package var title: String { explanationDocument.title }

  /// Several paragraphs for `iommusan explain KIND`, wrapped at 78 columns,
  /// ending in a newline.
  package var explanation: String {
    let document = explanationDocument
    var out = "\(rawValue) (\(source.rawValue))\n"
    for line in Explanation.wrap(document.title, width: 76) { out += "  \(line)\n" }
    for section in document.sections {
      out += "\n\(section.heading)\n"
      for line in section.lines(width: 76) { out += "  \(line)\n" }
    }
    return out
  }

  /// This kind's explanation, parsed.
  var explanationDocument: Explanation { Explanation(markdown: String(decoding: explanationMarkdown, as: UTF8.self)) }

  /// The bytes of `Explanations/KIND.md`.
  private var explanationMarkdown: [UInt8] {
    switch self {
    case .freedWhileMapped: PackageResources.freed_while_mapped_md
    case .allocatedWhileMapped: PackageResources.allocated_while_mapped_md
    case .mapCountUnderflow: PackageResources.map_count_underflow_md
    case .mapCountOverflow: PackageResources.map_count_overflow_md
    case .unmapLargerThanRequested: PackageResources.unmap_larger_than_requested_md
    case .addressOverflow: PackageResources.address_overflow_md
    case .freedWhileIOTLBCached: PackageResources.freed_while_iotlb_cached_md
    case .freedWhileMappedUncounted: PackageResources.freed_while_mapped_uncounted_md
    case .pageTableFreedWhileCached: PackageResources.page_table_freed_while_cached_md
    case .secondaryTLBStale: PackageResources.secondary_tlb_stale_md
    case .atsInvalidationTimeout: PackageResources.ats_invalidation_timeout_md
    case .mappingLeak: PackageResources.mapping_leak_md
    case .dmaUnmapMismatch: PackageResources.dma_unmap_mismatch_md
    case .dmaUnmapNotMapped: PackageResources.dma_unmap_not_mapped_md
    case .dmaSyncNotMapped: PackageResources.dma_sync_not_mapped_md
    case .dmaSyncMismatch: PackageResources.dma_sync_mismatch_md
    case .dmaUseAfterFree: PackageResources.dma_use_after_free_md
    case .dmaStaleWalk: PackageResources.dma_stale_walk_md
    case .faultAfterUnmap: PackageResources.fault_after_unmap_md
    case .pageDoubleFree: PackageResources.page_double_free_md
    case .pageFreeNeverAllocated: PackageResources.page_free_never_allocated_md
    case .vfreeNonexistentArea: PackageResources.vfree_nonexistent_area_md
    case .domainUseAfterFree: PackageResources.domain_use_after_free_md
    case .dmaMapBeyondAllocation: PackageResources.dma_map_beyond_allocation_md
    case .badPageState: PackageResources.bad_page_state_md
    case .pageFreeWrongOrder: PackageResources.page_free_wrong_order_md
    case .unmapPartialLargePage: PackageResources.unmap_partial_large_page_md
    case .resetPrepareReentry: PackageResources.reset_prepare_reentry_md
    case .dmaNeighbourObjectAccess: PackageResources.dma_neighbour_object_access_md
    case .slabFreedWhileMapped: PackageResources.slab_freed_while_mapped_md
    case .dmaCPUTouchActiveCacheline: PackageResources.dma_cpu_touch_active_cacheline_md
    }
  }
}
