/// The type of an IOMMU domain (`IOMMU_DOMAIN_*`).
package enum DomainType: String, Sendable, Hashable, CaseIterable {
  /// IOMMU_DOMAIN_UNMANAGED: mappings made with `iommu_map`.
  case paging
  /// IOMMU_DOMAIN_DMA: a DMA-API domain.
  case dma
  /// IOMMU_DOMAIN_IDENTITY: IOVA equals physical address.
  case identity
  /// IOMMU_DOMAIN_BLOCKED: every access faults.
  case blocked
  /// IOMMU_DOMAIN_SVA: translations walk a process's CPU page tables.
  /// Made by `sva_bind`, never by a `domain` statement.
  case sva

  /// The types a `domain` statement may name (`type=`), in the order the docs list them.
  package static let allocatable: [DomainType] = [.paging, .dma, .identity, .blocked]
}
