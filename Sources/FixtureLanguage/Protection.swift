/// The permissions of an `iommu_map` (`prot=`): IOMMU_READ, IOMMU_WRITE or both.
package enum Protection: String, Sendable, Hashable, CaseIterable {
  case r
  case w
  case rw

  /// Whether the device may read.
  package var allowsRead: Bool { self != .w }
  /// Whether the device may write.
  package var allowsWrite: Bool { self != .r }
}
