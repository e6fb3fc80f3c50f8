/// A switch written `on` or `off` (`ats=`, `pasid=`, `sva=`).
public enum OnOff: String, Sendable, Hashable, CaseIterable {
  case on
  case off

  /// `true` for `.on`.
  public var isOn: Bool { self == .on }
}
