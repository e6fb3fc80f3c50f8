import IOMMU
import KernelTypes
import MemoryModel
import Reports

extension Sanitizer: MachineObserver {
  package func mapped(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    let origin = MappingOrigins.Origin(
      caller: context.caller, statementIndex: context.statementIndex, path: ["iommu_map"] + context.via)
    origins.withLock {
      $0.insert(domain: domain.id, iova: iova.rawValue, phys: phys.rawValue, size: size, origin: origin)
    }
    note(
      .map(domain: domain.name, iova: iova.rawValue, size: size), pfn: phys.rawValue >> UInt64(pageShift),
      count: pages(size), context: context)
  }

  /// CPU pages in `size` bytes, rounded up.
  func pages(_ size: UInt64) -> UInt64 { size >> UInt64(pageShift) + (size & (pageSize - 1) == 0 ? 0 : 1) }

  package func unmapped(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext) {
    let removed = origins.withLock { $0.removeCovered(domain: domain.id, iova: iova.rawValue, size: unmapped) }
    for r in removed {
      note(
        .unmap(domain: domain.name, iova: r.iova, size: r.size), pfn: r.phys >> UInt64(pageShift),
        count: pages(r.size), context: context)
    }
  }

  package func invalidationIssued(_ command: InvalidationCommand, context: CallContext) {}

  package func invalidationCompleted(_ command: InvalidationCommand, context: CallContext) {
    noteInvalidation(command, .completed, context: context)
  }

  /// Records the invalidation in the history of each followed page that a
  /// live or recently unmapped mapping put in the command's domain and range.
  func noteInvalidation(_ command: InvalidationCommand, _ state: PageHistory.Invalidation.State, context: CallContext) {
    let cache: String
    var atcDevice: String?
    var domainIDs: [Int?]
    switch command.target {
    case .iommu(let domainID, _, let leafOnly):
      cache = leafOnly ? "IOTLB" : "IOTLB and walk caches"
      domainIDs = [domainID]
    case .atc(let name, let pasid):
      cache = "ATC of \(name)"
      atcDevice = name
      guard let device = machine.device(named: name) else { return }
      switch pasid {
      case .some(.some(let p)): domainIDs = [device.domain(pasid: p)?.id]
      case .some(.none): domainIDs = [device.domain?.id]
      case .none: domainIDs = [device.domain?.id]
      }
      if domainIDs == [nil] { return }
    }
    let found = origins.withLock { o in domainIDs.flatMap { o.overlapping(domain: $0, range: command.range) } }
    guard !found.isEmpty else { return }
    let shift = UInt64(pageShift)
    var groups: [(PageHistory.Invalidation, pages: [UInt64])] = []
    var collected: UInt64 = 0
    for (domainID, span) in found where collected < 4 * PageHistory.maximumFanOut {
      let name = machine.domain(id: domainID)?.name ?? "domain \(domainID)"
      let first = span.phys >> shift
      let count = min(pages(span.size &+ (span.phys & (pageSize - 1))), PageHistory.maximumFanOut)
      let (end, o) = first.addingReportingOverflow(count)
      let inv = PageHistory.Invalidation(
        cache: cache, command: command.name, unit: command.unit, device: atcDevice, domain: name,
        first: span.iova,
        last: span.iova &+ (span.size &- 1), everyIOVA: command.range == nil, state: state)
      groups.append((inv, Array(first..<(o ? .max : end))))
      collected += count
    }
    history.withLock { $0.record(groups, context: context) }
  }

  package func kernelMessage(_ text: String, context: CallContext) {
    emit(
      MachineEventRecord(
        kind: .message, text: text, statementIndex: context.statementIndex, task: context.task))
  }

  // MARK: - Freed while cached

