/// A switch written `on` or `off` (`ats=`, `pasid=`, `sva=`).
package enum OnOff: String, Sendable, Hashable, CaseIterable {
  case on
  case off

  /// `true` for `.on`.
  package var isOn: Bool { self == .on }
}
