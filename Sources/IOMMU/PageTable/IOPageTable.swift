import KernelTypes
import MemoryModel

/// A leaf removed by an unmap: what the page table really lost.
package struct RemovedLeaves: Sendable, Hashable {
  package var iova: IOVA
  package var phys: PhysicalAddress
  package var size: UInt64
  /// The size of each leaf in the run.
  package var leafShift: Int
}

/// What an unmap gathered: the range to invalidate, the leaves removed and
/// the table pages to free once the walk caches are clean.
/// The corresponding Linux structure is `struct iommu_iotlb_gather`.
package struct UnmapGather: Sendable {
  package var start: UInt64 = .max
  package var end: UInt64 = 0
  package var removed: [RemovedLeaves] = []
  /// Table pages unlinked from the tree, not yet freed.
  package var freelist: [PageBlock] = []
  /// The IOVA span of each table unlinked whole (io-pgtable-arm flushes its
  /// walks there and adds none of its leaves to the IOTLB gather).
  package var tableRanges: [ClosedRange<UInt64>] = []
  package init() {}
  package var isEmpty: Bool { start > end }

  mutating func add(iova: UInt64, phys: UInt64, size: UInt64, leafShift: Int) {
    start = min(start, iova)
    end = max(end, iova &+ size &- 1)
    if var last = removed.last, last.leafShift == leafShift, last.iova.rawValue &+ last.size == iova,
      last.phys.rawValue &+ last.size == phys
    {
      last.size &+= size
      removed[removed.count - 1] = last
    } else {
      removed.append(RemovedLeaves(iova: IOVA(iova), phys: PhysicalAddress(phys), size: size, leafShift: leafShift))
    }
  }
}

/// Which kernel page-table code an unmap follows.
package enum UnmapAlgorithm: Sendable {
  /// io-pgtable-arm since 6.13 (`__arm_lpae_unmap()`): an entry of the
  /// requested size goes whole, a table with everything under it; a range that
  /// cuts a block is `WARN_ONCE`d and unmaps nothing.
  case ioPgtableARM
  /// The generic page table, VT-d and AMD since 6.19 (`__unmap_range()` in
  /// `generic_pt/iommu_pt.h`): a start inside a leaf unmaps nothing; a table is
  /// walked into, the walk stops at the first empty entry, a table is freed only
  /// when its walk succeeded and the range covers it, and only what was cleared
  /// is returned. A leaf that starts in the range goes whole.
  case genericPT
}

/// Per table page: its depth and the epoch at which each leaf was written
/// (the ground truth's "generation the translation was made for").
///
/// An epoch of 0 means no map wrote a leaf there: the slot is empty, holds
/// a table pointer, or holds a descriptor forged by `cpu_write` or a device.
/// The epochs are kept per 8-byte slot of the whole page, not per entry of
/// the page's own level: a forged descriptor may lead a walk to this page at
/// another level, where the walk reads `base + index * 8` with that level's
/// index, and a level's entries never exceed the slots of a table page.
///
/// Most table pages hold only tables, and a scattered map puts one leaf in a
/// table, so the epochs are kept by need: none, then up to `sparseLeaves`
/// (index, epoch) pairs, then one per slot (4 KiB for 512 slots). Each
/// form is charged to the resident budget (`pageTableMetadata`), and the
/// charge is given back when the page is forgotten.
final class TablePage {
  /// The object and its dictionary slot, charged by the allocator of the page.
  static let baseBytes = 128
  static let sparseLeaves = 8
  /// An array of 16 words with its header.
  static let sparseBytes = 2 * sparseLeaves * 8 + 32
  let block: PageBlock
  let depth: Int
  let slots: Int
  private let budget: ResidentBudget
  /// (index, epoch) pairs, interleaved.
  private var sparse: [UInt64] = []
  private var dense: [UInt64] = []
  private var charged: Int

  /// Takes over a charge of `baseBytes` that the caller made.
  init(block: PageBlock, depth: Int, slots: Int, budget: ResidentBudget) {
    self.block = block
    self.depth = depth
    self.slots = slots
    self.budget = budget
    self.charged = Self.baseBytes
  }

  deinit { budget.release(charged, .pageTableMetadata) }