  /// A freed data page that an IOTLB or ATC entry can still reach, outside
  /// the lazy flush-queue window that the DMA API allows.
  func checkCachedOnFree(
    _ block: PageBlock, use: PageUse, skip: Set<UInt64>, stack: [KernelFrame], context: CallContext
  ) {
    switch use {
    case .data: break
    case .ioPageTable: return  // tablePageFreeing sees these, with their domain
    case .userPageTable, .kernelPageTable:
      checkCPUTableFree(block, kernel: use == .kernelPageTable, stack: stack, context: context)
      return
    }
    let units = machine.units
    let atsDevices = machine.atsDevices
    // Looked up only when an entry reaches the page: a free costs nothing per domain.
    let domains = machine.domain(id:)
    let frames = max(1, Int(machine.memory.pageSize >> 12))
    for i in 0..<block.pageCount where !skip.contains(block.head.rawValue + i) {
      let pfn = block.head.advanced(by: Int64(i))
      var found: (entry: LeafEntry, unit: String, device: Device?)?
      search: for f in 0..<frames {
        let p = phys(pfn).advanced(by: UInt64(f) << 12)
        for u in units {
          for e in u.iotlbEntries(reaching: p)
          where domains(e.tag.domainID).map({ !$0.isPendingLazyFlush(e.iova) }) ?? true {
            found = (e, u.name, nil)
            break search
          }
        }
        for d in atsDevices {
          for e in d.atcEntries(reaching: p)
          where domains(e.tag.domainID).map({ !$0.isPendingLazyFlush(e.iova) }) ?? true {
            found = (e, d.unit.name, d)
            break search
          }
        }
      }
      guard let (e, unitName, dev) = found else { continue }
      let cacheName = dev.map { "the ATC of \($0.name)" } ?? "the IOTLB of \(unitName)"
      if let domain = domains(e.tag.domainID), domain.type != .sva,
        let uncounted = stillMapped(pfn, entry: e, domain: domain)
      {
        reportUncounted(
          pfn, iova: uncounted.iova, reason: uncounted.reason, domain: domain, cacheName: cacheName, device: dev,
          stack: stack, context: context)
        continue
      }
      let sva = domains(e.tag.domainID)?.type == .sva
      let pasid = e.tag.pasid ?? 0
      let finding = Finding(
        kind: sva ? .secondaryTLBStale : .freedWhileIOTLBCached,
        headline: sva
          ? "iommusan: pfn \(pfn) of SVA-shared memory freed before the IOMMU was told: \(cacheName) still maps "
            + "\(IOVA(e.iova)) (pasid \(pasid)) to it"
          : "iommusan: pfn \(pfn) freed while \(cacheName) still maps iova \(IOVA(e.iova)) to it",
        warningSite: WarningSite.Emulator.freeCached,
        frames: ["iommusan_check_free_cached"], pfn: pfn, phys: phys(pfn), iova: IOVA(e.iova),
        domain: domains(e.tag.domainID)?.name, device: dev?.name ?? user(of: e.tag, domains), pasid: e.tag.pasid,
        details: [
          Detail("cache", .string(dev == nil ? "iotlb" : "atc")), Detail("iommu", .string(unitName)),
          Detail("entry size", .hex(e.size)),
        ],
        dumpsPageOwner: true)
      report(finding, stack: stack, context: context)
    }
  }

  /// The device that can use an IOTLB entry: the first attached to its
  /// domain with its PASID.
  private func user(of tag: CacheTag, _ domains: (Int) -> Domain?) -> String? {
    domains(tag.domainID)?.attachedDevices.first { $0.pasid == tag.pasid }?.device.name
  }

  /// The IOVA at which `domain`'s page table still maps `pfn` through the
  /// cached entry's range, and why the map counts did not see it; nil when
  /// the page table no longer maps the page there (a stale cache entry).
  private func stillMapped(_ pfn: PFN, entry e: LeafEntry, domain: Domain) -> (iova: IOVA, reason: String)? {
    let page = phys(pfn).rawValue
    guard page >= e.phys, page - e.phys < e.size else { return nil }
    let iova = IOVA(e.iova &+ (page - e.phys))
    guard domain.iovaToPhys(iova).rawValue >> UInt64(pageShift) == pfn.rawValue else { return nil }
    guard configuration.debugPageAlloc && Sanitizer.isCompiledIn else {
      return (iova, "IOMMU_DEBUG_PAGEALLOC is off (iommu.debug_pagealloc=0): nothing counts mappings")
    }
    let granule = domain.granule
    if configuration.accounting == .kernel && granule > pageSize {
      let counted = domain.iovaToPhys(IOVA(iova.rawValue & ~(granule - 1))).rawValue >> UInt64(pageShift)
      if counted != pfn.rawValue {
        return (
          iova,
          "kernel accounting (emu.accounting=kernel) counts one CPU page per \(ByteSize.describe(granule)) "
            + "granule, the one at the granule's start, and missed this one"
        )
      }
    }
    return (iova, "its map count is 0 (\(configuration.accounting.rawValue) accounting did not count it)")
  }

