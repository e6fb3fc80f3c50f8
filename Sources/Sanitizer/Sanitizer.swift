import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Synchronization

/// Something the sanitizer saw that is not a report: an I/O page fault, a
/// kernel message.
package struct MachineEventRecord: Sendable, Hashable {
  package enum Kind: String, Sendable, Hashable {
    case fault = "io_page_fault"
    case message = "printk"
  }
  package var kind: Kind
  /// The line the kernel (or its trace) would print.
  package var text: String
  package var device: String?
  package var iova: IOVA?
  package var statementIndex: Int
  package var task: EmulatedTask
  /// The emulated clock when it was printed (nanoseconds since boot).
  package var time: UInt64 = 0
}

/// One item of the sanitizer's output, in the order it happened.
package enum SanitizerOutput: Sendable, Hashable {
  case report(Report)
  case event(MachineEventRecord)
}

/// The IOMMU sanitizer: the kernel's IOMMU_DEBUG_PAGEALLOC algorithm (or
/// an exact variant), the emulator's own checks and the ground truth,
/// attached to the machine's hooks.
package final class Sanitizer: Sendable {
  package struct Configuration: Sendable, Hashable {
    /// `emu.dma_assert_idle=1`: the CPU-write check of `debug_dma_assert_idle()` (Linux 3.19 to 5.9).
    package var dmaAssertIdle = false
    /// `iommu.debug_pagealloc=1`.
    package var debugPageAlloc: Bool = true
    /// `page_owner=on`.
    package var pageOwner: Bool = true
    package var accounting: MapAccounting = .exact
    /// The largest count before `map-count-overflow`. The kernel's `atomic_t`
    /// wraps past `INT_MAX`, and `iommu_debug_inc_page()` WARNs when the new
    /// count is not positive; counting to `INT_MAX` and no further is that.
    package var mapCountMax: Int64 = Int64(Int32.max)
    /// The driver (module) name for DMA-API messages.
    package var driverName: String = "iommusan"
    /// Kernel accounting visits every granule of a map or unmap: the most
    /// granules one call may cover before the sanitizer gives up on it and
    /// sets `resourceLimitError` (docs/Robustness.md).
    package var maximumKernelGranules: UInt64 = 1 << 22
    /// Events kept per page for reports' history tails; nil keeps every
    /// event (`run --history`).
    package var historyDepth: Int? = 16
    package init() {}
  }

  package let machine: Machine
  package let configuration: Configuration
  let counts: MapCounts

  struct State {
    var output: [SanitizerOutput] = []
    var reportCounts: [ReportKind: Int] = [:]
    /// `WARN_ON_ONCE` sites that fired.
    var warnedOnce: Set<String> = []
    /// DMA-API debug entries by (device, dma address).
    var dmaEntries: [DMAKey: DMAEntry] = [:]
    /// Where the entries lie (physical ranges, DMA addresses), kept with `dmaEntries`.
    var dmaIndex = DMAEntryIndex()
    /// The first emulator resource limit hit; the counts are no longer exact.
    var resourceLimitError: String?
    /// `bad_page()`'s burst counters.
    var badPageLimit = BadPageRateLimit()
  }
  struct DMAKey: Hashable {
    var device: String
    var address: UInt64
  }
  struct DMAEntry {
    var size: UInt64
    var direction: DMADirection
    var phys: PhysicalAddress
    /// The entry's `stack_entries`: where it was mapped, innermost first.
    var stack: [KernelFrame] = []
    /// For an entry of `dma_map_sg()`: the `nents` passed and the segments mapped (`sg_call_ents`, `sg_mapped_ents`).
    var sgCallEntries: Int? = nil
    var sgMappedEntries = 0
    /// The kmalloc object the mapping was made for (its serial), if it starts in one.
    var object: SlabObject? = nil

    /// What an entry costs: its dictionary slot (key and entry) at the
    /// dictionary's lowest load, and its stack.
    var residentBytes: Int { 576 + 64 * stack.count }
  }
  let state = Mutex(State())

  /// Gives back what the DMA-API debug entries were charged (the map
  /// counts give back their sections themselves).
  deinit {
    let budget = machine.memory.budget
    budget.release(state.withLock { $0.dmaEntries.values.reduce(0) { $0 + $1.residentBytes } }, .dmaDebugEntries)
    budget.release(origins.withLock { $0.chargedBytes }, .mappingOrigins)
    budget.release(history.withLock { $0.chargedBytes }, .pageHistory)
  }

  /// Where the live mappings were made, for reports that name a page.
  let origins: Mutex<MappingOrigins>
  /// The life of each page, for `--history` and reports' history tails.
  let history: Mutex<PageHistory>

  package init(machine: Machine, configuration: Configuration = Configuration()) {
    self.machine = machine
    self.configuration = configuration
    self.history = Mutex(PageHistory(depth: configuration.historyDepth, budget: machine.memory.budget))
    self.origins = Mutex(MappingOrigins(budget: machine.memory.budget))
    let online = machine.memory.onlineRanges
    self.counts = MapCounts(
      span: (online.first?.lowerBound ?? 0)..<(online.last?.upperBound ?? 0), ceiling: configuration.mapCountMax,
      budget: machine.memory.budget)
    self.onlineRange = online.count == 1 ? online[0] : nil
    self.pageShift = machine.memory.pageShift
    self.pageSize = machine.memory.pageSize
    self.kernelHooksInert =
      configuration.accounting == .kernel && !machine.policy.kernel.has(.debugPageallocHooks)
  }

  /// Kernel accounting of a 7.0.0-era kernel (`emu.kernel=`, before
  /// b948a8722848 and 0735c54804c7): `iommu_debug_map()` is never reached,
  /// and `iommu_debug_unmap_begin()` only from `__iommu_unmap_domain_pgtbl()`,
  /// which iommupt domains (vtd, amd) do not take. Exact accounting is
  /// iommusan's own and sees every map and unmap in every version.
  let kernelHooksInert: Bool

  /// The online RAM when it is one range (the common case), for a fast clip.
  let onlineRange: Range<UInt64>?

  /// Attaches to the machine's hooks. The IOMMU_DEBUG_PAGEALLOC hooks are
  /// attached only with `iommu.debug_pagealloc=1` (the static key) and
  /// exist only when the package is built with the `DebugPageAlloc` trait.
  package func attach() {
    machine.observer = self
    machine.memory.observer = self
    #if IOMMU_DEBUG_PAGEALLOC
      if configuration.debugPageAlloc { machine.debugHooks = self }
    #endif
  }

  /// Attaches only the IOMMU_DEBUG_PAGEALLOC hooks (map/unmap accounting),
  /// as a kernel with that option and nothing else has: what `bench` measures.
  package func attachDebugHooksOnly() {
    #if IOMMU_DEBUG_PAGEALLOC
      if configuration.debugPageAlloc { machine.debugHooks = self }
    #endif
  }

  /// Whether this build has the IOMMU_DEBUG_PAGEALLOC hooks at all.
  package static var isCompiledIn: Bool {
    #if IOMMU_DEBUG_PAGEALLOC
      true
    #else
      false
    #endif
  }

  /// The CPU page shift and size.
  let pageShift: Int
  let pageSize: UInt64

  // MARK: - Output

  func emit(_ report: Report) {
    var report = report
    report.time = machine.clock.now
    state.withLock {
      $0.output.append(.report(report))
      $0.reportCounts[report.kind, default: 0] += 1
    }
  }

  func emit(_ event: MachineEventRecord) {
    var event = event
    event.time = machine.clock.now
    state.withLock { $0.output.append(.event(event)) }
  }

  /// Takes everything emitted since the last call, each report completed
  /// with the mappings of its page.
  package func drain() -> [SanitizerOutput] {
    var out = state.withLock { s in
      let o = s.output
      s.output.removeAll(keepingCapacity: true)
      return o
    }
    for i in out.indices {
      guard case .report(var r) = out[i], let pfn = r.pfn else { continue }
      addMappings(&r)
      r.history = history.withLock { $0.events(of: pfn.rawValue, last: 16) }
      out[i] = .report(r)
    }
    return out
  }

  /// Every recorded event of a page, oldest first.
  package func history(of pfn: PFN) -> [PageHistoryEvent] { history.withLock { $0.events(of: pfn.rawValue) } }

  /// Records an event for `count` pages from `pfn`.
  func note(_ what: PageHistory.Entry.What, pfn: UInt64, count: UInt64 = 1, context: CallContext) {
    history.withLock { $0.record(what, pages: pfn, count: count, context: context) }
  }

  /// Reports emitted so far, by kind.
  package var reportCounts: [ReportKind: Int] { state.withLock { $0.reportCounts } }

  /// Why the sanitizer stopped counting (a resource limit), or nil. The runner
  /// stops the fixture with this message.
  package var resourceLimitError: String? { state.withLock { $0.resourceLimitError } }

  /// Records that a resource limit was hit (the first one is kept).
  func resourceLimit(_ message: String) {
    state.withLock { if $0.resourceLimitError == nil { $0.resourceLimitError = message } }
  }

  /// True the first time a `WARN_ON_ONCE` site fires.
  func once(_ site: String) -> Bool { state.withLock { $0.warnedOnce.insert(site).inserted } }

  // MARK: - Queries (tests, stats)

  /// The map count of one CPU page.
  package func mapCount(_ pfn: PFN) -> Int64 { counts.count(page: pfn.rawValue) }
  /// Whether every page's count is zero.
  var allCountsZero: Bool { counts.isEmpty }
  /// How many radix pieces the counts use.
  package var countPieces: Int { counts.pieceCount }
}
