import KernelTypes
import MemoryModel

extension Machine {
  /// The DMA domain the DMA API works on for `device`.
  func dmaDomain(_ device: Device) throws(MachineError) -> Domain {
    // While a reset parks the RID on the blocking domain, the DMA API still
    // works on the group's domain (`iommu_get_dma_domain()`).
    let current = device.state.withLock { $0.resetPrepared ? $0.savedDomain : $0.domain }
    guard let d = current else { throw MachineError(.ENODEV, "device \(device.name) has no domain") }
    switch d.type {
    case .dma, .identity: return d
    case .blocked: throw MachineError(.EIO, "device \(device.name) is in a blocked domain")
    case .sva: throw MachineError(.EINVAL, "device \(device.name) RID is in an SVA domain")
    case .paging:
      throw MachineError(
        .EINVAL, "device \(device.name) is attached to the paging domain \(d.name); the DMA API works on its DMA domain"
      )
    }
  }

  /// Maps `[phys, phys+size)` for `device` and returns the DMA address.
  /// The corresponding Linux function is `iommu_dma_map_phys()` (`dma_map_page()`).
  package func dmaMap(
    _ device: Device, phys: PhysicalAddress, size: UInt64, direction: DMADirection, context: CallContext,
    coherent: PageBlock? = nil, api allocAPI: [String]? = nil, debug: Bool = true
  ) throws(MachineError) -> IOVA {
    let domain = try dmaDomain(device)
    guard size > 0 else { throw MachineError(.EINVAL, "size is 0") }
    guard phys.adding(size) != nil else { throw MachineError(.EOVERFLOW, "phys+size wraps around") }
    // DMA-API debug is called from the API's entry: `dma_map_phys()` (from
    // `dma_map_page_attrs()`) or `dma_alloc_attrs()`.
    let debugContext = context.through(coherent == nil ? ["dma_map_phys", "dma_map_page_attrs"] : ["dma_alloc_attrs"])
    if domain.type == .identity {
      guard debug else { return IOVA(phys.rawValue) }
      observer?.dmaMapped(
        device, dmaAddress: IOVA(phys.rawValue), size: size, direction: direction, phys: phys, context: debugContext)
      return IOVA(phys.rawValue)
    }
    // The mapping's record is charged first: a refusal leaves nothing to undo.
    guard memory.budget.charge(DMAMapping.residentBytes, .dmaMappings) else { throw .residentLimit }
    var recorded = false
    defer { if !recorded { memory.budget.release(DMAMapping.residentBytes, .dmaMappings) } }
    let granule = domain.granule
    let offset = phys.rawValue & (granule - 1)
    let (sum, o1) = size.addingReportingOverflow(offset)
    let (len, o2) = sum.addingReportingOverflow(granule - 1)
    guard !o1 && !o2 else { throw MachineError(.EOVERFLOW, "size is too large") }
    let length = len & ~(granule - 1)
    let shift = ByteSize.ffs(granule)
    let pages = length >> UInt64(shift)
    let limit = domain.unit.format.inputLimit
    guard let pfn = allocIOVA(device, domain, pages: pages, limit: limit, context: context) else {
      throw MachineError(.ENOMEM, "IOVA space exhausted")
    }
    let iova = IOVA(pfn << UInt64(shift))
    let readable = direction != .fromDevice
    let writable = direction != .toDevice
    // dma_map_page_attrs() -> dma_map_phys() -> iommu_dma_map_phys(), or
    // iommu_dma_alloc(), then __iommu_dma_map() calls iommu_map().
    let api =
      coherent == nil ? ["iommu_dma_map_phys", "dma_map_phys", "dma_map_page_attrs"] : allocAPI ?? ["iommu_dma_alloc"]
    do {
      try domain.map(
        iova: iova, phys: PhysicalAddress(phys.rawValue - offset), size: length, readable: readable, writable: writable,
        context: context.through(["__iommu_dma_map"] + api))
    } catch {
      domain.state.withLock { $0.iovas.freeFast(pfn: pfn, pages: pages) }
      throw error
    }
    let dmaAddress = iova.advanced(by: offset)
    recorded = domain.state.withLock {
      $0.dmaMappings.updateValue(
        DMAMapping(
          dmaAddress: dmaAddress, iova: iova, length: length, size: size, phys: phys, direction: direction,
          coherentBlock: coherent), forKey: dmaAddress.rawValue) == nil
    }
    if debug {
      observer?.dmaMapped(
        device, dmaAddress: dmaAddress, size: size, direction: direction, phys: phys, context: debugContext)
    }
    return dmaAddress
  }