  /// The epoch of the leaf at `index` (0 if none was recorded).
  func epoch(_ index: Int) -> UInt64 {
    if !dense.isEmpty { return dense[index] }
    var i = 0
    while i < sparse.count {
      if sparse[i] == UInt64(index) { return sparse[i + 1] }
      i += 2
    }
    return 0
  }

  /// Makes room for `count` more leaf epochs; false when the resident limit
  /// refused it (nothing is written then).
  func reserve(_ count: Int) -> Bool {
    if !dense.isEmpty { return true }
    if sparse.count / 2 + count <= Self.sparseLeaves {
      if sparse.isEmpty {
        guard budget.charge(Self.sparseBytes, .pageTableMetadata) else { return false }
        charged += Self.sparseBytes
        sparse.reserveCapacity(2 * Self.sparseLeaves)
      }
      return true
    }
    let denseBytes = slots * 8 + 32
    guard budget.charge(denseBytes, .pageTableMetadata) else { return false }
    charged += denseBytes
    dense = Array(repeating: 0, count: slots)
    var i = 0
    while i < sparse.count {
      dense[Int(sparse[i])] = sparse[i + 1]
      i += 2
    }
    if !sparse.isEmpty {
      budget.release(Self.sparseBytes, .pageTableMetadata)
      charged -= Self.sparseBytes
      sparse = []
    }
    return true
  }

  /// Records a leaf's epoch; `reserve` made room for it.
  func setEpoch(_ index: Int, _ epoch: UInt64) {
    if !dense.isEmpty {
      dense[index] = epoch
      return
    }
    var i = 0
    while i < sparse.count {
      if sparse[i] == UInt64(index) {
        sparse[i + 1] = epoch
        return
      }
      i += 2
    }
    sparse.append(UInt64(index))
    sparse.append(epoch)
  }

  /// Forgets the leaf epoch at `index` (the slot was cleared or rewritten).
  func clearEpoch(_ index: Int) {
    if !dense.isEmpty {
      dense[index] = 0
      return
    }
    var i = 0
    while i < sparse.count {
      if sparse[i] == UInt64(index) {
        sparse.removeSubrange(i..<i + 2)
        return
      }
      i += 2
    }
  }
}

/// A table page reached at one level: the key of the walkers' visited sets.
/// A table reached again at the same level reads the same entries, so each
/// pair is visited once, whatever loops the descriptors make.
struct TableVisit: Hashable {
  var table: UInt64
  var depth: Int
}

/// A page table in emulated memory. Not thread-safe: its owner locks.
///
/// Every walker reads a descriptor as hardware does: the 8 bytes of emulated
/// memory at table base + index * 8, whatever is there, and a walk ends after
/// the format's number of levels (the last level decodes no table pointer).
/// Descriptors may be forged (`cpu_write`, a device's DMA into its own page
/// table) to point at a table of another level, the root itself, another
/// domain's table, a data page or an address outside RAM. The rules that keep
/// every walker in bounds and finite:
/// - per-table records are indexed by slot of the page (`TablePage`);
/// - the walkers that write (map, unmap) and the leak listing follow a
///   descriptor only into this table's own pages, at whatever level; map
///   fails with EFAULT and unmap stops where one leads elsewhere;
/// - recursive walkers visit each (table, level) pair once (`TableVisit`), and
///   freeing visits each own table page once, so loops cost nothing extra.
final class IOPageTable {
  let format: PageTableFormat
  /// The machine's memory, held unretained (`Unmanaged`) and reached with
  /// `_withUnsafeGuaranteedRef`, so a walk never touches the reference count
  /// of the object every thread shares. The invariant: a page table belongs
  /// to a `Domain` (or the SVA CPU side) of one `Machine`, whose `memory` is a
  /// `let`; the machine outlives its domains (see `Domain.machine`), so the
  /// memory outlives every page table. Debug builds check it on every access.
  let memoryRef: Unmanaged<PhysicalMemory>
  #if DEBUG
    /// The same memory, weakly: nil once it is gone, which the invariant forbids.
    private weak let memoryCheck: PhysicalMemory?
  #endif
  /// Calls into memory through a guaranteed reference.
  var memory: PhysicalMemoryAccess {
    #if DEBUG
      assert(memoryCheck != nil, "I/O page table used after its memory was deallocated")
    #endif
    return PhysicalMemoryAccess(ref: memoryRef)
  }
  let use: PageUse
  let tableOrder: Int
  private(set) var root: PhysicalAddress
  /// Table pages by physical address.
  private(set) var tables: [UInt64: TablePage] = [:]

