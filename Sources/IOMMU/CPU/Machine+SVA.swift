import KernelTypes
import MemoryModel

extension Machine {
  // MARK: - Processes

  /// Creates an address space whose PGD shares init_mm's kernel half.
  /// The corresponding Linux function is `mm_alloc()` (`pgd_alloc()`).
  package func createProcess(comm: String, context: CallContext) throws(MachineError) -> Process {
    let kpgd = try cpu.kernelPGD(context: context)
    let pgd = try cpu.allocTable(depth: 0, kernel: false, context: context)
    for i in UInt64(256)..<512 {
      let e = memory.read64(kpgd.advanced(by: i << 3))
      if e != 0 { memory.write64(pgd.advanced(by: i << 3), e) }
    }
    let pid = registry.withLock { r -> Int in
      r.nextPID += 1
      return r.nextPID
    }
    let p = Process(pid: pid, comm: comm, pgd: pgd)
    registry.withLock { $0.processes.append(p) }
    return p
  }

  /// Maps `size` bytes of user memory, optionally populated with pages.
  /// The corresponding Linux function is `do_mmap()` (`MAP_POPULATE`).
  package func mmap(_ p: Process, size: UInt64, populate: Bool, context: CallContext) throws(MachineError) -> MmapArea {
    guard !p.hasExited else { throw MachineError(.ESRCH, "process \(p) has exited") }
    guard size > 0 else { throw MachineError(.EINVAL, "size is 0") }
    let (rounded, o) = size.addingReportingOverflow(4095)
    guard !o, rounded >> 12 <= 1 << 20 else {
      throw MachineError(.ENOMEM, "mmap of \(ByteSize.describe(size)) exceeds the emulator's 4G per area")
    }
    let length = rounded & ~4095
    let start = p.state.withLock { s -> UInt64 in
      let va = s.nextVA
      s.nextVA = (va + length + (2 << 20) - 1) & ~((2 << 20) - 1)
      return va
    }
    var pages: [PageBlock] = []
    if populate {
      var off: UInt64 = 0
      while off < length {
        let b = try memory.allocPages(
          order: 0, gfp: .highUserMovableComp, use: .data, context: context,
          stack: context.chain(
            "post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof", "alloc_pages_mpol",
            "do_anonymous_page", "handle_mm_fault", "__get_user_pages", "populate_vma_page_range"))
        try cpu.map(
          pgd: p.pgd, va: start + off, phys: b.head.address(pageShift: memory.pageShift), user: true, writable: true,
          kernel: false, context: context)
        pages.append(b)
        off += 4096
      }
    }
    let area = MmapArea(start: VirtualAddress(start), size: length)
    p.state.withLock { $0.areas[start] = (area, pages) }
    return area
  }

  /// Unmaps an area: zaps the PTEs, flushes the TLBs, frees the pages and
  /// the page-table pages it emptied. Secondary TLBs are invalidated as
  /// `emu.notifier` says: with the CPU TLB (before the frees), or in
  /// `invalidate_range_end()` (after them).
  /// The corresponding Linux function is `__vm_munmap()`.
  package func munmap(_ p: Process, area: MmapArea, context: CallContext) throws(MachineError) {
    guard let (a, pages) = p.state.withLock({ $0.areas.removeValue(forKey: area.start.rawValue) }) else {
      throw MachineError(.EINVAL, "no mapping at \(area.start)")
    }
    let range = a.start.rawValue...(a.start.rawValue + a.size - 1)
    var off: UInt64 = 0
    while off < a.size {
      cpu.zap(pgd: p.pgd, va: a.start.rawValue + off)
      off += 4096
    }
    let z = context.chain("zap_pte_range", "unmap_page_range", "unmap_vmas", "vms_complete_munmap_vmas", "__vm_munmap")
    memory.stepObserver?.kernelStep(.cpuPTEsCleared)
    registry.withLock { $0.cpuTLBFlushes += 1 }
    if policy.notifier == .sync {
      // tlb_flush_mmu_tlbonly(): arch_invalidate_secondary_tlbs() with the CPU flush.
      invalidateSecondaryTLBs(p, range: range, context: context)
    }
    memory.stepObserver?.kernelStep(.cpuTLBFlushed)
    for b in pages {
      try? memory.freePages(
        b, context: context,
        stack: [KernelFrame("free_pages_prepare"), KernelFrame("free_unref_folios"), KernelFrame("tlb_flush_mmu")] + z)
    }
    let tables = cpu.unlinkEmptyPTETables(pgd: p.pgd, start: a.start.rawValue, size: a.size)
    if !tables.isEmpty && policy.notifier == .sync {
      // tlb_finish_mmu() -> tlb_flush_mmu(): the unlinked tables are freed
      // (tlb_table_flush()) only after another tlb_flush_mmu_tlbonly() with
      // freed_tables, which invalidates the secondary TLBs again: a walk
      // cached after the first flush must not outlive the table.
      registry.withLock { $0.cpuTLBFlushes += 1 }
      invalidateSecondaryTLBs(p, range: range, context: context)
    }
    for t in tables {
      try? memory.freePages(
        t, context: context,
        stack: context.chain(
          "free_pages_prepare", "__free_frozen_pages", "pagetable_free", "free_pgd_range", "free_pgtables"))
    }
    memory.stepObserver?.kernelStep(.munmapPagesFreed)
    if policy.notifier == .deferredEnd {
      // mmu_notifier_invalidate_range_end(): after pages and tables went back.
      invalidateSecondaryTLBs(p, range: range, context: context)
    }
  }

