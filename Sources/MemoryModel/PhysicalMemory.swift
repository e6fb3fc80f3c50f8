import KernelTypes
import Synchronization

/// Hooks the page allocator calls, as `post_alloc_hook()` and
/// `free_pages_prepare()` call the kernel's debug hooks.
package protocol PageAllocatorObserver: AnyObject, Sendable {
  /// A block is being handed out; page_owner still shows the previous owner.
  /// The corresponding Linux function is `post_alloc_hook()`.
  func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext)
  /// A block is being freed; page_owner already records the free.
  /// The corresponding Linux function is `free_pages_prepare()`.
  func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext)
  /// A free of a block that is not allocated: freed already (`last` is its
  /// record, or that of whoever owns the page now) or never allocated
  /// (`last` is nil). The block stays as it is. With CONFIG_DEBUG_VM the
  /// kernel stops in `put_page_testzero()`'s `VM_BUG_ON_PAGE()`.
  func badFree(_ block: PageBlock, last: BlockRecord?, stack: [KernelFrame], context: CallContext)
  /// A free of an allocated block with another order than it was allocated
  /// with (`__free_pages(page, order)` of `allocated.block`). What happened
  /// is in `outcome`.
  func wrongOrderFree(
    _ allocated: BlockRecord, order: Int, outcome: WrongOrderFree, stack: [KernelFrame], context: CallContext)
}

extension PageAllocatorObserver {
  package func badFree(_ block: PageBlock, last: BlockRecord?, stack: [KernelFrame], context: CallContext) {}
  package func wrongOrderFree(
    _ allocated: BlockRecord, order: Int, outcome: WrongOrderFree, stack: [KernelFrame], context: CallContext
  ) {}
}

/// What `__free_pages()` of an allocated block with the wrong order does.
/// The block was allocated without `__GFP_COMP`, so nothing records its
/// order: `free_pages_prepare()` checks the pages it is given.
package enum WrongOrderFree: Sendable {
  /// A smaller order: the first 2^order pages go back to the buddy lists
  /// and the rest of the block stays allocated with no one to free it.
  case leaked(pages: UInt64)
  /// A larger order whose extra pages include pages in the state
  /// `free_pages_prepare()` rejects (`free_page_is_bad()`): each gets a
  /// `bad_page()` report and nothing is freed; the block leaks. A free
  /// block's head among them loses PageBuddy (`bad_page()` resets it): it
  /// stays free, merges with no buddy, and a later check passes it.
  case badPages([BadPage])
  /// A larger order whose extra pages all pass the check (tail pages of
  /// free or allocated blocks): a kernel would put pages it does not own on
  /// the buddy lists. The emulator frees only the block itself.
  case foreignPages(pages: UInt64)
}

/// A page `free_pages_prepare()` finds in a bad state, and why
/// (`page_bad_reason()`).
package struct BadPage: Sendable {
  package var pfn: PFN
  /// `nonzero mapcount` (the head of a free buddy block: its PGTY_buddy
  /// page type overlays `_mapcount`) or `nonzero _refcount` (the head of
  /// another allocation).
  package var reason: String
}

