import KernelTypes

/// An IOMMU unit (`iommu NAME model=... [granule=] [pgsizes=] [iotlb=] [walk-cache=] [sva=] [npcache=] [gather=]`).
package struct IOMMUConfiguration: Sendable, Hashable {
  /// The unit's name.
  package var name: NameReference
  /// The hardware emulated.
  package var model: IOMMUModel
  /// The translation granule; always 4K for `vtd` and `amd`.
  package var granule: PageSize
  /// The page sizes domains are restricted to, or nil for all of the model's.
  package var pageSizes: PageSizeList?
  /// Leaf IOTLB entries (default 256; 0 disables the cache).
  package var iotlbEntries: Int
  /// Paging-structure cache entries (default 64; 0 disables the cache).
  package var walkCacheEntries: Int
  /// `sva=`, or nil when not written.
  package var sva: OnOff?
  /// `npcache=on` (amd only): a virtual AMD IOMMU that caches non-present
  /// entries; its iommupt table gathers with `PT_FEAT_FLUSH_RANGE_NO_GAPS`.
  package var npcache: OnOff?
  /// `gather=off`: a driver that leaves the IOTLB gather empty and flushes
  /// the whole domain in `iotlb_sync` (as tegra-smmu does).
  package var gather: OnOff?

  /// The default `iotlb=`.
  package static let defaultIOTLBEntries = 256
  /// The default `walk-cache=`.
  package static let defaultWalkCacheEntries = 64

  package init(
    name: NameReference, model: IOMMUModel, granule: PageSize = .size4K, pageSizes: PageSizeList? = nil,
    iotlbEntries: Int = IOMMUConfiguration.defaultIOTLBEntries,
    walkCacheEntries: Int = IOMMUConfiguration.defaultWalkCacheEntries, sva: OnOff? = nil,
    npcache: OnOff? = nil, gather: OnOff? = nil
  ) {
    self.npcache = npcache
    self.gather = gather
    self.name = name
    self.model = model
    self.granule = granule
    self.pageSizes = pageSizes
    self.iotlbEntries = iotlbEntries
    self.walkCacheEntries = walkCacheEntries
    self.sva = sva
  }

  /// The page sizes domains of this unit use: `pgsizes=` or the model's.
  package var effectivePageSizes: [UInt64] { pageSizes?.sizes.sorted() ?? model.pageSizes(granule: granule) }
}