  /// Ends a process: its mappings go, then its page tables.
  /// The corresponding Linux function is `exit_mmap()`.
  package func exitProcess(_ p: Process, context: CallContext) throws(MachineError) {
    guard !p.hasExited else { throw MachineError(.ESRCH, "process \(p) has already exited") }
    let bonds = p.bonds
    for b in bonds {
      observer?.mappingsLeft(b.domain, leaves: [], reason: .processExited, device: nil, freed: false, context: context)
    }
    let areas = p.state.withLock { Array($0.areas.values.map(\.area)) }.sorted { $0.start < $1.start }
    for a in areas { try munmap(p, area: a, context: context) }
    // mmu_notifier_release(): the IOMMU drivers clear the PASIDs and flush,
    // whatever references the bonds still hold.
    p.state.withLock { s in for i in s.bonds.indices { s.bonds[i].users = 1 } }
    for b in bonds { try? svaUnbind(b, context: context) }
    p.state.withLock { $0.exited = true }
    for t in cpu.userTables(pgd: p.pgd) {
      try? memory.freePages(
        t, context: context,
        stack: context.chain(
          "free_pages_prepare", "__free_frozen_pages", "pagetable_free", "free_pgtables", "exit_mmap"))
    }
  }

  // MARK: - vmalloc

  /// Kernel virtual memory backed by order-0 pages, with the kernel page
  /// tables it needs. The corresponding Linux function is `vmalloc()`.
  package func vmalloc(size: UInt64, context: CallContext) throws(MachineError) -> VmallocArea {
    guard size > 0 else { throw MachineError(.EINVAL, "size is 0") }
    let (rounded, o) = size.addingReportingOverflow(4095)
    guard !o, rounded >> 12 <= 1 << 18 else {
      throw MachineError(.ENOMEM, "vmalloc of \(ByteSize.describe(size)) exceeds the emulator's 1G per area")
    }
    let length = rounded & ~4095
    let kpgd = try cpu.kernelPGD(context: context)
    // A guard page after each area, as the kernel leaves one.
    guard let start = cpu.allocVmapArea(size: length + 4096, align: 4096) else {
      throw MachineError(.ENOMEM, "vmap allocation for size \(length) failed: the vmalloc space is exhausted")
    }
    var pages: [PageBlock] = []
    var off: UInt64 = 0
    while off < length {
      let b = try memory.allocPages(
        order: 0, gfp: .kernel, use: .data, context: context,
        stack: context.chain(
          "post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof", "alloc_pages_noprof",
          "__vmalloc_area_node", "__vmalloc_node_range_noprof", "vmalloc_noprof"))
      try cpu.map(
        pgd: kpgd, va: start + off, phys: b.head.address(pageShift: memory.pageShift), user: false, writable: true,
        kernel: true, context: context)
      pages.append(b)
      off += 4096
    }
    return VmallocArea(start: VirtualAddress(start), size: length, pages: pages)
  }

