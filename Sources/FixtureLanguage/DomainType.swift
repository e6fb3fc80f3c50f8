/// The kind of a new domain (`domain IOMMU type=`).
public enum DomainType: String, Sendable, Hashable, CaseIterable {
  /// IOMMU_DOMAIN_UNMANAGED: mappings made with `iommu_map`.
  case paging
  /// IOMMU_DOMAIN_DMA: a DMA-API domain.
  case dma
  /// IOMMU_DOMAIN_IDENTITY: IOVA equals physical address.
  case identity
  /// IOMMU_DOMAIN_BLOCKED: every access faults.
  case blocked
}
