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

  /// The kernel's enumerator (`DMA_TO_DEVICE`), accepted in fixtures as an
  /// alias of the v1 spelling (`to-device`): an iommusan extension.
  package var kernelEnumName: String { "DMA_" + kernelName }

  /// The direction whose kernel enumerator is `name` (`DMA_FROM_DEVICE`).
  package init?(kernelEnumName name: String) {
    guard let found = Self.allCases.first(where: { $0.kernelEnumName == name }) else { return nil }
    self = found
  }

  /// The direction of a `enum dma_data_direction` value (0 to 2); nil for
  /// DMA_NONE (3) and anything else.
  package init?(kernelValue v: UInt64) {
    switch v {
    case 0: self = .bidirectional
    case 1: self = .toDevice
    case 2: self = .fromDevice
    default: return nil
    }
  }

  /// `dir2name[]` of `kernel/dma/debug.c` for a traced direction (`DMA_NONE` when nil).
  package static func kernelEnumName(_ d: DMADirection?) -> String { d?.kernelEnumName ?? "DMA_NONE" }
}
