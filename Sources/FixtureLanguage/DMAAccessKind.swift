/// Whether a device access reads or writes memory (`dma DEVICE read|write`).
public enum DMAAccessKind: String, Sendable, Hashable, CaseIterable {
  case read
  case write
}