/// Emulated physical memory: RAM, the buddy allocator, page_owner records,
/// page_ext availability and byte contents.
package final class PhysicalMemory: Sendable {
  package let config: MemoryConfiguration
  package let pageShift: Int
  package let pageSize: UInt64
  package let clock: EmulatedClock
  /// Online RAM as sorted PFN ranges: the pages that have a page_ext.
  package let onlineRanges: [Range<UInt64>]

  private struct State {
    var buddy: BuddyAllocator
    /// Keyed by `head << 4 | order`.
    var records: [UInt64: BlockRecord] = [:]
    var allocatedBlocks: Int = 0
  }
  private let state: Mutex<State>
  private let epoch = Atomic<UInt64>(1)
  let contents: MemoryContents
  /// The same object without reference counting, for the page-table fast
  /// paths that every thread takes (`contents` keeps it alive).
  private let fastContents: Unmanaged<MemoryContents>
  /// The most bytes the machine may keep (`budget`), or nil for no limit.
  package let residentLimit: UInt64?
  /// The account of everything the machine keeps, against `residentLimit`:
  /// frames, page records, and what the IOMMU model and the sanitizer charge.
  package let budget: ResidentBudget

  /// The observer, set once before the first allocation.
  @exclusivity(unchecked) package nonisolated(unsafe) var observer: (any PageAllocatorObserver)?
  /// Told at each `KernelStep` of the machine (`iommusan explore`), set once
  /// before the first statement; nil in a plain run.
  @exclusivity(unchecked) package nonisolated(unsafe) var stepObserver: (any KernelStepObserver)?

  package init(config: MemoryConfiguration, clock: EmulatedClock = EmulatedClock(), residentLimit: UInt64? = nil) {
    self.config = config
    self.residentLimit = residentLimit
    self.budget = ResidentBudget(limit: residentLimit ?? .max)
    self.contents = MemoryContents(budget: budget)
    self.fastContents = Unmanaged.passUnretained(self.contents)
    self.pageShift = config.pageShift
    self.pageSize = config.pageSize
    self.clock = clock
    self.onlineRanges = config.onlineRanges()
    self.state = Mutex(State(buddy: BuddyAllocator(ranges: onlineRanges)))
  }

  /// What one page record costs: the record, its two stacks and its
  /// dictionary slot (measured: about 990 bytes for a block a fixture
  /// statement allocated, its page history apart).
  static let recordBytes = 1024

  /// The current allocation epoch. Every allocation takes a new one.
  package var currentEpoch: UInt64 { epoch.load(ordering: .acquiring) }

  // MARK: - Page state

  /// Whether `pfn` is online RAM and so has a page_ext.
  /// The corresponding Linux function is `page_ext_from_phys()`.
  package func hasPageExt(_ pfn: PFN) -> Bool {
    var lo = 0
    var hi = onlineRanges.count
    while lo < hi {
      let mid = (lo + hi) / 2
      let r = onlineRanges[mid]
      if pfn.rawValue < r.lowerBound {
        hi = mid
      } else if pfn.rawValue >= r.upperBound {
        lo = mid + 1
      } else {
        return true
      }
    }
    return false
  }

  /// Whether a physical address is RAM (online or offline): it has a struct page.
  package func isRAM(_ phys: PhysicalAddress) -> Bool {
    guard phys >= config.base, phys.rawValue - config.base.rawValue < config.size else { return false }
    return !config.mmio.contains { $0.contains(phys.rawValue) }
  }

  package func state(of pfn: PFN) -> PageState {
    let phys = pfn.rawValue << UInt64(pageShift)
    guard isRAM(PhysicalAddress(phys)) else { return .notRAM }
    guard hasPageExt(pfn) else { return .offline }
    guard let r = record(containing: pfn), r.isAllocated else { return .free }
    return .allocated(generation: r.generation, use: r.use)
  }

  /// The most recent allocator record of the block holding `pfn`.
  package func record(containing pfn: PFN) -> BlockRecord? {
    state.withLock { findRecord($0, pfn.rawValue) }
  }

  private func findRecord(_ s: State, _ pfn: UInt64) -> BlockRecord? {
    var best: BlockRecord?
    for o in 0...BuddyAllocator.maxOrder {
      let head = pfn & ~((1 << UInt64(o)) - 1)
      if let r = s.records[head << 4 | UInt64(o)], best == nil || r.generation > best!.generation { best = r }
    }
    return best
  }

  package var freePageCount: UInt64 { state.withLock { $0.buddy.freePages } }
  package var allocatedBlockCount: Int { state.withLock { $0.allocatedBlocks } }
  package var residentFrames: Int { contents.residentFrames }
  /// Whether something was refused because `residentLimit` was reached. The
  /// emulation is then no longer faithful: the runner stops the fixture.
  package var residentLimitReached: Bool { budget.limitReached }

  // MARK: - Allocation

  /// Allocates 2^order pages.
  /// The corresponding Linux function is `alloc_pages()`.
  package func allocPages(
    order: Int, gfp: GFPFlags = .kernel, use: PageUse = .data, context: CallContext, stack: [KernelFrame]? = nil
  ) throws(MachineError) -> PageBlock {
    guard order >= 0 && order <= BuddyAllocator.maxOrder else {
      // The kernel WARN_ON_ONCEs and returns NULL: a driver sees ENOMEM.
      throw MachineError(
        .ENOMEM,
        "order \(order) is not in 0...MAX_PAGE_ORDER (\(BuddyAllocator.maxOrder)): WARN_ON_ONCE in __alloc_pages")
    }
    guard !budget.limitReached else { throw .residentLimit }
    let taken = state.withLock { s -> Result<UInt64, MachineError>? in
      guard let pfn = s.buddy.allocate(order: order) else { return nil }
      // A block's first allocation adds its page record, kept from then on.
      if s.records[pfn << 4 | UInt64(order)] == nil, !budget.charge(Self.recordBytes, .pageRecords) {
        s.buddy.free(pfn, order: order)
        return .failure(.residentLimit)
      }
      return .success(pfn)
    }
    guard let taken else { throw MachineError(.ENOMEM, "no free block of order \(order)") }
    let pfn: UInt64
    switch taken {
    case .success(let p): pfn = p
    case .failure(let e): throw e
    }
    let block = PageBlock(head: PFN(pfn), order: order)
    let allocStack =
      stack
      ?? context.chain("post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof", "alloc_pages_noprof")
    observer?.postAllocHook(block, use: use, stack: allocStack, context: context)
    let gen = epoch.add(1, ordering: .acquiringAndReleasing).newValue
    var record = BlockRecord(
      block: block, allocOrder: order, use: use, gfp: gfp, isAllocated: true, generation: gen, allocTask: context.task,
      allocTime: clock.now,
      allocStack: allocStack,
      freeTask: nil, freeTime: 0, freeStack: [], freeEpoch: 0)
    state.withLock {
      // page_owner keeps the last free of a page across its next
      // allocation (`__set_page_owner()` leaves `free_handle` alone).
      if let last = findRecord($0, pfn), !last.isAllocated {
        record.freeTask = last.freeTask
        record.freeTime = last.freeTime
        record.freeStack = last.freeStack
        record.freeEpoch = last.freeEpoch
      }
      $0.records[pfn << 4 | UInt64(order)] = record
      $0.allocatedBlocks += 1
    }
    if gfp.mask & 0x100 != 0 { contents.zero(pfn << UInt64(pageShift), length: block.pageCount << UInt64(pageShift)) }
    return block
  }

  /// Frees a block that `allocPages` returned. A block that is not
  /// allocated (freed already), or whose owner is no longer the allocation
  /// of `generation` when one is given (freed and handed out again), goes
  /// to the observer's `badFree` hook and stays as it is; without an
  /// observer it is an EINVAL. The head of an allocated block with another
  /// order goes to `freeWithWrongOrder` (with an observer).
  /// The corresponding Linux function is `__free_pages()`.
  package func freePages(
    _ block: PageBlock, generation: UInt64? = nil, context: CallContext, stack: [KernelFrame]? = nil
  ) throws(MachineError) {
    guard block.order >= 0 && block.order <= BuddyAllocator.maxOrder else {
      throw MachineError(.EINVAL, "order \(block.order) is above MAX_PAGE_ORDER \(BuddyAllocator.maxOrder)")
    }
    let key = block.head.rawValue << 4 | UInt64(block.order)
    let freeStack = stack ?? context.chain("free_pages_prepare", "__free_frozen_pages", "__free_pages")
    // A free takes a new epoch too, so that the ground truth can tell a
    // translation made before a page's free from one made after it.
    let freeEpoch = epoch.add(1, ordering: .acquiringAndReleasing).newValue
    let outcome = state.withLock { s -> Result<PageUse, BadFree> in
      guard var r = s.records[key], r.isAllocated, findRecord(s, block.head.rawValue)?.generation == r.generation,
        generation.map({ $0 == r.generation }) ?? true
      else {
        return .failure(BadFree(last: findRecord(s, block.head.rawValue)))
      }
      r.isAllocated = false
      r.freeTask = context.task
      r.freeTime = clock.now
      r.freeStack = freeStack
      r.freeEpoch = freeEpoch
      s.records[key] = r
      s.allocatedBlocks -= 1
      return .success(r.use)
    }
    let use: PageUse
    switch outcome {
    case .success(let u): use = u
    case .failure(let bad):
      let badStack = stack ?? context.chain("__free_pages")
      guard let observer else {
        throw MachineError(.EINVAL, "pfn \(block.head) order \(block.order) is not an allocated block (double free?)")
      }
      if let last = bad.last, last.isAllocated, last.block.head == block.head, last.block.order != block.order,
        generation.map({ $0 == last.generation }) ?? true
      {
        try freeWithWrongOrder(last, order: block.order, context: context, stack: stack)
        return
      }
      observer.badFree(block, last: bad.last, stack: badStack, context: context)
      return
    }
    observer?.freePagesPrepare(block, use: use, stack: freeStack, context: context)
    stepObserver?.kernelStep(.freePagesChecked)
    state.withLock { $0.buddy.free(block.head.rawValue, order: block.order) }
  }

  private struct BadFree: Error {
    var last: BlockRecord?
  }

  /// `__free_pages(page, order)` of `allocated` with the wrong order.
  /// The corresponding Linux function is `free_pages_prepare()`.
  private func freeWithWrongOrder(
    _ allocated: BlockRecord, order: Int, context: CallContext, stack: [KernelFrame]?
  ) throws(MachineError) {
    let freeStack = stack ?? context.chain("free_pages_prepare", "__free_frozen_pages", "__free_pages")
    let head = allocated.block.head.rawValue
    let outcome: WrongOrderFree
    if order < allocated.block.order {
      // The first 2^order pages are freed; the remainder, as aligned
      // blocks of orders order ..< allocated order, stays allocated.
      let freed = PageBlock(head: allocated.block.head, order: order)
      let freeEpoch = epoch.add(1, ordering: .acquiringAndReleasing).newValue
      let leaked = (allocated.block.pageCount) - freed.pageCount
      state.withLock { s in
        var r = allocated
        r.isAllocated = false
        s.records[head << 4 | UInt64(allocated.block.order)] = r
        for o in order..<allocated.block.order {
          var piece = allocated
          piece.block = PageBlock(head: PFN(head + (1 << UInt64(o))), order: o)
          piece.generation = epoch.add(1, ordering: .acquiringAndReleasing).newValue
          s.records[piece.block.head.rawValue << 4 | UInt64(o)] = piece
          s.allocatedBlocks += 1
        }
        var f = allocated
        f.block = freed
        f.isAllocated = false
        f.generation = epoch.add(1, ordering: .acquiringAndReleasing).newValue
        f.freeTask = context.task
        f.freeTime = clock.now
        f.freeStack = freeStack
        f.freeEpoch = freeEpoch
        s.records[head << 4 | UInt64(order)] = f
        s.allocatedBlocks -= 1
      }
      observer?.freePagesPrepare(freed, use: allocated.use, stack: freeStack, context: context)
      state.withLock { $0.buddy.free(head, order: order) }
      outcome = .leaked(pages: leaked)
    } else {
      let end = head + (1 << UInt64(order))
      let bad: [BadPage] = state.withLock { s in
        var bad: [BadPage] = []
        var pfn = head + allocated.block.pageCount
        while pfn < end {
          let owner = findRecord(s, pfn)
          if let owner, owner.isAllocated, owner.block.head.rawValue == pfn {
            bad.append(BadPage(pfn: PFN(pfn), reason: "nonzero _refcount"))
          } else if s.buddy.isFreeBlockHead(pfn) {
            bad.append(BadPage(pfn: PFN(pfn), reason: "nonzero mapcount"))
            // bad_page(): "Leave bad fields for debug, except PageBuddy
            // could make trouble": the free block loses PageBuddy.
            s.buddy.clearBuddyFlag(pfn)
          }
          pfn += 1
        }
        return bad
      }
      if bad.isEmpty {
        outcome = .foreignPages(pages: (1 << UInt64(order)) - allocated.block.pageCount)
      } else {
        outcome = .badPages(bad)
      }
    }
    observer?.wrongOrderFree(allocated, order: order, outcome: outcome, stack: freeStack, context: context)
    if case .foreignPages = outcome {
      try freePages(allocated.block, generation: allocated.generation, context: context, stack: stack)
    }
  }

  // MARK: - Contents

  package func read64(_ phys: PhysicalAddress) -> UInt64 {
    fastContents._withUnsafeGuaranteedRef { $0.read64(phys.rawValue) }
  }
  package func write64(_ phys: PhysicalAddress, _ value: UInt64) {
    fastContents._withUnsafeGuaranteedRef { $0.write64(phys.rawValue, value) }
  }
  package func read(_ phys: PhysicalAddress, width: Int) -> UInt64 { contents.read(phys.rawValue, width: width) }
  package func write(_ phys: PhysicalAddress, value: UInt64, width: Int) {
    contents.write(phys.rawValue, value: value, width: width)
  }
  /// `length` bytes from `phys`, `value`'s eight bytes repeated (a device's write).
  package func writeRepeated(_ phys: PhysicalAddress, length: UInt64, value: UInt64) {
    contents.writeRepeated(phys.rawValue, length: length, value: value)
  }
  package func fill(_ block: PageBlock, value: UInt64, width: Int) {
    contents.fill(
      block.head.rawValue << UInt64(pageShift), length: block.pageCount << UInt64(pageShift), value: value, width: width
    )
  }
  package func zero(_ phys: PhysicalAddress, length: UInt64) { contents.zero(phys.rawValue, length: length) }
  /// The words of the 4 KiB frame holding `phys`, under one lock (page-table
  /// fast paths). `body` must not access memory itself.
  /// nil when the frame holds no data and `create` is false or the resident
  /// limit refused it.
  package func withFrame<R>(_ phys: PhysicalAddress, create: Bool, _ body: (inout ContiguousArray<UInt64>) -> R) -> R? {
    fastContents._withUnsafeGuaranteedRef { $0.withFrame(phys.rawValue, create: create, body) }
  }
}
