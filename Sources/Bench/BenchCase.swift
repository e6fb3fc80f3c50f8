import IOMMU
import KernelTypes
import MemoryModel

/// One measured case: dma_map_benchmark's parameters.
package struct BenchCase: Hashable, Sendable {
  package var threads = 1
  package var granulePages: UInt64 = 1
  package var sgMode = false
  package var direction: DMADirection = .bidirectional
  package var delayNS: UInt64 = 0
  package var domains = 1

  package init() {}

  package var label: String { ByteSize.describe(granulePages << 12) }
}
