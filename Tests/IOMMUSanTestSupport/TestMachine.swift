import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Sanitizer

/// A machine with a sanitizer attached, for tests.
package struct TestMachine {
  package let machine: Machine
  package let sanitizer: Sanitizer
  package var memory: PhysicalMemory { machine.memory }

  package init(accounting: MapAccounting, memory: UInt64 = 64 << 20, pageShift: Int = 12, strict: Bool = true) {
    let config = MemoryConfiguration(size: memory, page: PageSize(shift: pageShift)!)
    machine = Machine(memory: PhysicalMemory(config: config), policy: MachinePolicy(strict: strict))
    var c = Sanitizer.Configuration()
    c.accounting = accounting
    sanitizer = Sanitizer(machine: machine, configuration: c)
    sanitizer.attach()
  }

  /// The reports emitted since the last call.
  package func reports() -> [Report] {
    sanitizer.drain().compactMap { if case .report(let r) = $0 { return r } else { return nil } }
  }
}