  /// The model whose driver allocates the tables (`pageTableAllocationPath`), nil for CPU tables.
  let model: IOMMUModel?

  init(
    format: PageTableFormat, memory: PhysicalMemory, use: PageUse, model: IOMMUModel? = nil, context: CallContext
  ) throws(MachineError) {
    self.format = format
    self.model = model
    self.memoryRef = Unmanaged.passUnretained(memory)
    #if DEBUG
      self.memoryCheck = memory
    #endif
    self.use = use
    self.tableOrder = max(0, format.granuleShift - memory.pageShift)
    self.root = .zero
    self.root = try allocTable(depth: 0, context: context)
  }

  private func allocTable(depth: Int, context: CallContext) throws(MachineError) -> PhysicalAddress {
    // post_alloc_hook() and the allocator below iommu_alloc_pages_node_sz()'s __folio_alloc_node().
    let frames =
      if let model, use == .ioPageTable {
        context.chain(
          ["post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof", "__folio_alloc_noprof"]
            + model.pageTableAllocationPath(root: depth == 0))
      } else {
        context.chain("post_alloc_hook", "__pte_alloc", "pte_alloc_one")
      }
    let budget = memory.budget
    guard budget.charge(TablePage.baseBytes, .pageTableMetadata) else { throw .residentLimit }
    let block: PageBlock
    do {
      block = try memory.allocPages(order: tableOrder, gfp: .pageTable, use: use, context: context, stack: frames)
    } catch {
      budget.release(TablePage.baseBytes, .pageTableMetadata)
      throw error
    }
    let phys = block.head.address(pageShift: memory.pageShift)
    memory.zero(phys, length: format.tableBytes)
    tables[phys.rawValue] = TablePage(block: block, depth: depth, slots: Int(format.tableBytes >> 3), budget: budget)
    return phys
  }

  @inline(__always) private func slot(_ table: PhysicalAddress, _ iova: UInt64, _ depth: Int) -> PhysicalAddress {
    table.advanced(by: format.index(iova, depth) << 3)
  }

  // MARK: - Map

  /// Installs `count` leaves of `1 << leafShift` bytes. Returns how many were
  /// installed; on a collision it stops and reports EEXIST.
  func mapRun(
    iova: UInt64, phys: UInt64, leafShift: Int, count: UInt64, readable: Bool, writable: Bool, user: Bool = true,
    epoch: UInt64, context: CallContext, unlinked: inout UnmapGather
  ) -> (mapped: UInt64, error: MachineError?) {
    guard let leafDepth = format.depth(forShift: leafShift) else {
      return (0, MachineError(.EINVAL, "unsupported page size"))
    }
    let size: UInt64 = 1 << UInt64(leafShift)
    var done: UInt64 = 0
    while done < count {
      let cur = iova &+ done &* size
      var table = root
      for d in 0..<leafDepth {
        let s = slot(table, cur, d)
        switch format.decode(memory.read64(s), depth: d) {
        case .none:
          let next: PhysicalAddress
          do { next = try allocTable(depth: d + 1, context: context) } catch { return (done, error) }
          memory.write64(s, format.encodeTable(next))
          table = next
        case .table(let t, _, _):
          guard tables[t.rawValue] != nil else { return (done, walkLeft(cur, t)) }
          table = t
        case .leaf:
          return (done, MachineError(.EEXIST, "iova \(IOVA(cur)) is inside a larger mapping"))
        }
      }
      guard let info = tables[table.rawValue] else { return (done, walkLeft(cur, table)) }
      let idx = format.index(cur, leafDepth)
      let n = min(count - done, format.entries(leafDepth) - idx)
      // Fast path: empty slots of one 4 KiB frame, written under one lock.
      let inFrame = min(n, 512 - (idx & 511))
      let leafPhys = phys &+ done &* size
      let fmt = format
      guard info.reserve(Int(inFrame)) else { return (done, .residentLimit) }
      let frameWritten = memory.withFrame(table.advanced(by: idx << 3), create: true) { words -> UInt64 in
        var j: UInt64 = 0
        while j < inFrame {
          let w = Int(truncatingIfNeeded: (idx + j) & 511)
          guard words[w] == 0 || fmt.decode(words[w], depth: leafDepth) == .none else { break }
          words[w] = fmt.encodeLeaf(
            PhysicalAddress(leafPhys &+ j &* size), depth: leafDepth, readable: readable, writable: writable, user: user
          )
          j += 1
        }
        return j
      }
      guard let written = frameWritten else { return (done, .residentLimit) }
      for j in 0..<written { info.setEpoch(Int(idx + j), epoch) }
      if written > 0 {
        done += written
        continue
      }
      for j in 0..<min(n, 1) {
        let s = table.advanced(by: (idx + j) << 3)
        switch format.decode(memory.read64(s), depth: leafDepth) {
        case .none: break
        case .table(let t, _, _) where format.layout == .lpae || subtreeIsEmpty(t, depth: leafDepth + 1):
          // A table that earlier unmaps emptied gives way to the large page;
          // it is freed once the walk caches forgot it, as the drivers'
          // `switch_to_super_page()` / `arm_lpae_init_pte()` do. io-pgtable-arm
          // frees a table that still holds leaves too, dropping them without a
          // word (`__arm_lpae_unmap()` from `arm_lpae_init_pte()`); the leaves
          // are in `unlinked.removed`.
          memory.write64(s, 0)
          let va = cur &+ j &* size
          collectSubtree(t, depth: leafDepth + 1, iovaBase: va, gather: &unlinked)
          unlinked.start = min(unlinked.start, va)
          unlinked.end = max(unlinked.end, va &+ size &- 1)
        default:
          return (done + j, MachineError(.EEXIST, "iova \(IOVA(cur &+ j &* size)) is already mapped"))
        }
        memory.write64(
          s,
          format.encodeLeaf(
            PhysicalAddress(phys &+ (done + j) &* size), depth: leafDepth, readable: readable, writable: writable,
            user: user))
        info.setEpoch(Int(idx + j), epoch)
      }
      done += min(n, 1)
    }
    return (done, nil)
  }

