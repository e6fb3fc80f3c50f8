import Dispatch
import IOMMU
import KernelTypes
import MemoryModel
import Synchronization
import Testing

@testable import Sanitizer

@Suite struct ConcurrencyTests {
  /// Driver symbols made on many threads at once (explore's tasks, check's
  /// jobs) are those made on one: the skip regex is compiled once and
  /// matched under its lock (run under ThreadSanitizer by .ci/run).
  @Test func syzkallerSymbolsFromManyThreads() {
    let names = (0..<64).map { "acme\($0)_alloc_pages_kmalloc_buf\($0)" }
    // Under ThreadSanitizer, the module's pthread-based Mutex, which TSan sees.
    #if IOMMUSAN_TSAN
      let results = TSanMutex([String: String]())
    #else
      let results = Mutex([String: String]())
    #endif
    DispatchQueue.concurrentPerform(iterations: 8) { t in
      for name in names.shuffled() {
        let symbol = SyzkallerTitle.symbol(name + "_t\(t)")
        #expect(SyzkallerTitle.skipMatch(symbol) == nil)
        results.withLock { $0[name + "_t\(t)"] = symbol }
      }
    }
    for (name, symbol) in results.withLock({ $0 }) {
      #expect(symbol.lowercased() == name.lowercased() && symbol != name)
    }
  }

  /// Threads map and unmap the same shared pages in their own domains (and
  /// in one shared domain); every count is exact at the end: zero.
  @Test(arguments: [2, 4, 8], [MapAccounting.exact, .kernel])
  func countsStayExact(_ threads: Int, _ mode: MapAccounting) throws {
    let t = TestMachine(accounting: mode, memory: 64 << 20)
    let unit = try t.machine.addIOMMU(name: "vtd0", model: .vtd)
    let shared = try t.machine.allocDomain(unit: unit, type: .paging, name: "shared", context: ctx)
    var domains: [Domain] = []
    for i in 0..<threads {
      domains.append(try t.machine.allocDomain(unit: unit, type: .paging, name: "d\(i)", context: ctx))
    }
    let pages = try t.memory.allocPages(order: 4, context: ctx)
    let base = pages.head.address(pageShift: 12)
    let doms = domains
    let rounds = 200
    // Every map must succeed and every unmap remove its page, or counts of
    // zero would prove nothing.
    let mapped = Atomic(0)
    let unmappedBytes = Atomic<UInt64>(0)
    DispatchQueue.concurrentPerform(iterations: threads) { i in
      let c = CallContext(
        task: EmulatedTask(pid: 100 + i, tgid: 100 + i, comm: "t\(i)"), caller: KernelFrame("stress", isDriver: true))
      for round in 0..<rounds {
        let page = UInt64((round + i) % 16)
        let iova = IOVA(0x100_0000 + UInt64(round % 8) << 12)
        let sharedIOVA = IOVA(0x1000_0000 + UInt64(i) << 20 + UInt64(round % 4) << 12)
        for (domain, at) in [(doms[i], iova), (shared, sharedIOVA)] {
          if (try? domain.map(iova: at, phys: base.advanced(by: page << 12), size: 4096, context: c)) != nil {
            mapped.add(1, ordering: .relaxed)
          }
        }
        unmappedBytes.add(shared.unmap(iova: sharedIOVA, size: 4096, context: c), ordering: .relaxed)
        unmappedBytes.add(doms[i].unmap(iova: iova, size: 4096, context: c), ordering: .relaxed)
      }
    }
    #expect(mapped.load(ordering: .relaxed) == 2 * threads * rounds)
    #expect(unmappedBytes.load(ordering: .relaxed) == UInt64(2 * threads * rounds) * 4096)
    for p in 0..<16 { #expect(t.sanitizer.mapCount(pages.head.advanced(by: Int64(p))) == 0) }
    try t.memory.freePages(pages, context: ctx)
    #expect(t.reports().filter { $0.kind == .freedWhileMapped || $0.kind == .mapCountUnderflow }.isEmpty)
  }
}