  /// `vmalloc_huge()`: an area of 2M or more is rounded up to 2M, aligned
  /// to 2M, backed by order-9 pages and mapped with PMD leaves. Where a PMD
  /// entry still points at a PTE page (left by an earlier `vfree`),
  /// `vmap_try_huge_pmd()` frees that page with `pmd_free_pte_page()`. A
  /// smaller area, or one whose order-9 pages cannot be had, is a
  /// `vmalloc()` of 4K pages (the kernel's fallback).
  /// The corresponding Linux function is `__vmalloc_node_range_noprof()`
  /// with `VM_ALLOW_HUGE_VMAP` (`vmalloc_huge_node_noprof()`).
  package func vmallocHuge(size: UInt64, context: CallContext) throws(MachineError) -> VmallocArea {
    let pmd = CPUMemoryManager.pmdSize
    guard size >= pmd else { return try vmalloc(size: size, context: context) }
    let (rounded, o) = size.addingReportingOverflow(pmd - 1)
    guard !o, rounded >> 30 <= 1 else {
      throw MachineError(.ENOMEM, "vmalloc of \(ByteSize.describe(size)) exceeds the emulator's 1G per area")
    }
    let length = rounded & ~(pmd - 1)
    let kpgd = try cpu.kernelPGD(context: context)
    guard let start = cpu.allocVmapArea(size: length + 4096, align: pmd) else {
      throw MachineError(.ENOMEM, "vmap allocation for size \(length) failed: the vmalloc space is exhausted")
    }
    // vm_area_alloc_pages(): every page first, then vmap_pages_range().
    var pages: [PageBlock] = []
    var off: UInt64 = 0
    while off < length {
      guard
        let b = try? memory.allocPages(
          order: 9, gfp: .kernel, use: .data, context: context,
          stack: context.chain(
            "post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof", "alloc_pages_noprof",
            "vm_area_alloc_pages", "__vmalloc_area_node", "__vmalloc_node_range_noprof", "vmalloc_huge_node_noprof"))
      else {
        // "goto again" with shift = PAGE_SHIFT.
        for b in pages { try? memory.freePages(b, context: context, stack: context.chain("__free_pages", "vfree")) }
        _ = cpu.freeVmapArea(start: start)
        return try vmalloc(size: size, context: context)
      }
      pages.append(b)
      off += pmd
    }
    for (i, b) in pages.enumerated() {
      let va = start + UInt64(i) * pmd
      let slot = try cpu.kernelPMDSlot(pgd: kpgd, va: va, context: context)
      if let pte = cpu.clearPMDTable(slot: slot) { pmdFreePTEPage(pte, va: va, context: context) }
      try cpu.setHugePMD(slot: slot, phys: b.head.address(pageShift: memory.pageShift))
    }
    return VmallocArea(start: VirtualAddress(start), size: length, pages: pages, huge: true)
  }

  /// Frees the PTE page a huge vmap replaces (its PMD entry already
  /// cleared): `flush_tlb_kernel_range(addr, addr + PAGE_SIZE - 1)`, then
  /// the page goes as `emu.kva_flush` says: freed at once before the fix
  /// (`free_page()`), queued for the worker with the fix
  /// (`pagetable_free()` of a `PT_kernel` page: `pagetable_free_kernel()`).
  /// The corresponding Linux function is `pmd_free_pte_page()` (arch/x86/mm/pgtable.c),
  /// called by `vmap_try_huge_pmd()`.
  func pmdFreePTEPage(_ pte: PageBlock, va: UInt64, context: CallContext) {
    flushTLBKernelRange(start: va, end: va + 4096, context: context)
    switch policy.kvaFlush {
    case .none, .tlbRange:
      try? memory.freePages(
        pte, context: context,
        stack: context.chain(
          "free_pages_prepare", "__free_frozen_pages", "free_pages", "pmd_free_pte_page", "vmap_try_huge_pmd",
          "vmap_range_noflush", "vmap_pages_range", "__vmalloc_area_node", "__vmalloc_node_range_noprof",
          "vmalloc_huge_node_noprof"))
    case .deferredFree:
      cpu.state.withLock { $0.pendingFree.append(pte) }
    }
  }