  /// The error of a map whose walk reached a descriptor pointing outside this page table.
  private func walkLeft(_ iova: UInt64, _ table: PhysicalAddress) -> MachineError {
    MachineError(
      .EFAULT, "walk left the page table: the descriptor for iova \(IOVA(iova)) points at \(table), not a table page")
  }

  // MARK: - Unmap

  /// Removes `count` pages of `1 << pgShift` bytes starting at `iova`, the
  /// way the format's `unmap_pages` does. Returns the bytes unmapped and
  /// whether a partial large page was refused (io-pgtable-arm's `WARN_ONCE`).
  func unmapPages(
    iova: UInt64, pgShift: Int, count: UInt64, algorithm: UnmapAlgorithm, gather: inout UnmapGather
  ) -> (unmapped: UInt64, refusedPartial: Bool) {
    if algorithm == .genericPT {
      let (length, o1) = count.multipliedReportingOverflow(by: 1 << UInt64(pgShift))
      guard !o1, length != 0 else { return (0, false) }
      let (last, o2) = iova.addingReportingOverflow(length - 1)
      guard !o2 else { return (0, false) }
      var unmapped: UInt64 = 0
      var crossLevel: Set<TableVisit> = []
      _ = unmapRange(
        root, depth: 0, va: iova, last: last, unmapped: &unmapped, crossLevel: &crossLevel, gather: &gather)
      return (unmapped, false)
    }
    var total: UInt64 = 0
    let size: UInt64 = 1 << UInt64(pgShift)
    var i: UInt64 = 0
    while i < count {
      // Fast path: a run of leaves of exactly this size in one table frame.
      let run = clearLeafRun(iova: iova &+ i &* size, pgShift: pgShift, count: count - i, gather: &gather)
      if run > 0 {
        total &+= run &* size
        i += run
        continue
      }
      let (n, refused) = unmapOne(iova: iova &+ i &* size, targetShift: pgShift, gather: &gather)
      if n == 0 { return (total, refused) }
      total &+= n
      if n > size { return (total, false) }
      i += 1
    }
    return (total, false)
  }