  /// Unmaps a DMA mapping. The DMA-API debug hook sees what the driver
  /// passed; the emulator then unmaps the whole mapping that the map made.
  /// The corresponding Linux function is `iommu_dma_unmap_phys()` (`dma_unmap_page()`).
  @discardableResult
  package func dmaUnmap(
    _ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, debug: Bool = true,
    context: CallContext
  ) -> DMAMapping? {
    if debug {
      observer?.dmaUnmapping(device, dmaAddress: dmaAddress, size: size, direction: direction, context: context)
    }
    guard let domain = try? dmaDomain(device), domain.type == .dma else { return nil }
    guard let m = domain.state.withLock({ $0.dmaMappings.removeValue(forKey: dmaAddress.rawValue) }) else { return nil }
    memory.budget.release(DMAMapping.residentBytes, .dmaMappings)
    let (_, gather) = domain.unmapGathering(iova: m.iova, size: m.length, context: context)
    let pfn = m.iova.rawValue >> UInt64(ByteSize.ffs(domain.granule))
    if domain.isLazy {
      queueIOVA(domain, pfn: pfn, iova: m.iova.rawValue, size: m.length, freelist: gather.freelist, context: context)
    } else {
      domain.iotlbSync(gather, context: context)
      domain.state.withLock { $0.iovas.freeFast(pfn: pfn, pages: m.length >> UInt64($0.iovas.granuleShift)) }
    }
    return m
  }

  /// Allocates the IOVA of a DMA mapping of `pages` granules: below 4G
  /// first while the device's `pci_32bit_workaround` is set (a failure there
  /// clears it, with the kernel's notice), then anywhere below `limit` (bytes).
  /// The corresponding Linux function is `iommu_dma_alloc_iova()`.
  func allocIOVA(_ device: Device, _ domain: Domain, pages: UInt64, limit: UInt64, context: CallContext)
    -> UInt64?
  {
    let sac = device.state.withLock { $0.pci32BitWorkaround }
    let (pfn, triedSAC) = domain.state.withLock { s -> (UInt64?, Bool) in
      let limitPFN = limit >> UInt64(s.iovas.granuleShift)
      guard sac, limitPFN > s.iovas.dma32BitPFN else {
        return (s.iovas.allocateFast(pages: pages, limitPFN: limitPFN, flushRCache: true), false)
      }
      if let pfn = s.iovas.allocateFast(pages: pages, limitPFN: s.iovas.dma32BitPFN, flushRCache: false) {
        return (pfn, false)
      }
      return (s.iovas.allocateFast(pages: pages, limitPFN: limitPFN, flushRCache: true), true)
    }
    if triedSAC {
      device.state.withLock { $0.pci32BitWorkaround = false }
      // bits_per(dma_limit): the aperture's last address.
      let bits = 64 - (limit &- 1).leadingZeroBitCount
      observer?.kernelMessage("pci \(device.bdf): Using \(bits)-bit DMA addresses", context: context)
    }
    return pfn
  }

  /// Allocates coherent memory and maps it.
  /// The corresponding Linux function is `iommu_dma_alloc()` (`dma_alloc_coherent()`).
  package func dmaAlloc(
    _ device: Device, size: UInt64, direction: DMADirection = .bidirectional,
    api: [String] = ["iommu_dma_alloc"], context: CallContext
  ) throws(MachineError) -> (IOVA, PageBlock) {
    let debug = api == ["iommu_dma_alloc"]
    guard size > 0 else { throw MachineError(.EINVAL, "size is 0") }
    let pageSize = memory.pageSize
    let (p, o) = size.addingReportingOverflow(pageSize - 1)
    guard !o else { throw MachineError(.ENOMEM, "size is too large") }
    let pages = p >> UInt64(memory.pageShift)
    let order = pages <= 1 ? 0 : 64 - (pages - 1).leadingZeroBitCount
    guard order <= 10 else {
      throw MachineError(.ENOMEM, "\(ByteSize.describe(size)) needs order \(order), above MAX_PAGE_ORDER")
    }
    let block = try memory.allocPages(
      order: order, gfp: .kernelZero, use: .data, context: context,
      stack: context.chain(
        ["post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof"]
          + (debug ? ["iommu_dma_alloc_pages"] : []) + api))
    do {
      let addr = try dmaMap(
        device, phys: block.head.address(pageShift: memory.pageShift), size: size, direction: direction,
        context: context, coherent: block, api: api, debug: debug)
      return (addr, block)
    } catch {
      try? memory.freePages(block, context: context)
      throw error
    }
  }

