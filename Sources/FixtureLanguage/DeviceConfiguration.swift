/// A PCI function behind an IOMMU (`device NAME iommu=IOMMU [ats=on|off] [pasid=on|off]`).
public struct DeviceConfiguration: Sendable, Hashable {
  /// The device's name.
  public var name: NameReference
  /// The IOMMU it sits behind.
  public var iommu: NameReference
  /// `ats=`, or nil when not written.
  public var ats: OnOff?
  /// `pasid=`, or nil when not written.
  public var pasid: OnOff?

  public init(name: NameReference, iommu: NameReference, ats: OnOff? = nil, pasid: OnOff? = nil) {
    self.name = name
    self.iommu = iommu
    self.ats = ats
    self.pasid = pasid
  }
}