  /// A page freed while still mapped, which the map counts missed: the
  /// kernel prints nothing; the emulator knows the page table still maps it.
  private func reportUncounted(
    _ pfn: PFN, iova: IOVA, reason: String, domain: Domain, cacheName: String, device: Device?,
    stack: [KernelFrame], context: CallContext
  ) {
    let finding = Finding(
      kind: .freedWhileMappedUncounted,
      headline:
        "iommusan: pfn \(pfn) freed while domain \(domain.name) still maps iova \(iova) to it, "
        + "uncounted by the map counts",
      warningSite: WarningSite.Emulator.freeMapped,
      frames: ["iommusan_check_free_mapped"], pfn: pfn, phys: phys(pfn), iova: iova, domain: domain.name,
      device: device?.name,
      details: [
        Detail("reason", .string(reason)), Detail("seen through", .string(cacheName)),
        Detail("accounting", .string(configuration.accounting.rawValue)),
      ],
      dumpsPageOwner: true)
    report(finding, stack: stack, context: context)
  }

  /// A CPU page-table page freed while an IOMMU walk cache still points at
  /// it: a kernel table is `page-table-freed-while-cached` (the SVA KVA bug
  /// of seed 000); a user table of an SVA mm is `secondary-tlb-stale`.
  private func checkCPUTableFree(_ block: PageBlock, kernel: Bool, stack: [KernelFrame], context: CallContext) {
    let base = phys(block.head)
    let length = block.pageCount << UInt64(pageShift)
    for u in machine.units {
      let entries = u.walkEntries(pointingInto: base, length: length)
      guard let e = entries.first else { continue }
      let domain = machine.domains.first { $0.id == e.tag.domainID }
      let pasid = e.tag.pasid ?? 0
      let check = kernel ? "iommusan_check_kernel_pgtable_free" : "iommusan_check_secondary_tlb"
      let finding = Finding(
        kind: kernel ? .pageTableFreedWhileCached : .secondaryTLBStale,
        headline: kernel
          ? "iommusan: kernel page-table page \(base) freed while the paging-structure cache of \(u.name) still "
            + "points at it (va \(VirtualAddress(e.iovaBase)), pasid \(pasid))"
          : "iommusan: page-table page \(base) of SVA-shared memory freed before the IOMMU was told: \(u.name) "
            + "still caches a pointer to it (pasid \(pasid))",
        warningSite: kernel ? WarningSite.Emulator.kernelTableFree : WarningSite.Emulator.secondaryTLB, frames: [check],
        pfn: block.head, phys: base, iova: IOVA(e.iovaBase), domain: domain?.name,
        device: domain?.attachedDevices.first?.device.name, pasid: e.tag.pasid,
        details: [
          Detail("iommu", .string(u.name)), Detail("walk cache entries", .int(Int64(entries.count))),
          Detail("level", .int(Int64(4 - e.depth))), Detail("table", .string(kernel ? "kernel" : "user")),
        ],
        dumpsPageOwner: true)
      report(finding, stack: stack, context: context)
      return
    }
  }

  package func tablePageFreeing(_ block: PageBlock, domain: Domain, context: CallContext) {
    let base = phys(block.head)
    let entries = domain.unit.walkEntries(pointingInto: base, length: block.pageCount << UInt64(pageShift))
    guard let e = entries.first else { return }
    let finding = Finding(
      kind: .pageTableFreedWhileCached,
      headline:
        "iommusan: I/O page-table page at \(base) freed while the walk cache of \(domain.unit.name) still points at it",
      warningSite: WarningSite.Emulator.tableFree,
      frames: ["iommusan_check_table_free", "iommu_put_pages_list"], pfn: block.head, phys: base,
      iova: IOVA(e.iovaBase), domain: domain.name,
      details: [
        Detail("walk cache entries", .int(Int64(entries.count))),
        Detail("level", .int(Int64(domain.unit.format.levels - e.depth))),
      ])
    report(finding, context: context)
  }

  // MARK: - ATS