  /// Unmaps and frees coherent memory.
  /// The corresponding Linux function is `iommu_dma_free()` (`dma_free_coherent()`).
  package func dmaFree(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection = .bidirectional, block: PageBlock,
    debug: Bool = true, api: [String] = ["iommu_dma_free"], context: CallContext
  ) throws(MachineError) {
    dmaUnmap(device, dmaAddress: dmaAddress, size: size, direction: direction, debug: debug, context: context)
    try memory.freePages(
      block, context: context,
      stack: context.chain(["free_pages_prepare", "__free_frozen_pages", "__free_pages"] + api))
  }

  /// The live DMA mapping at `dmaAddress`, if any.
  package func dmaMapping(_ device: Device, dmaAddress: IOVA) -> DMAMapping? {
    device.domain?.state.withLock { $0.dmaMappings[dmaAddress.rawValue] }
  }

  // MARK: - Flush queue

  /// The corresponding Linux function is `queue_iova()`.
  func queueIOVA(_ domain: Domain, pfn: UInt64, iova: UInt64, size: UInt64, freelist: [PageBlock], context: CallContext)
  {
    releaseFlushed(domain, context: context)
    if domain.state.withLock({ $0.fq.isFull }) {
      flushQueueFlush(domain, context: context)
      releaseFlushed(domain, context: context)
    }
    let deadline = clock.now &+ FlushQueue.timeoutNS
    let entry = FlushQueue.Entry(iovaPFN: pfn, iova: iova, size: size, freelist: freelist, counter: 0)
    guard memory.budget.charge(FlushQueue.residentBytes(entry), .flushQueueEntries) else {
      // No room to queue it: flush now and free, as a strict domain does.
      flushQueueFlush(domain, context: context)
      domain.state.withLock { $0.iovas.freeFast(pfn: pfn, pages: size >> UInt64($0.iovas.granuleShift)) }
      domain.freeTables(freelist, context: context)
      return
    }
    domain.state.withLock { s in
      var e = entry
      e.counter = s.fq.flushStartCount
      s.fq.entries.append(e)
      if s.fq.timerDeadline == nil { s.fq.timerDeadline = deadline }
    }
    registry.withLock { _ = $0.armedTimers.insert(domain.id) }
  }

  /// The corresponding Linux function is `fq_flush_iotlb()`.
  func flushQueueFlush(_ domain: Domain, context: CallContext) {
    domain.state.withLock { $0.fq.flushStartCount += 1 }
    domain.flushIOTLBAll(context: context)
    domain.state.withLock { $0.fq.flushFinishCount += 1 }
  }

  /// The corresponding Linux function is `fq_ring_free()`.
  func releaseFlushed(_ domain: Domain, context: CallContext) {
    let done = domain.state.withLock { s -> [FlushQueue.Entry] in
      let d = s.fq.takeReleasable()
      for e in d { s.iovas.freeFast(pfn: e.iovaPFN, pages: e.size >> UInt64(s.iovas.granuleShift)) }
      return d
    }
    for e in done { memory.budget.release(FlushQueue.residentBytes(e), .flushQueueEntries) }
    for e in done { domain.freeTables(e.freelist, context: context) }
  }

  /// The corresponding Linux function is `fq_flush_timeout()`.
  func flushQueueTimeout(_ domain: Domain, context: CallContext) {
    domain.state.withLock { $0.fq.timerDeadline = nil }
    flushQueueFlush(domain, context: context)
    releaseFlushed(domain, context: context)
  }

  /// Flushes and empties a domain's flush queue (domain teardown).
  func flushQueueDrain(_ domain: Domain, context: CallContext) {
    guard domain.state.withLock({ !$0.fq.entries.isEmpty }) else { return }
    flushQueueTimeout(domain, context: context)
  }
}