  /// Clears consecutive leaves of `1 << pgShift` bytes starting at `iova`
  /// in one table frame; stops at anything else (which the slow path
  /// handles). Returns how many leaves it cleared.
  private func clearLeafRun(iova: UInt64, pgShift: Int, count: UInt64, gather: inout UnmapGather) -> UInt64 {
    guard let leafDepth = format.depth(forShift: pgShift) else { return 0 }
    var table = root
    for d in 0..<leafDepth {
      guard case .table(let t, _, _) = format.decode(memory.read64(slot(table, iova, d)), depth: d),
        tables[t.rawValue] != nil
      else { return 0 }
      table = t
    }
    let idx = format.index(iova, leafDepth)
    return clearLeaves(
      table, depth: leafDepth, from: idx, count: min(count, format.entries(leafDepth) - idx), iova: iova,
      gather: &gather)
  }

  /// Clears the leaves at entries `from`, `from + 1`, ... (at most `count`,
  /// and not past the 4K frame that holds entry `from`) of `table` at
  /// `depth`, under one lock, stopping at the first entry that is not a
  /// leaf; `iova` is the address of entry `from`. Each leaf's epoch is
  /// cleared and the leaf gathered. Returns how many it cleared. The leaf
  /// loop of both `__arm_lpae_unmap()`'s run and generic_pt's `__unmap_range()`.
  private func clearLeaves(
    _ table: PhysicalAddress, depth: Int, from idx: UInt64, count: UInt64, iova: UInt64, gather: inout UnmapGather
  ) -> UInt64 {
    let n = min(count, 512 - (idx & 511))
    let fmt = format
    var cleared: [(UInt64, UInt64)] = []
    _ = memory.withFrame(table.advanced(by: idx << 3), create: false) { words in
      var j: UInt64 = 0
      while j < n {
        let w = Int(truncatingIfNeeded: (idx + j) & 511)
        guard case .leaf(let p, _, _, _) = fmt.decode(words[w], depth: depth) else { break }
        words[w] = 0
        cleared.append((j, p.rawValue))
        j += 1
      }
    }
    let sh = format.shift(depth)
    let size: UInt64 = 1 << UInt64(sh)
    let info = tables[table.rawValue]
    for (j, p) in cleared {
      info?.clearEpoch(Int(idx + j))
      gather.add(iova: iova &+ j &* size, phys: p, size: size, leafShift: sh)
    }
    return UInt64(cleared.count)
  }

  /// One entry of io-pgtable-arm's unmap. The corresponding Linux function is `__arm_lpae_unmap()`.
  private func unmapOne(iova: UInt64, targetShift: Int, gather: inout UnmapGather) -> (UInt64, Bool) {
    var table = root
    var d = 0
    while d < format.levels {
      let s = slot(table, iova, d)
      let sh = format.shift(d)
      let base = iova & ~((1 << UInt64(sh)) - 1)
      let dec = format.decode(memory.read64(s), depth: d)
      if sh == targetShift {
        switch dec {
        case .none:
          return (0, false)
        case .leaf(let p, _, _, _):
          memory.write64(s, 0)
          tables[table.rawValue]?.clearEpoch(Int(format.index(iova, d)))
          gather.add(iova: base, phys: p.rawValue, size: 1 << UInt64(sh), leafShift: sh)
          return (1 << UInt64(sh), false)
        case .table(let t, _, _):
          memory.write64(s, 0)
          collectSubtree(t, depth: d + 1, iovaBase: base, gather: &gather)
          gather.start = min(gather.start, base)
          gather.end = max(gather.end, base &+ (1 << UInt64(sh)) &- 1)
          return (1 << UInt64(sh), false)
        }
      }
      switch dec {
      case .none:
        return (0, false)
      case .leaf:
        return (0, true)
      case .table(let t, _, _):
        guard tables[t.rawValue] != nil else { return (0, false) }
        table = t
        d += 1
      }
    }
    return (0, false)
  }

