/// A PCI function behind an IOMMU (`device NAME iommu=IOMMU [ats=on|off] [pasid=on|off] [group=G]`).
package struct DeviceConfiguration: Sendable, Hashable {
  /// The device's name.
  package var name: NameReference
  /// The IOMMU it sits behind.
  package var iommu: NameReference
  /// `ats=`, or nil when not written.
  package var ats: OnOff?
  /// `pasid=`, or nil when not written.
  package var pasid: OnOff?
  /// `group=` (an iommusan extension): devices that name the same group
  /// share one IOMMU group; nil: a group of its own.
  package var group: String?

  package init(
    name: NameReference, iommu: NameReference, ats: OnOff? = nil, pasid: OnOff? = nil, group: String? = nil
  ) {
    self.name = name
    self.iommu = iommu
    self.ats = ats
    self.pasid = pasid
    self.group = group
  }
}
