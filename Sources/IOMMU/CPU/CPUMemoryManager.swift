import KernelTypes
import MemoryModel
import Synchronization

/// A user mapping made by `mmap`.
package struct MmapArea: Sendable, Hashable {
  package var start: VirtualAddress
  package var size: UInt64
}

/// A kernel virtual area made by `vmalloc`.
package struct VmallocArea: Sendable, Hashable {
  package var start: VirtualAddress
  package var size: UInt64
  package var pages: [PageBlock]
  /// Mapped with 2M PMD leaves (`vmalloc_huge()`): each page block is order 9.
  package var huge = false
}

/// An address space: a process's mm. Its PGD's kernel half points at the
/// tables every process shares.
package final class Process: Sendable, CustomStringConvertible {
  package let pid: Int
  package let comm: String
  package let pgd: PhysicalAddress

  struct State {
    var areas: [UInt64: (area: MmapArea, pages: [PageBlock])] = [:]
    var nextVA: UInt64 = Process.mmapBase
    var exited = false
    /// SVA bonds: (device, PASID, domain), each with its users count
    /// (`iommu_sva_bind_device()` on a bound device takes another reference).
    var bonds: [(bond: SVABond, users: Int)] = []
  }
  let state = Mutex(State())

  /// Where user mmap areas start; each area starts on a 2M boundary.
  static let mmapBase: UInt64 = 0x7f00_0000_0000

  init(pid: Int, comm: String, pgd: PhysicalAddress) {
    self.pid = pid
    self.comm = comm
    self.pgd = pgd
  }

  package var description: String { "\(comm)[\(pid)]" }
  package var hasExited: Bool { state.withLock { $0.exited } }
  package var bonds: [SVABond] { state.withLock { $0.bonds.map(\.bond) } }
}

/// An SVA binding: a device PASID walking a process's page tables.
package struct SVABond: Sendable {
  package var device: Device
  package var pasid: UInt32
  package var domain: Domain
}

/// The CPU side of the machine: init_mm's kernel half, processes, their
/// x86-64 4-level page tables in emulated memory, vmalloc and mmap.
final class CPUMemoryManager: Sendable {
  /// x86-64 `VMALLOC_START` (4-level paging).
  static let vmallocStart: UInt64 = 0xffff_c900_0000_0000
  /// The end of the x86-64 vmalloc space (4-level paging), exclusive.
  static let vmallocEnd: UInt64 = 0xffff_e900_0000_0000
  /// `PMD_SIZE`: what one PMD entry maps, and a huge vmap leaf.
  static let pmdSize: UInt64 = 1 << 21
  /// x86-64 `PAGE_OFFSET` with 4-level paging: the kernel half starts here.
  static let pageOffset: UInt64 = 0xffff_8880_0000_0000
  static let kernelHalf: UInt64 = 0xffff_8000_0000_0000

  let format = PageTableFormat.x86CPU
  unowned let memory: PhysicalMemory

  struct State {
    var kernelPGD: PhysicalAddress?
    /// Every CPU page-table page: its depth, owner and leaf epochs.
    var tables: [UInt64: TablePage] = [:]
    var kernelTables: Set<UInt64> = []
    /// Every live vmap area, start to end (the guard page included): `vmap_area_root`.
    var vmapAreas: [UInt64: UInt64] = [:]
    /// The free vmalloc space as sorted, disjoint `[start, end)` ranges:
    /// `free_vmap_area_root`. Freed areas come back at once (see `freeVmapArea`).
    var vmapFree: [(start: UInt64, end: UInt64)] = [
      (CPUMemoryManager.vmallocStart, CPUMemoryManager.vmallocEnd)
    ]
    /// No `vmapFree` range before `index` has room for `size` bytes at 4K
    /// alignment: a search for as many bytes or more starts there (the kernel keeps the
    /// largest free size per subtree instead).
    var fitHint: (size: UInt64, index: Int) = (0, 0)
    /// Kernel table pages waiting for the deferred-free worker.
    var pendingFree: [PageBlock] = []
    var nextPASID: UInt32 = 1
  }
  let state = Mutex(State())

