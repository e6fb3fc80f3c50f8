import Dispatch
import FixtureRunner
import Foundation
import IOMMU
import KernelTypes
import MemoryModel
import Synchronization
import Testing

@testable import Sanitizer

/// Thread safety beyond the map counts (SanitizerTests.ConcurrencyTests):
/// what `check --jobs N` does, and one machine driven from several threads
/// through the DMA API, device accesses, ATS and timers. Run under
/// ThreadSanitizer by `.ci/run` (`swift test --sanitize=thread --filter ConcurrencyTests`).
@Suite struct RunnerConcurrencyTests {
  /// `iommusan check --jobs 4`: fixtures run on four threads give the same
  /// output as one after the other.
  @Test func corpusInParallelMatchesSequential() {
    let files = corpus.map { repositoryRoot + "/" + $0 }
    let render = RunOutputRenderer(format: .json)
    let sequential = files.map { render.stdout(FixtureRunner.run(path: $0)) }
    let parallel = Slots(count: files.count)
    let next = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 4) { _ in
      while true {
        let i = next.add(1, ordering: .relaxed).oldValue
        guard i < files.count else { return }
        parallel.set(i, render.stdout(FixtureRunner.run(path: files[i])))
      }
    }
    let results = parallel.items
    for (i, file) in files.enumerated() { #expect(results[i] == sequential[i], "\(file)") }
  }

  /// Four devices behind one IOMMU share its caches, the allocator, the
  /// memory contents, the flush queue timers and the sanitizer: each thread
  /// maps, accesses, translates, unmaps and frees, and moves time on.
  @Test(arguments: [true, false])
  func sharedMachineUnderDMATraffic(_ strict: Bool) throws {
    let machine = Machine(
      memory: PhysicalMemory(config: MemoryConfiguration(size: 64 << 20)), policy: MachinePolicy(strict: strict))
    let sanitizer = Sanitizer(machine: machine)
    sanitizer.attach()
    defer { machine.tearDown() }
    let boot = CallContext(
      task: EmulatedTask(pid: 1, tgid: 1, comm: "probe"), caller: KernelFrame("probe", isDriver: true))
    let unit = try machine.addIOMMU(name: "vtd0", model: .vtd, iotlbEntries: 16, walkCacheEntries: 8)
    var devices: [Device] = []
    for i in 0..<4 {
      devices.append(try machine.addDevice(name: "nic\(i)", unit: unit, ats: i % 2 == 0, context: boot))
    }
    let devs = devices
    let accesses = Atomic<Int>(0)
    DispatchQueue.concurrentPerform(iterations: 4) { i in
      let ctx = CallContext(
        task: EmulatedTask(pid: 100 + i, tgid: 100 + i, comm: "t\(i)"), caller: KernelFrame("worker", isDriver: true))
      for round in 0..<100 {
        guard let block = try? machine.memory.allocPages(order: round % 3, context: ctx) else { continue }
        let phys = block.head.address(pageShift: machine.memory.pageShift)
        if let iova = try? machine.dmaMap(
          devs[i], phys: phys, size: block.pageCount << 12, direction: .bidirectional, context: ctx)
        {
          _ = machine.deviceAccess(
            devs[i], iova: iova, pasid: nil, isWrite: true, length: 8, value: UInt64(round), context: ctx)
          _ = machine.atsTranslate(devs[i], iova: iova, pasid: nil, context: ctx)
          let read = machine.deviceAccess(
            devs[i], iova: iova, pasid: nil, isWrite: false, length: 8, value: 0, context: ctx)
          if read.value == UInt64(round) { accesses.add(1, ordering: .relaxed) }
          machine.dmaUnmap(devs[i], dmaAddress: iova, size: nil, direction: nil, context: ctx)
        }
        try? machine.memory.freePages(block, context: ctx)
        machine.advance(by: 3_000_000, context: ctx)
        _ = sanitizer.drain()
      }
    }
    machine.advance(by: 1_000_000_000, context: boot)
    _ = sanitizer.drain()
    #expect(sanitizer.allCountsZero)
    #expect(accesses.load(ordering: .relaxed) == 400, "every device read back what it wrote")
  }
}

/// Results written by several threads (an NSLock: ThreadSanitizer sees pthread locks).
final class Slots: @unchecked Sendable {
  private let lock = NSLock()
  private var slots: [String?]
  init(count: Int) { slots = Array(repeating: nil, count: count) }
  func set(_ i: Int, _ value: String) {
    lock.lock()
    slots[i] = value
    lock.unlock()
  }
  var items: [String?] {
    lock.lock()
    defer { lock.unlock() }
    return slots
  }
}

extension RunnerConcurrencyTests {
  /// Emulated time moved by several threads at once only goes forward (a
  /// check-then-subtract on the clock used to trap when another thread
  /// moved it in between).
  @Test func clockAdvancedFromManyThreads() {
    let machine = Machine(memory: PhysicalMemory(config: MemoryConfiguration(size: 16 << 20)))
    let ctx = CallContext(
      task: EmulatedTask(pid: 1, tgid: 1, comm: "timer"), caller: KernelFrame("timer", isDriver: true))
    DispatchQueue.concurrentPerform(iterations: 4) { _ in
      for _ in 0..<20_000 { machine.advance(by: 1, context: ctx) }
    }
    #expect(machine.clock.now >= 20_000)
    machine.tearDown()
  }
}