  /// The driver's own log of the timeout (`Finding.atsTimeoutLog`), then
  /// iommusan's WARN at the IOMMU driver's file.
  /// The corresponding Linux functions are `qi_check_fault()` (VT-d),
  /// `__arm_smmu_cmdq_skip_err()` (SMMUv3) and `iommu_print_event()` (AMD).
  package func atcInvalidationTimedOut(_ command: InvalidationCommand, device: Device, context: CallContext) {
    noteInvalidation(command, .timedOut, context: context)
    var pasid: UInt32?
    if case .atc(_, let p) = command.target, let p { pasid = p }
    let log = Finding.atsTimeoutLog(
      .init(
        model: device.unit.model, unit: device.unit.name, bdf: device.bdf, pasid: pasid, range: command.range))
    var finding = Finding(
      kind: .atsInvalidationTimeout, headline: log.first ?? "",
      warningSite: WarningSite.Emulator.atsInvalidation(device.unit.model),
      frames: ["iommusan_check_ats_invalidation"], iova: command.range.map { IOVA($0.lowerBound) },
      device: device.name, pasid: pasid,
      details: [
        Detail("command", .string(command.name)), Detail("iommu", .string(device.unit.name)),
        Detail("reason", .string("the device is resetting (FLR) and ignores ATS invalidations")),
      ])
    finding.kernelLog = log
    report(finding, context: context)
  }

  // MARK: - Ground truth

  package func deviceAccessed(_ event: DeviceAccessEvent) {
    let ctx = event.context
    let rw = event.length == 0 ? "translation request" : (event.isWrite ? "write" : "read")
    if let fault = event.fault {
      let flags = event.isWrite ? 1 : 0
      emit(
        MachineEventRecord(
          kind: .fault,
          text:
            "io_page_fault: IOMMU:\(event.device.unit.name) \(event.device.bdf) iova=\(event.iova.rawValue.hex16) flags=0x000\(flags) (\(event.device.name) \(rw)\(event.pasid.map { " pasid \($0)" } ?? ""): \(fault))",
          device: event.device.name, iova: event.iova, statementIndex: ctx.statementIndex, task: ctx.task))
    }
    if let phys = event.phys, event.length > 0, event.fault == nil {
      checkObjectAccess(event, phys: phys)
    }
    if let phys = event.phys {
      note(
        .access(
          device: event.device.name, iommu: event.device.unit.name, write: event.isWrite, iova: event.iova.rawValue,
          path: event.path),
        pfn: phys.rawValue >> UInt64(pageShift), context: ctx)
    }
    switch event.verdict {
    case .ok: return
    case .useAfterFree(let pfn, let isFree, _, _, let freedAfter):
      let state =
        isFree
        ? "is free"
        : freedAfter
          ? "was freed and allocated again after the translation was made"
          : "was free when the translation was made and was allocated after it"
      var details: [Detail] = [
        Detail("access", .string(rw)), Detail("length", .int(Int64(event.length))), Detail("path", .string(event.path)),
      ]
      details.append(
        Detail(
          "translation",
          .string(Self.staleTranslation(path: event.path, isFree: isFree, freedAfterTranslation: freedAfter))))
      let finding = Finding(
        kind: .dmaUseAfterFree,
        headline:
          "iommusan: DMA use-after-free: \(event.device.name) \(rw) at iova \(event.iova) reached pfn \(pfn), "
          + "which \(state)",
        warningSite: WarningSite.Emulator.dmaGroundTruth,
        frames: ["iommusan_dma_ground_truth", "iommusan_device_access"], pfn: pfn, phys: event.phys,
        iova: event.iova, domain: event.domain?.name, device: event.device.name, pasid: event.pasid,
        details: details, dumpsPageOwner: true)
      report(finding, context: ctx, freedAfterTranslation: freedAfter)
    case .staleWalk(let table, let depth):
      let tpfn = table.pfn(pageShift: pageShift)
      let level = Int64((event.domain?.unit.format.levels ?? 4) - depth)
      let finding = Finding(
        kind: .dmaStaleWalk,
        headline:
          "iommusan: DMA through a freed page table: \(event.device.name) \(rw) at iova \(event.iova) walked the "
          + "freed table page \(table)",
        warningSite: WarningSite.Emulator.dmaStaleWalk,
        frames: ["iommusan_dma_ground_truth", "iommusan_device_access"], pfn: tpfn, phys: event.phys,
        iova: event.iova, domain: event.domain?.name, device: event.device.name, pasid: event.pasid,
        details: [
          Detail("access", .string(rw)), Detail("path", .string(event.path)), Detail("table level", .int(level)),
          Detail("table", .hex(table.rawValue)),
        ],
        dumpsPageOwner: true)
      report(finding, context: ctx)
    }
  }

