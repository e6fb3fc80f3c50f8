import IOMMU
import KernelTypes
import MemoryModel
import Sanitizer
import Testing

/// `Machine.addObserver`: one observer takes its slots itself (the hook
/// call costs what it did); a second one beside the sanitizer goes through
/// an `ObserverFanOut` that forwards every hook to both, in order.
@Suite struct ObserverFanOutTests {
  @Test func aLoneObserverTakesTheSlots() {
    let machine = Machine(memory: PhysicalMemory(config: MemoryConfiguration(size: 16 << 20)), policy: MachinePolicy())
    defer { machine.tearDown() }
    let recorder = FtraceRecorder(pageShift: 12)
    machine.addObserver(recorder)
    #expect(machine.observer === recorder)
    #expect(machine.memory.observer === recorder)
  }

  @Test func aSecondObserverWatchesBesideTheSanitizer() throws {
    let t = TestMachine(accounting: .exact)
    defer { t.machine.tearDown() }
    let recorder = FtraceRecorder(pageShift: 12)
    t.machine.addObserver(recorder)
    let fanOut = try #require(t.machine.observer as? ObserverFanOut)
    #expect(t.machine.memory.observer === fanOut)
    let both = [ObjectIdentifier(t.sanitizer), ObjectIdentifier(recorder)]
    #expect(fanOut.machineObservers.map(ObjectIdentifier.init) == both)
    #expect(fanOut.pageObservers.map(ObjectIdentifier.init) == both)
    // A third one joins the same list rather than nesting fan-outs.
    let third = FtraceRecorder(pageShift: 12)
    t.machine.addObserver(third)
    #expect((t.machine.observer as? ObserverFanOut)?.machineObservers.count == 3)

    // Both hear every hook: the sanitizer reports the page freed while
    // mapped, the recorders trace the allocation, the map and the free.
    let unit = try t.machine.addIOMMU(name: "vtd0", model: .vtd)
    let domain = try t.machine.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let page = try t.memory.allocPages(order: 0, context: ctx)
    try domain.map(iova: IOVA(0x1000), phys: page.head.address(pageShift: 12), size: 4096, context: ctx)
    try t.memory.freePages(page, context: ctx)
    #expect(t.reports().map(\.kind) == [.freedWhileMapped])
    for r in [recorder, third] {
      let events = r.text.split(separator: "\n").map { $0.split(separator: ": ")[1] }
      #expect(events.suffix(3) == ["mm_page_alloc", "map", "mm_page_free"])
    }
  }
}