  /// Unmaps a vmalloc area, flushes the kernel TLB and frees its pages.
  /// The kernel page-table pages stay, their entries cleared: `vfree()`
  /// never frees them (a later huge vmap over the PMD does, see
  /// `vmallocHuge`). The range is free for the next `vmalloc` at once.
  /// The corresponding Linux function is `vfree()` (`vunmap_range_noflush()`,
  /// `free_vmap_area_noflush()`).
  package func vfree(_ area: VmallocArea, context: CallContext) throws(MachineError) {
    // remove_vm_area(): an address with no area WARNs and changes nothing.
    guard cpu.freeVmapArea(start: area.start.rawValue) else {
      guard let observer else { throw MachineError(.EINVAL, "no vmalloc area at \(area.start)") }
      observer.vfreeNonexistent(area.start, context: context)
      return
    }
    let kpgd = try cpu.kernelPGD(context: context)
    var off: UInt64 = 0
    while off < area.size {
      if area.huge {
        cpu.clearHugePMD(pgd: kpgd, va: area.start.rawValue + off)  // vunmap_pmd_range(): pmd_clear_huge()
        off += CPUMemoryManager.pmdSize
      } else {
        cpu.zap(pgd: kpgd, va: area.start.rawValue + off)
        off += 4096
      }
    }
    flushTLBKernelRange(start: area.start.rawValue, end: area.start.rawValue + area.size, context: context)
    memory.stepObserver?.kernelStep(.vunmapFlushed)
    for b in area.pages {
      try? memory.freePages(
        b, context: context, stack: context.chain("free_pages_prepare", "__free_frozen_pages", "__free_pages", "vfree"))
    }
  }

  /// `flush_tlb_kernel_range()`: the CPU TLB; with `emu.kva_flush=tlb-range`
  /// (the July 2025 v2 patch) also every SVA mm's IOMMU caches.
  package func flushTLBKernelRange(start: UInt64, end: UInt64, context: CallContext) {
    registry.withLock { $0.cpuTLBFlushes += 1 }
    guard policy.kvaFlush == .tlbRange, end > start else { return }
    invalidateKernelRange(start...(end - 1), context: context)
  }

  /// `flush_tlb_all()`.
  package func flushTLBAll(context: CallContext) {
    registry.withLock { $0.cpuTLBFlushes += 1 }
    guard policy.kvaFlush == .tlbRange else { return }
    invalidateKernelRange(nil, context: context)
  }

  /// The deferred-free worker: one IOMMU invalidation of the whole kernel
  /// range for every SVA mm, then the queued kernel table pages are freed.
  /// The corresponding Linux function is `kernel_pgtable_work_func()`.
  package func runDeferredWork(context: CallContext) {
    if let steps = memory.stepObserver, cpu.state.withLock({ !$0.pendingFree.isEmpty }) {
      steps.kernelStep(.kernelPageTablesQueued)
    }
    let pending = cpu.state.withLock { s -> [PageBlock] in
      let p = s.pendingFree
      s.pendingFree = []
      return p
    }
    guard !pending.isEmpty else { return }
    let ctx = CallContext(
      task: EmulatedTask(pid: 0, tgid: 0, comm: "kworker/0:1"), caller: KernelFrame("kernel_pgtable_work_func"),
      statementIndex: context.statementIndex)
    invalidateKernelRange(CPUMemoryManager.pageOffset...UInt64.max, context: ctx)
    for t in pending {
      try? memory.freePages(
        t, context: ctx, stack: ctx.chain("free_pages_prepare", "__free_frozen_pages", "__pagetable_free"))
    }
  }

  /// `iommu_sva_invalidate_kva_range()`: every SVA bond on an IOMMU that
  /// walks the kernel half (not an SMMUv3: EPD1).
  func invalidateKernelRange(_ range: ClosedRange<UInt64>?, context: CallContext) {
    let procs = registry.withLock { $0.processes }
    for p in procs where !p.hasExited {
      for b in p.bonds where b.domain.unit.model != .smmuv3 {
        invalidateBond(b, range: range, context: context)
      }
    }
  }