  /// Clears `[va, last]` in one table at `depth` and, recursively, in the
  /// tables under it. Adds the bytes of the leaves cleared to `unmapped`.
  /// Returns false where the kernel returns -EINVAL: the range starts inside a
  /// leaf (nothing is cleared), or the walk met an empty entry (or, here, a
  /// descriptor that leaves this page table). A table is unlinked and queued
  /// for freeing only after its walk succeeded and when the range covers it;
  /// the root, and a page reached at another level than its own, never are.
  /// Such a page (a forged descriptor) is entered once per level
  /// (`crossLevel`); a page reached again at its own level was emptied or
  /// freed by the first visit, so that walk stops at once.
  /// The corresponding Linux function is `__unmap_range()` (generic_pt).
  private func unmapRange(
    _ table: PhysicalAddress, depth: Int, va: UInt64, last: UInt64, unmapped: inout UInt64,
    crossLevel: inout Set<TableVisit>, gather: inout UnmapGather
  ) -> Bool {
    let sh = format.shift(depth)
    let itemSize: UInt64 = 1 << UInt64(sh)
    let start = format.index(va, depth)
    // The range ends in this table when `last` is in the span of the same table.
    let spanShift = depth == 0 ? format.inputBits : sh + format.bitsPerLevel
    let end =
      spanShift >= 64 || va >> UInt64(spanShift) == last >> UInt64(spanShift)
      ? format.index(last, depth) + 1 : format.entries(depth)
    var i = start
    var cur = va
    // `log2_mod(range->va, pt_entry_oa_lg2sz())`: a start inside a leaf.
    if case .leaf = format.decode(memory.read64(table.advanced(by: i << 3)), depth: depth), cur & (itemSize - 1) != 0 {
      return false
    }
    while i < end {
      // Fast path: consecutive leaves of one table frame, cleared under one lock.
      let k = clearLeaves(table, depth: depth, from: i, count: end - i, iova: cur & ~(itemSize - 1), gather: &gather)
      if k > 0 {
        unmapped &+= k &* itemSize
        i += k
        cur = (cur & ~(itemSize - 1)) &+ k &* itemSize
        continue
      }
      let s = table.advanced(by: i << 3)
      guard case .table(let t, _, _) = format.decode(memory.read64(s), depth: depth), let lower = tables[t.rawValue]
      else { return false }
      let itemBase = cur & ~(itemSize - 1)
      let fullyCovered = cur == itemBase && last >= itemBase &+ (itemSize - 1)
      let ownLevel = t != root && lower.depth == depth + 1
      guard ownLevel || crossLevel.insert(TableVisit(table: t.rawValue, depth: depth + 1)).inserted,
        unmapRange(
          t, depth: depth + 1, va: cur, last: last, unmapped: &unmapped, crossLevel: &crossLevel, gather: &gather)
      else { return false }
      if fullyCovered && ownLevel {
        memory.write64(s, 0)
        tables.removeValue(forKey: t.rawValue)
        gather.freelist.append(lower.block)
        gather.start = min(gather.start, itemBase)
        gather.end = max(gather.end, itemBase &+ (itemSize - 1))
      }
      i += 1
      cur = itemBase &+ itemSize
    }
    return true
  }

  /// Whether a table and the tables under it hold no leaf. A (table, level)
  /// pair seen before was empty (a leaf ends the whole search), so it is
  /// not read again.
  private func subtreeIsEmpty(_ table: PhysicalAddress, depth: Int) -> Bool {
    var seen: Set<TableVisit> = []
    func empty(_ table: PhysicalAddress, _ depth: Int) -> Bool {
      guard seen.insert(TableVisit(table: table.rawValue, depth: depth)).inserted else { return true }
      for i in 0..<format.entries(depth) {
        switch format.decode(memory.read64(table.advanced(by: i << 3)), depth: depth) {
        case .none: continue
        case .leaf: return false
        case .table(let t, _, _): if !empty(t, depth + 1) { return false }
        }
      }
      return true
    }
    return empty(table, depth)
  }

  /// Gathers every leaf under an unlinked table and queues its table pages.
  private func collectSubtree(_ table: PhysicalAddress, depth: Int, iovaBase: UInt64, gather: inout UnmapGather) {
    guard let info = tables.removeValue(forKey: table.rawValue) else { return }
    let sh = format.shift(depth)
    if depth > 0 {
      let span = UInt64(1) << UInt64(format.shift(depth - 1))
      if !gather.tableRanges.contains(where: { $0.contains(iovaBase) }) {
        gather.tableRanges.append(iovaBase...(iovaBase &+ span &- 1))
      }
    }
    for i in 0..<format.entries(depth) {
      let pte = memory.read64(table.advanced(by: i << 3))
      guard pte != 0 else { continue }
      let va = iovaBase &+ (i << UInt64(sh))
      switch format.decode(pte, depth: depth) {
      case .none: break
      case .leaf(let p, _, _, _): gather.add(iova: va, phys: p.rawValue, size: 1 << UInt64(sh), leafShift: sh)
      case .table(let t, _, _): collectSubtree(t, depth: depth + 1, iovaBase: va, gather: &gather)
      }
    }
    gather.freelist.append(info.block)
  }

