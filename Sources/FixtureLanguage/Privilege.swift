/// The privilege of a PASID-tagged device request (`dma ... priv=`), an extension.
public enum Privilege: String, Sendable, Hashable, CaseIterable {
  case user
  case supervisor
}
