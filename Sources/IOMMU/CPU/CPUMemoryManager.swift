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
    var nextVmalloc: UInt64 = CPUMemoryManager.vmallocStart
    /// The start of every live vmalloc area (`vmap_area_root`).
    var vmallocAreas: Set<UInt64> = []
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