  // MARK: - Lookup

  /// A translation found by a software walk.
  struct Translation {
    var phys: PhysicalAddress
    var leafShift: Int
    var readable: Bool
    var writable: Bool
    var epoch: UInt64
  }

  /// Walks from the root. The corresponding Linux function is `iova_to_phys()` of `io_pgtable_ops`.
  func lookup(_ iova: UInt64) -> Translation? {
    var table = root
    for d in 0..<format.levels {
      let s = slot(table, iova, d)
      switch format.decode(memory.read64(s), depth: d) {
      case .none: return nil
      case .table(let t, _, _): table = t
      case .leaf(let p, let r, let w, _):
        let sh = format.shift(d)
        let off = iova & ((1 << UInt64(sh)) - 1)
        let epoch = tables[table.rawValue]?.epoch(Int(format.index(iova, d))) ?? 0
        return Translation(phys: p.advanced(by: off), leafShift: sh, readable: r, writable: w, epoch: epoch)
      }
    }
    return nil
  }

  /// The epoch stored for the leaf at `slotAddress`, if it is a known table.
  func epoch(table: PhysicalAddress, index: UInt64) -> UInt64 {
    tables[table.rawValue]?.epoch(Int(index)) ?? 0
  }

  /// Every table page, for freeing the domain.
  func allTables() -> [PageBlock] { tables.values.map(\.block).sorted { $0.head < $1.head } }

  /// Forgets all tables (after the caller freed them).
  func forgetAll() { tables.removeAll() }

  /// Every leaf a map installed and no unmap removed, for leak reports and
  /// exact accounting's release: runs of (iova, phys, size). Only this
  /// table's own pages are read, each (table, level) pair once, at the first
  /// IOVA that reaches it; a leaf no map wrote (epoch 0: forged) is not listed.
  func mappedLeaves(limit: Int = 1 << 20) -> [RemovedLeaves] {
    var g = UnmapGather()
    var seen: Set<TableVisit> = []
    func visit(_ table: PhysicalAddress, _ depth: Int, _ base: UInt64) {
      guard let info = tables[table.rawValue], seen.insert(TableVisit(table: table.rawValue, depth: depth)).inserted
      else { return }
      let sh = format.shift(depth)
      for i in 0..<format.entries(depth) where g.removed.count < limit {
        let pte = memory.read64(table.advanced(by: i << 3))
        guard pte != 0 else { continue }
        let va = base &+ (i << UInt64(sh))
        switch format.decode(pte, depth: depth) {
        case .none: break
        case .leaf(let p, _, _, _):
          if info.epoch(Int(i)) != 0 { g.add(iova: va, phys: p.rawValue, size: 1 << UInt64(sh), leafShift: sh) }
        case .table(let t, _, _): visit(t, depth + 1, va)
        }
      }
    }
    visit(root, 0, 0)
    return g.removed
  }
}

/// The page-table walker's view of memory, without reference counting.
struct PhysicalMemoryAccess {
  let ref: Unmanaged<PhysicalMemory>
  @inline(__always) func read64(_ a: PhysicalAddress) -> UInt64 { ref._withUnsafeGuaranteedRef { $0.read64(a) } }
  @inline(__always) func write64(_ a: PhysicalAddress, _ v: UInt64) {
    ref._withUnsafeGuaranteedRef { $0.write64(a, v) }
  }
  @inline(__always) func withFrame<R>(
    _ a: PhysicalAddress, create: Bool, _ body: (inout ContiguousArray<UInt64>) -> R
  ) -> R? {
    ref._withUnsafeGuaranteedRef { $0.withFrame(a, create: create, body) }
  }
  @inline(__always) func zero(_ a: PhysicalAddress, length: UInt64) {
    ref._withUnsafeGuaranteedRef { $0.zero(a, length: length) }
  }
  var pageShift: Int { ref._withUnsafeGuaranteedRef { $0.pageShift } }
  var budget: ResidentBudget { ref._withUnsafeGuaranteedRef { $0.budget } }
  func allocPages(order: Int, gfp: GFPFlags, use: PageUse, context: CallContext, stack: [KernelFrame]?)
    throws(MachineError) -> PageBlock
  {
    try ref.takeUnretainedValue().allocPages(order: order, gfp: gfp, use: use, context: context, stack: stack)
  }
}
