/// The privilege a device request asks for: PCIe's Privileged Mode
/// Requested bit of the PASID prefix (`dma ... priv=` in fixtures).
package enum Privilege: String, Sendable, Hashable, CaseIterable {
  case user
  case supervisor
}
