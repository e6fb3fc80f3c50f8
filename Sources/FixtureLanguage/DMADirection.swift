/// A streaming DMA direction (`dir=`), as `enum dma_data_direction`.
public enum DMADirection: String, Sendable, Hashable, CaseIterable {
  /// DMA_TO_DEVICE.
  case toDevice = "to-device"
  /// DMA_FROM_DEVICE.
  case fromDevice = "from-device"
  /// DMA_BIDIRECTIONAL.
  case bidirectional
}
