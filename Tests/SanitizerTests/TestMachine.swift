import IOMMU
import KernelTypes
import MemoryModel
import Reports
@testable import Sanitizer

/// A deterministic PRNG (SplitMix64) for randomized tests.
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

/// A machine with a sanitizer attached, for tests.
struct TestMachine {
  let machine: Machine
  let sanitizer: Sanitizer
  var memory: PhysicalMemory { machine.memory }
  static let ctx = CallContext(task: EmulatedTask(pid: 1, tgid: 1, comm: "test"), caller: KernelFrame("test_driver", isDriver: true))

  init(accounting: MapAccounting, memory: UInt64 = 64 << 20, pageShift: Int = 12, strict: Bool = true) {
    machine = Machine(memory: PhysicalMemory(config: MemoryConfiguration(size: memory, page: PageSize(shift: pageShift)!)), policy: MachinePolicy(strict: strict))
    var c = Sanitizer.Configuration()
    c.accounting = accounting
    sanitizer = Sanitizer(machine: machine, configuration: c)
    sanitizer.attach()
  }

  func reports() -> [Report] {
    sanitizer.drain().compactMap { if case .report(let r) = $0 { return r } else { return nil } }
  }
}
