import IOMMU
import KernelTypes
import MemoryModel
import Synchronization

/// Watches a machine beside the sanitizer (through `Machine.addObserver`)
/// and writes what a kernel's ftrace would show of it: `iommu:map`,
/// `iommu:unmap`, `kmem:mm_page_alloc` and `kmem:mm_page_free` lines in the
/// formats of Linux 6.18 (shared/reference/trace-formats-linux-6.18), all on
/// CPU 0, one microsecond apart. It also notes the machine's events that no
/// such line carries, so a differential test can name why the replay of the
/// lines differs from the run.
final class FtraceRecorder: MachineObserver, PageAllocatorObserver {
  /// A model event the trace does not carry, with the CPU pages it concerns.
  struct Untraced: Sendable, Hashable {
    var why: String
    var pages: [ClosedRange<UInt64>]
    func concerns(pfn: UInt64) -> Bool { pages.contains { $0.contains(pfn) } }
  }

  private struct State {
    var lines: [String] = []
    var untraced: [Untraced] = []
  }
  private let state = Mutex(State())
  let pageShift: Int

  init(pageShift: Int) { self.pageShift = pageShift }

  /// The trace so far, one line per event.
  var text: String { state.withLock { $0.lines.map { $0 + "\n" }.joined() } }
  var untraced: [Untraced] { state.withLock { $0.untraced } }

  private func record(_ event: String, _ payload: String, _ context: CallContext) {
    state.withLock { s in
      let n = s.lines.count + 1
      let ts = "\(n / 1_000_000).\(Self.padded(String(n % 1_000_000), 6))"
      let task = "\(context.task.comm)-\(context.task.pid)"
      s.lines.append("\(task) [000] ..... \(ts): \(event): \(payload)")
    }
  }

  private static func padded(_ digits: String, _ width: Int) -> String {
    String(repeating: "0", count: max(0, width - digits.count)) + digits
  }

  /// `0x%016llx`.
  private static func hex16(_ v: UInt64) -> String { "0x" + padded(String(v, radix: 16), 16) }

  /// The CPU pages `[phys, phys + size)` touches (`size` > 0).
  private func pages(_ phys: UInt64, _ size: UInt64) -> ClosedRange<UInt64> {
    let (last, wraps) = phys.addingReportingOverflow(size - 1)
    return (phys >> UInt64(pageShift))...((wraps ? UInt64.max : last) >> UInt64(pageShift))
  }

  // MARK: - Traced events

  func mapped(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    let i = iova.rawValue
    record(
      "map", "IOMMU: iova=\(Self.hex16(i)) - \(Self.hex16(i &+ size)) paddr=\(Self.hex16(phys.rawValue)) size=\(size)",
      context)
  }

  func unmapped(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext) {
    let i = iova.rawValue
    let range = "iova=\(Self.hex16(i)) - \(Self.hex16(i &+ size))"
    record("unmap", "IOMMU: \(range) size=\(size) unmapped_size=\(unmapped)", context)
  }

  /// `page=%p pfn=0x%lx order=%d`, the `struct page` at its vmemmap address
  /// (a null `page=` is a failed allocation to the replay).
  private static func page(_ block: PageBlock) -> String {
    let pfn = block.head.rawValue
    let page = hex16(0xFFFF_EA00_0000_0000 &+ pfn &* 64).dropFirst(2)
    return "page=\(page) pfn=0x\(String(pfn, radix: 16)) order=\(block.order)"
  }

  func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    record("mm_page_alloc", Self.page(block) + " migratetype=0 gfp_flags=GFP_KERNEL", context)
  }

  func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    record("mm_page_free", Self.page(block), context)
  }

  // MARK: - Untraced events

  func mappingsLeft(
    _ domain: Domain, leaves: [RemovedLeaves], reason: LeakReason, device: Device?, freed: Bool, context: CallContext
  ) {
    guard freed else { return }
    let touched = leaves.filter { $0.size > 0 }.map { pages($0.phys.rawValue, $0.size) }
    state.withLock {
      $0.untraced.append(Untraced(why: "domain \(domain.name) freed with mappings left", pages: touched))
    }
  }

  func leavesReplaced(_ domain: Domain, leaves: [RemovedLeaves], context: CallContext) {
    let touched = leaves.filter { $0.size > 0 }.map { pages($0.phys.rawValue, $0.size) }
    state.withLock {
      $0.untraced.append(Untraced(why: "domain \(domain.name): leaves replaced by a block", pages: touched))
    }
  }

  func tablePageFreeing(_ block: PageBlock, domain: Domain, context: CallContext) {}
  func invalidationIssued(_ command: InvalidationCommand, context: CallContext) {}
  func invalidationCompleted(_ command: InvalidationCommand, context: CallContext) {}
  func atcInvalidationTimedOut(_ command: InvalidationCommand, device: Device, context: CallContext) {}
  func deviceAccessed(_ event: DeviceAccessEvent) {}
  func dmaMapped(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress,
    context: CallContext
  ) {}
  func dmaUnmapping(
    _ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, context: CallContext
  ) {}
  func kernelMessage(_ text: String, context: CallContext) {}
}