  init(memory: PhysicalMemory) { self.memory = memory }

  var tableOrder: Int { max(0, 12 - memory.pageShift) }

  // MARK: - Tables

  func allocTable(depth: Int, kernel: Bool, context: CallContext) throws(MachineError) -> PhysicalAddress {
    let frames = kernel ? ["__pte_alloc_kernel", "pte_alloc_one_kernel"] : ["__pte_alloc", "pte_alloc_one"]
    let budget = memory.budget
    guard budget.charge(TablePage.baseBytes, .pageTableMetadata) else { throw .residentLimit }
    let block: PageBlock
    do {
      block = try memory.allocPages(
        order: tableOrder, gfp: .pageTable, use: kernel ? .kernelPageTable : .userPageTable, context: context,
        stack: [KernelFrame("post_alloc_hook"), KernelFrame("pagetable_alloc_noprof")] + context.chain(frames))
    } catch {
      budget.release(TablePage.baseBytes, .pageTableMetadata)
      throw error
    }
    let phys = block.head.address(pageShift: memory.pageShift)
    memory.zero(phys, length: 4096)
    state.withLock {
      $0.tables[phys.rawValue] = TablePage(block: block, depth: depth, slots: 512, budget: budget)
      if kernel { $0.kernelTables.insert(phys.rawValue) }
    }
    return phys
  }

  /// init_mm's PGD, with the vmalloc region's PUD allocated up front so every
  /// process shares it (as x86 pre-populates the kernel PGD entries).
  func kernelPGD(context: CallContext) throws(MachineError) -> PhysicalAddress {
    if let p = state.withLock({ $0.kernelPGD }) { return p }
    let pgd = try allocTable(depth: 0, kernel: true, context: context)
    let pud = try allocTable(depth: 1, kernel: true, context: context)
    memory.write64(pgd.advanced(by: format.index(Self.vmallocStart, 0) << 3), format.encodeTable(pud))
    state.withLock { $0.kernelPGD = pgd }
    return pgd
  }

  func epoch(table: PhysicalAddress, index: UInt64) -> UInt64 {
    state.withLock { $0.tables[table.rawValue]?.epoch(Int(index)) ?? 0 }
  }

  /// Installs a 4K leaf, allocating the tables on the way.
  func map(
    pgd: PhysicalAddress, va: UInt64, phys: PhysicalAddress, user: Bool, writable: Bool, kernel: Bool,
    context: CallContext
  ) throws(MachineError) {
    var table = pgd
    for d in 0..<3 {
      let s = table.advanced(by: format.index(va, d) << 3)
      switch format.decode(memory.read64(s), depth: d) {
      case .table(let t, _, _): table = t
      case .none:
        let t = try allocTable(depth: d + 1, kernel: kernel, context: context)
        memory.write64(s, format.encodeTable(t))  // U=1 R/W=1: only the leaf decides
        table = t
      case .leaf: throw MachineError(.EEXIST, "a large page covers \(VirtualAddress(va))")
      }
    }
    let idx = format.index(va, 3)
    guard state.withLock({ $0.tables[table.rawValue]?.reserve(1) ?? true }) else { throw .residentLimit }
    memory.write64(
      table.advanced(by: idx << 3), format.encodeLeaf(phys, depth: 3, readable: true, writable: writable, user: user))
    let e = memory.currentEpoch
    state.withLock { $0.tables[table.rawValue]?.setEpoch(Int(idx), e) }
  }

  // MARK: - vmap areas

