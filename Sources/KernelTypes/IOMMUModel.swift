/// The IOMMU hardware the emulator knows (`iommu NAME model=` in fixtures).
package enum IOMMUModel: String, Sendable, Hashable, CaseIterable {
  /// Intel VT-d.
  case vtd
  /// AMD-Vi (the v1 page table).
  case amd
  /// Arm SMMUv3 with the LPAE format.
  case smmuv3

  /// The page sizes the model's page table provides with a granule, smallest first.
  ///
  /// `vtd` and `amd` have 4K, 2M and 1G (AMD v1 advertises every power of two;
  /// the emulator simplifies). `smmuv3`: 4K granule 4K, 2M, 1G; 16K granule
  /// 16K, 32M; 64K granule 64K, 512M.
  package func pageSizes(granule: PageSize) -> [UInt64] {
    switch (self, granule) {
    case (.vtd, _), (.amd, _), (.smmuv3, .size4K): return [1 << 12, 1 << 21, 1 << 30]
    case (.smmuv3, .size16K): return [1 << 14, 1 << 25]
    case (.smmuv3, .size64K): return [1 << 16, 1 << 29]
    }
  }

  /// The page sizes as a `pgsize_bitmap`.
  package func pgsizeBitmap(granule: PageSize) -> UInt64 { pageSizes(granule: granule).reduce(0, |) }

  /// The granules the model accepts (`vtd` and `amd` only 4K).
  package var granules: [PageSize] {
    self == .smmuv3 ? [.size4K, .size16K, .size64K] : [.size4K]
  }

  /// The kernel path that allocates a page of the model's I/O page table,
  /// innermost first, from `iommu_alloc_pages_node_sz()` out: to the
  /// format's domain setup for the top-level table (`root`), or through the
  /// driver's `map_pages` to `iommu_map()` for a table below it.
  /// VT-d: `paging_domain_alloc()`, `pfn_to_dma_pte()` (intel/iommu.c);
  /// AMD v1: `v1_alloc_pgtable()`, `alloc_pte()` (amd/io_pgtable.c);
  /// SMMUv3: `__arm_lpae_alloc_pages()` from `arm_64_lpae_alloc_pgtable_s1()`
  /// or `__arm_lpae_map()` (io-pgtable-arm.c).
  package func pageTableAllocationPath(root: Bool) -> [String] {
    let map = ["__iommu_map", "iommu_map"]
    switch self {
    case .vtd:
      return ["iommu_alloc_pages_node_sz"]
        + (root ? ["paging_domain_alloc"] : ["pfn_to_dma_pte", "__domain_mapping", "intel_iommu_map_pages"] + map)
    case .amd:
      return ["iommu_alloc_pages_node_sz"]
        + (root ? ["v1_alloc_pgtable"] : ["alloc_pte", "iommu_v1_map_pages", "amd_iommu_map_pages"] + map)
    case .smmuv3:
      return ["iommu_alloc_pages_node_sz", "__arm_lpae_alloc_pages"]
        + (root
          ? ["arm_64_lpae_alloc_pgtable_s1"] : ["__arm_lpae_map", "arm_lpae_map_pages", "arm_smmu_map_pages"] + map)
    }
  }
}
