/// The shared test support (`Tests/IOMMUSanTestSupport`), for every file of this target.
@_exported import IOMMUSanTestSupport
import KernelTypes
import Testing

@testable import MemoryModel

/// The default RAM base as a PFN (0x8000_0000 >> 12).
let basePFN: UInt64 = 0x8000_0000 >> 12

/// A machine's memory of `size` bytes at the default base.
func makeMemory(
  size: UInt64 = 1 << 30, pageShift: Int = 12, mmio: [ClosedRange<UInt64>] = [], offline: [ClosedRange<UInt64>] = []
) -> PhysicalMemory {
  PhysicalMemory(
    config: MemoryConfiguration(size: size, page: PageSize(shift: pageShift)!, mmio: mmio, offline: offline))
}