  /// What the ground truth's epochs mean, in words: the translation the
  /// access used is older than the page's free (and its new allocation), or
  /// the page was already free when the translation was made.
  static func staleTranslation(path: String, isFree: Bool, freedAfterTranslation: Bool = true) -> String {
    let source =
      switch path {
      case "atc": "the device's ATC entry"
      case "iotlb": "the IOTLB entry"
      case "walk-cache": "the walk-cache entry"
      default: "the page-table entry"
      }
    guard freedAfterTranslation else {
      return "\(source) the access used was made while the page was free (no free came after it)"
        + (isFree ? "; the page is still free" : "; the page was allocated after it")
    }
    return "\(source) the access used was made before the page was freed"
      + (isFree ? "; the page is still free" : " and allocated again")
  }

  // MARK: - DMA-API debug

  /// Records the entry as `debug_dma_map_phys()` (or `debug_dma_alloc_coherent()`)
  /// does, with the stack `dma_entry_alloc()` saves (`stack_trace_save(...,
  /// DMA_DEBUG_STACKTRACE_ENTRIES, 1)`: at most 5 frames, from the debug function).
  package func dmaMapped(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress,
    context: CallContext
  ) {
    let debug = context.via.first == "dma_alloc_attrs" ? "debug_dma_alloc_coherent" : "debug_dma_map_phys"
    let stack = Array(context.chain([debug]).prefix(5))
    let object = machine.slabObjects(overlapping: phys.rawValue, length: 1).first
    let budget = machine.memory.budget
    state.withLock {
      $0.addDMAEntry(
        DMAKey(device: device.name, address: dmaAddress.rawValue),
        DMAEntry(size: size, direction: direction, phys: phys, stack: stack, object: object), budget: budget)
    }
    checkDMAMapRange(device, dmaAddress: dmaAddress, size: size, phys: phys, context: context)
  }

  package func vfreeNonexistent(_ address: VirtualAddress, context: CallContext) {
    reportVfreeNonexistent(address, context: context)
  }

  package func domainFreedAgain(_ domain: Domain, context: CallContext) {
    reportDomainFreedAgain(domain, context: context)
  }

  /// The corresponding Linux function is `debug_dma_unmap_phys()`.
  package func dmaUnmapping(
    _ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, context: CallContext
  ) {
    checkUnmap(
      device, dmaAddress: dmaAddress, size: size, direction: direction, sgCallEntries: nil,
      frames: ["check_unmap", "debug_dma_unmap_phys", "dma_unmap_phys"], context: context)
  }

  // MARK: - Leaks

  package func mappingsLeft(
    _ domain: Domain, leaves: [RemovedLeaves], reason: LeakReason, device: Device?, freed: Bool, context: CallContext
  ) {
    if reason == .processExited {
      let dev = domain.attachedDevices.first
      let finding = Finding(
        kind: .mappingLeak,
        headline:
          "iommusan: process \(domain.process?.description ?? "?") exited with its SVA binding to "
          + "\(dev?.device.name ?? "a device") (pasid \(dev?.pasid ?? 0)) still in place",
        warningSite: WarningSite.Emulator.svaLeak,
        frames: ["iommusan_check_mapping_leak", "mmu_notifier_release", "exit_mmap"], domain: domain.name,
        device: dev?.device.name, pasid: dev?.pasid, details: [Detail("reason", .string(reason.rawValue))])
      report(finding, context: context)
      return
    }
    if freed { origins.withLock { $0.removeDomain(domain.id) } }
    guard let first = leaves.first else { return }
    let bytes = leaves.reduce(UInt64(0)) { $0 &+ $1.size }
    let finding = Finding(
      kind: .mappingLeak,
      headline: "iommusan: \(reason.rawValue) with \(ByteSize.describe(bytes)) still mapped in domain \(domain.name)",
      warningSite: WarningSite.Emulator.mappingLeak,
      frames: ["iommusan_check_mapping_leak", reason == .domainFreed ? "iommu_domain_free" : "iommu_detach_device"],
      pfn: first.phys.pfn(pageShift: pageShift), phys: first.phys, iova: first.iova, domain: domain.name,
      device: device?.name,
      details: [
        Detail("reason", .string(reason.rawValue)), Detail("runs", .int(Int64(leaves.count))),
        Detail("bytes", .hex(bytes)),
      ])
    report(finding, context: context)
    // Exact accounting: the freed page table maps nothing any more.
    if freed && configuration.accounting == .exact && configuration.debugPageAlloc && Sanitizer.isCompiledIn {
      var site = CountSite(caller: nil, iova: first.iova)
      release(leaves, &site)
      reportCounts(site, domain, context: context)
    }
  }
}
