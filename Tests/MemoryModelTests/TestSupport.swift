import KernelTypes
import Testing
@testable import MemoryModel

/// SplitMix64: a tiny deterministic generator, so every random test replays
/// the same sequence on every run.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// The driver context every test call runs in.
let ctx = CallContext(
  task: EmulatedTask(pid: 100, tgid: 100, comm: "kunit"), caller: KernelFrame("test_driver", module: "kunit", isDriver: true))

/// The errno a call fails with, or nil when it succeeds.
func errno<T>(_ body: () throws -> T) -> Errno? {
  do {
    _ = try body()
    return nil
  } catch let error as MachineError {
    return error.errno
  } catch {
    Issue.record("unexpected error \(error)")
    return nil
  }
}

/// The default RAM base as a PFN (0x8000_0000 >> 12).
let basePFN: UInt64 = 0x8000_0000 >> 12

/// A machine's memory of `size` bytes at the default base.
func makeMemory(size: UInt64 = 1 << 30, pageShift: Int = 12, mmio: [ClosedRange<UInt64>] = [], offline: [ClosedRange<UInt64>] = []) -> PhysicalMemory {
  PhysicalMemory(config: MemoryConfiguration(size: size, page: PageSize(shift: pageShift)!, mmio: mmio, offline: offline))
}
