/// A streaming DMA direction (`enum dma_data_direction`), written `dir=` in fixtures.
package enum DMADirection: String, Sendable, Hashable, CaseIterable {
  /// DMA_TO_DEVICE.
  case toDevice = "to-device"
  /// DMA_FROM_DEVICE.
  case fromDevice = "from-device"
  /// DMA_BIDIRECTIONAL.
  case bidirectional

  /// The name the kernel prints (`DMA_BIDIRECTIONAL` without the prefix).
  package var kernelName: String {
    switch self {
    case .bidirectional: "BIDIRECTIONAL"
    case .toDevice: "TO_DEVICE"
    case .fromDevice: "FROM_DEVICE"
    }
  }
}