  /// `arch_invalidate_secondary_tlbs()` for one mm: leaf and non-leaf
  /// entries alike (VT-d IH=0, SMMUv3 Leaf=0, AMD PDE=1), then the ATC.
  func invalidateSecondaryTLBs(_ p: Process, range: ClosedRange<UInt64>?, context: CallContext) {
    for b in p.bonds { invalidateBond(b, range: range, context: context) }
  }

  private func invalidateBond(_ b: SVABond, range: ClosedRange<UInt64>?, context: CallContext) {
    let u = b.domain.unit
    // SMMUv3: arm_smmu_tlb_inv_range_asid(..., PAGE_SIZE, false, ...) on the
    // CPU's 4K pages (TG=1, TTL=0).
    let cmds =
      range.map { r in
        r.upperBound == .max && r.lowerBound <= CPUMemoryManager.kernelHalf
          ? [u.domainCommand(domainID: b.domain.id, pasid: .some(b.pasid))]
          : u.rangeCommands(
            domainID: b.domain.id, pasid: .some(b.pasid), range: r, leafOnly: false, granule: 4096,
            pgsizeBitmap: 4096)
      }
      ?? [u.domainCommand(domainID: b.domain.id, pasid: .some(b.pasid))]
    for cmd in cmds { issue(cmd, on: u, context: context) }
    b.device.invalidateATC(
      u.atcCommand(device: b.device.name, pasid: b.pasid, range: range), machine: self, context: context)
    issueSync(u, context: context)
  }

  // MARK: - SVA

  /// Binds a process to a device: a PASID whose translations walk the
  /// process's own page tables with user privilege.
  /// The corresponding Linux function is `iommu_sva_bind_device()`.
  package func svaBind(_ device: Device, _ p: Process, context: CallContext) throws(MachineError) -> SVABond {
    guard !p.hasExited else { throw MachineError(.ESRCH, "process \(p) has exited") }
    guard device.pasidCapable else {
      throw MachineError(.EOPNOTSUPP, "device \(device.name) has no PASID capability (pasid=on)")
    }
    guard device.unit.sva || device.unit.model == .smmuv3 else {
      throw MachineError(.EOPNOTSUPP, "IOMMU \(device.unit.name) does not do SVA (sva=on)")
    }
    let existing = p.state.withLock { s -> SVABond? in
      guard let i = s.bonds.firstIndex(where: { $0.bond.device === device }) else { return nil }
      s.bonds[i].users += 1
      return s.bonds[i].bond
    }
    if let existing { return existing }
    let pasid = cpu.state.withLock { s -> UInt32 in
      s.nextPASID += 1
      return s.nextPASID - 1
    }
    let d = try allocDomain(unit: device.unit, type: .sva, name: "sva:\(p.comm)", context: context, process: p)
    try attach(device, to: d, pasid: pasid, context: context)
    let bond = SVABond(device: device, pasid: pasid, domain: d)
    p.state.withLock { $0.bonds.append((bond, 1)) }
    return bond
  }

  /// The corresponding Linux function is `iommu_sva_unbind_device()`.
  package func svaUnbind(_ bond: SVABond, context: CallContext) throws(MachineError) {
    guard let p = bond.domain.process else { return }
    // nil: not bound; false: other users remain; true: the last one went.
    let last = p.state.withLock { s -> Bool? in
      guard let i = s.bonds.firstIndex(where: { $0.bond.pasid == bond.pasid }) else { return nil }
      s.bonds[i].users -= 1
      if s.bonds[i].users > 0 { return false }
      s.bonds.remove(at: i)
      return true
    }
    guard let last else { throw MachineError(.ENOENT, "pasid \(bond.pasid) is not bound") }
    guard last else { return }
    try? detach(bond.device, pasid: bond.pasid, context: context)
    issue(
      bond.domain.unit.domainCommand(domainID: bond.domain.id, pasid: .some(bond.pasid)), on: bond.domain.unit,
      context: context)
    registry.withLock { _ = $0.domains.removeValue(forKey: bond.domain.id) }
  }

  /// CPU TLB flushes so far (`--stats`).
  package var cpuTLBFlushCount: UInt64 { registry.withLock { $0.cpuTLBFlushes } }
}