  /// The lowest free range of `size` bytes aligned to `align` (a power of
  /// two), taken from the free space; nil when none is left.
  /// The corresponding Linux function is `alloc_vmap_area()` (`__alloc_vmap_area()`:
  /// the lowest match in `free_vmap_area_root`).
  func allocVmapArea(size: UInt64, align: UInt64) -> UInt64? {
    state.withLock { s -> UInt64? in
      var i = size >= s.fitHint.size ? min(s.fitHint.index, s.vmapFree.count) : 0
      while i < s.vmapFree.count {
        let r = s.vmapFree[i]
        i += 1
        let (up, o1) = r.start.addingReportingOverflow(align - 1)
        guard !o1 else { continue }
        let va = up & ~(align - 1)
        let (end, o2) = va.addingReportingOverflow(size)
        guard !o2, end <= r.end else { continue }
        // va_clip(): what stays free on either side. A left remainder is
        // shorter than the alignment, so it has no room for `size` either.
        var rest: [(start: UInt64, end: UInt64)] = []
        if r.start < va { rest.append((r.start, va)) }
        if end < r.end { rest.append((end, r.end)) }
        s.vmapFree.replaceSubrange((i - 1)..<i, with: rest)
        s.vmapAreas[va] = end
        // A range skipped for a larger alignment may still fit at 4K.
        if align <= 4096 {
          s.fitHint = (size, i - 1)
        } else if i - 1 < s.fitHint.index {
          s.fitHint = (0, 0)
        }
        return va
      }
      if align <= 4096 { s.fitHint = (size, s.vmapFree.count) }
      return nil
    }
  }

  /// Returns the area that starts at `start` to the free space, merged with
  /// its free neighbours; false when no area starts there. The kernel puts
  /// it on the lazy purge list and returns it in `purge_vmap_area_lazy()`
  /// (when the lazily freed pages pass `lazy_max_pages()` or an allocation
  /// finds no room); iommusan flushes in `vfree` and returns it at once, as
  /// if purged.
  /// The corresponding Linux function is `free_vmap_area_noflush()`.
  func freeVmapArea(start: UInt64) -> Bool {
    state.withLock { s -> Bool in
      guard let end = s.vmapAreas.removeValue(forKey: start) else { return false }
      var lo = 0
      var hi = s.vmapFree.count
      while lo < hi {
        let mid = (lo + hi) / 2
        if s.vmapFree[mid].start < start { lo = mid + 1 } else { hi = mid }
      }
      var range = (start: start, end: end)
      var first = lo
      var last = lo
      if lo > 0, s.vmapFree[lo - 1].end == start {
        range.start = s.vmapFree[lo - 1].start
        first = lo - 1
      }
      if lo < s.vmapFree.count, s.vmapFree[lo].start == end {
        range.end = s.vmapFree[lo].end
        last = lo + 1
      }
      s.vmapFree.replaceSubrange(first..<last, with: [range])
      if first < s.fitHint.index { s.fitHint = (0, 0) }
      return true
    }
  }

  /// The PMD entry's address for kernel `va`, allocating the PUD and PMD
  /// tables on the way.
  func kernelPMDSlot(pgd: PhysicalAddress, va: UInt64, context: CallContext) throws(MachineError) -> PhysicalAddress {
    var table = pgd
    for d in 0..<2 {
      let s = table.advanced(by: format.index(va, d) << 3)
      switch format.decode(memory.read64(s), depth: d) {
      case .table(let t, _, _): table = t
      case .none:
        let t = try allocTable(depth: d + 1, kernel: true, context: context)
        memory.write64(s, format.encodeTable(t))
        table = t
      case .leaf: throw MachineError(.EEXIST, "a large page covers \(VirtualAddress(va))")
      }
    }
    return table.advanced(by: format.index(va, 2) << 3)
  }

  /// Clears a PMD entry that points at a PTE table and forgets the table;
  /// returns its page for the caller to free or queue.
  /// The corresponding Linux code is `pmd_clear()` in `pmd_free_pte_page()`.
  func clearPMDTable(slot: PhysicalAddress) -> PageBlock? {
    guard case .table(let pte, _, _) = format.decode(memory.read64(slot), depth: 2) else { return nil }
    memory.write64(slot, 0)
    return state.withLock { s -> PageBlock? in
      s.kernelTables.remove(pte.rawValue)
      return s.tables.removeValue(forKey: pte.rawValue)?.block
    }
  }

