/// Whether a device access reads or writes memory (`dma DEVICE read|write`).
package enum DMAAccessKind: String, Sendable, Hashable, CaseIterable {
  case read
  case write
}