  /// Writes a 2M supervisor leaf into a PMD entry.
  /// The corresponding Linux function is `pmd_set_huge()`.
  func setHugePMD(slot: PhysicalAddress, phys: PhysicalAddress) throws(MachineError) {
    let table = PhysicalAddress(slot.rawValue & ~4095)
    let idx = Int((slot.rawValue & 4095) >> 3)
    guard state.withLock({ $0.tables[table.rawValue]?.reserve(1) ?? true }) else { throw .residentLimit }
    memory.write64(slot, format.encodeLeaf(phys, depth: 2, readable: true, writable: true, user: false))
    let e = memory.currentEpoch
    state.withLock { $0.tables[table.rawValue]?.setEpoch(idx, e) }
  }

  /// Clears a 2M leaf in a PMD entry.
  /// The corresponding Linux function is `pmd_clear_huge()`.
  func clearHugePMD(pgd: PhysicalAddress, va: UInt64) {
    var table = pgd
    for d in 0..<2 {
      guard
        case .table(let t, _, _) = format.decode(memory.read64(table.advanced(by: format.index(va, d) << 3)), depth: d)
      else { return }
      table = t
    }
    let slot = table.advanced(by: format.index(va, 2) << 3)
    if case .leaf = format.decode(memory.read64(slot), depth: 2) { memory.write64(slot, 0) }
  }

  /// Clears the leaf for `va`; returns the PTE table that held it.
  @discardableResult
  func zap(pgd: PhysicalAddress, va: UInt64) -> PhysicalAddress? {
    var table = pgd
    for d in 0..<3 {
      guard
        case .table(let t, _, _) = format.decode(memory.read64(table.advanced(by: format.index(va, d) << 3)), depth: d)
      else { return nil }
      table = t
    }
    memory.write64(table.advanced(by: format.index(va, 3) << 3), 0)
    return table
  }

  /// PTE tables under `[start, start+size)` that are now empty, unlinked
  /// from their PMD (the caller frees or queues them). Upper levels stay.
  func unlinkEmptyPTETables(pgd: PhysicalAddress, start: UInt64, size: UInt64) -> [PageBlock] {
    var out: [PageBlock] = []
    var va = start & ~((1 << 21) - 1)
    let end = start &+ size
    while va < end {
      var table = pgd
      var ok = true
      for d in 0..<2 {
        guard
          case .table(let t, _, _) = format.decode(
            memory.read64(table.advanced(by: format.index(va, d) << 3)), depth: d)
        else {
          ok = false
          break
        }
        table = t
      }
      if ok {
        let pmdSlot = table.advanced(by: format.index(va, 2) << 3)
        if case .table(let pte, _, _) = format.decode(memory.read64(pmdSlot), depth: 2),
          (0..<512).allSatisfy({ memory.read64(pte.advanced(by: UInt64($0) << 3)) == 0 })
        {
          memory.write64(pmdSlot, 0)
          if let info = state.withLock({ $0.tables.removeValue(forKey: pte.rawValue) }) {
            state.withLock { _ = $0.kernelTables.remove(pte.rawValue) }
            out.append(info.block)
          }
        }
      }
      let (n, o) = va.addingReportingOverflow(1 << 21)
      if o { break }
      va = n
    }
    return out
  }

  /// Every table page under a process PGD's user half, and the PGD itself.
  /// Each (table, level) pair is visited once, so descriptors that loop
  /// (forged by `cpu_write`) cost nothing extra; each page is freed once.
  func userTables(pgd: PhysicalAddress) -> [PageBlock] {
    var out: [PageBlock] = []
    var seen: Set<TableVisit> = []
    func visit(_ t: PhysicalAddress, _ d: Int) {
      guard d < 3, seen.insert(TableVisit(table: t.rawValue, depth: d)).inserted else { return }
      let range: Range<UInt64> = d == 0 ? 0..<256 : 0..<512
      for i in range {
        if case .table(let n, _, _) = format.decode(memory.read64(t.advanced(by: i << 3)), depth: d) {
          visit(n, d + 1)
          if let info = state.withLock({ $0.tables.removeValue(forKey: n.rawValue) }) { out.append(info.block) }
        }
      }
    }
    visit(pgd, 0)
    if let info = state.withLock({ $0.tables.removeValue(forKey: pgd.rawValue) }) { out.append(info.block) }
    return out
  }
}
