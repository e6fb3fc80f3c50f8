import KernelTypes
import MemoryModel

/// One entry of a scatterlist as the DMA API leaves it: what the driver
/// passed (`phys`, `length`) and what the mapping filled in (`dmaAddress`,
/// `dmaLength`; 0 when the entry was merged into the one before).
package struct ScatterlistEntry: Sendable, Hashable {
  package var phys: PhysicalAddress
  package var length: UInt64
  package var dmaAddress: IOVA
  package var dmaLength: UInt64

  package init(phys: PhysicalAddress, length: UInt64, dmaAddress: IOVA = IOVA(0), dmaLength: UInt64 = 0) {
    self.phys = phys
    self.length = length
    self.dmaAddress = dmaAddress
    self.dmaLength = dmaLength
  }
}

/// What DMA-API debug sees of an sg call or a sync.
package enum DMADebugEvent: Sendable {
  /// `debug_dma_map_sg()`: the `mappedEntries` first entries carry the DMA segments.
  case mapSG(Device, entries: [ScatterlistEntry], mappedEntries: Int, direction: DMADirection)
  /// `debug_dma_unmap_sg()`: the list and `nents` the driver passed.
  case unmapSG(Device, entries: [ScatterlistEntry], nents: Int, direction: DMADirection)
  /// `debug_dma_sync_single_for_cpu()` and friends (`nents` nil), or one
  /// entry of `debug_dma_sync_sg_for_cpu()` and friends.
  case sync(Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, toCPU: Bool, nents: Int?)
  /// `debug_dma_alloc_pages()` / `debug_dma_free_pages()`.
  case allocPages(Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress)
  case freePages(Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection)
}

extension Machine {
  /// PCI's defaults: `dma_set_max_seg_size(dev, 65536)` and `dma_set_seg_boundary(dev, 0xffffffff)` in
  /// `pci_device_add()`.
  package static let maxSegmentSize: UInt64 = 65_536
  package static let segmentBoundaryMask: UInt64 = 0xffff_ffff

  /// Maps a scatterlist into one IOVA range: each entry's pages granule
  /// aligned, one after another (padded so that no segment crosses the
  /// segment boundary), then merged back as `__finalise_sg()` does. Returns
  /// the entries with their DMA fields and the number of DMA segments.
  /// The corresponding Linux function is `iommu_dma_map_sg()` (`dma_map_sg_attrs()`).
  package func dmaMapSG(
    _ device: Device, entries input: [ScatterlistEntry], direction: DMADirection, context: CallContext
  ) throws(MachineError) -> (entries: [ScatterlistEntry], count: Int) {
    let domain = try dmaDomain(device)
    guard !input.isEmpty else { throw MachineError(.EINVAL, "nents is 0") }
    var entries = input
    for e in entries {
      guard e.length > 0 else { throw MachineError(.EINVAL, "a segment's length is 0") }
      guard e.phys.adding(e.length) != nil else { throw MachineError(.EOVERFLOW, "phys+length wraps around") }
    }
    if domain.type == .identity {
      for i in entries.indices {
        entries[i].dmaAddress = IOVA(entries[i].phys.rawValue)
        entries[i].dmaLength = entries[i].length
      }
      observer?.dmaDebug(
        .mapSG(device, entries: entries, mappedEntries: entries.count, direction: direction), context: context)
      return (entries, entries.count)
    }
    let granule = domain.granule
    let mask = Machine.segmentBoundaryMask
    // The layout: each entry's IOVA offset and aligned length, and the padding after it.
    var offsets: [UInt64] = []
    var lengths: [UInt64] = []
    var iovaLength: UInt64 = 0
    for e in entries {
      let off = e.phys.rawValue & (granule - 1)
      let (a, o1) = e.length.addingReportingOverflow(off &+ granule &- 1)
      guard !o1 else { throw MachineError(.EOVERFLOW, "a segment is too large") }
      let aligned = a & ~(granule - 1)
      let pad = (mask &- iovaLength &+ 1) & mask
      if pad != 0 && pad < aligned &- 1, let last = lengths.indices.last {
        lengths[last] += pad
        iovaLength += pad
      }
      let (sum, o2) = iovaLength.addingReportingOverflow(aligned)
      guard !o2 else { throw MachineError(.EOVERFLOW, "the list is too large") }
      iovaLength = sum
      offsets.append(off)
      lengths.append(aligned)
    }
    let shift = UInt64(ByteSize.ffs(granule))
    let pages = iovaLength >> shift
    let limit = domain.unit.format.inputLimit
    guard memory.budget.charge(DMAMapping.residentBytes, .dmaMappings) else { throw .residentLimit }
    var recorded = false
    defer { if !recorded { memory.budget.release(DMAMapping.residentBytes, .dmaMappings) } }
    guard let pfn = allocIOVA(device, domain, pages: pages, limit: limit, context: context) else {
      throw MachineError(.ENOMEM, "IOVA space exhausted")
    }
    let iova = IOVA(pfn << shift)
    let via = context.through(["iommu_map_sg", "iommu_dma_map_sg", "__dma_map_sg_attrs", "dma_map_sg_attrs"])
    var cursor = iova.rawValue
    for (i, e) in entries.enumerated() {
      let mapLength = lengths[i]  // iommu_map_sg() maps the padding too
      do {
        try domain.map(
          iova: IOVA(cursor), phys: PhysicalAddress(e.phys.rawValue - offsets[i]), size: mapLength,
          readable: direction != .fromDevice, writable: direction != .toDevice, context: via)
      } catch {
        if cursor > iova.rawValue {
          let (_, gather) = domain.unmapGathering(iova: iova, size: cursor - iova.rawValue, context: context)
          domain.iotlbSync(gather, context: context)
        }
        domain.state.withLock { $0.iovas.freeFast(pfn: pfn, pages: pages) }
        throw error
      }
      cursor += lengths[i]
    }
    // __finalise_sg(): merge what starts on a granule and fits the segment limits.
    var count = 0
    var current = 0
    var currentLength: UInt64 = 0
    var dmaAddress = iova.rawValue
    for i in entries.indices {
      let off = offsets[i]
      let length = entries[i].length
      entries[i].dmaAddress = IOVA(0)
      entries[i].dmaLength = 0
      if currentLength != 0 && off == 0 && (dmaAddress & mask) != 0
        && Machine.maxSegmentSize - currentLength >= length
      {
        currentLength += length
      } else {
        if i > 0 { current = count }
        currentLength = length
        count += 1
        entries[current].dmaAddress = IOVA(dmaAddress + off)
      }
      entries[current].dmaLength = currentLength
      dmaAddress += lengths[i]
      if length + off < lengths[i] { currentLength = 0 }
    }
    let first = entries[0].dmaAddress
    recorded = domain.state.withLock {
      $0.dmaMappings.updateValue(
        DMAMapping(
          dmaAddress: first, iova: iova, length: iovaLength, size: iovaLength, phys: entries[0].phys,
          direction: direction), forKey: first.rawValue) == nil
    }
    observer?.dmaDebug(.mapSG(device, entries: entries, mappedEntries: count, direction: direction), context: context)
    return (entries, count)
  }

  /// Unmaps the IOVA range from the first entry's DMA address to the end of
  /// the last DMA segment among the first `nents` entries: with fewer
  /// entries than were mapped, the rest stays mapped.
  /// The corresponding Linux function is `iommu_dma_unmap_sg()` (`dma_unmap_sg_attrs()`).
  package func dmaUnmapSG(
    _ device: Device, entries: [ScatterlistEntry], nents: Int, direction: DMADirection, context: CallContext
  ) {
    observer?.dmaDebug(.unmapSG(device, entries: entries, nents: nents, direction: direction), context: context)
    guard let domain = try? dmaDomain(device), domain.type == .dma, let first = entries.first, nents > 0 else { return }
    var end: UInt64 = 0
    for e in entries.prefix(nents) {
      if e.dmaLength == 0 { break }
      end = e.dmaAddress.rawValue &+ e.dmaLength
    }
    let start = first.dmaAddress.rawValue
    guard end > start else { return }
    let granule = domain.granule
    let off = start & (granule - 1)
    let base = start - off
    let size = (end - base + granule - 1) & ~(granule - 1)
    if domain.state.withLock({ $0.dmaMappings.removeValue(forKey: start) }) != nil {
      memory.budget.release(DMAMapping.residentBytes, .dmaMappings)
    }
    let (_, gather) = domain.unmapGathering(iova: IOVA(base), size: size, context: context)
    let pfn = base >> UInt64(ByteSize.ffs(granule))
    if domain.isLazy {
      queueIOVA(domain, pfn: pfn, iova: base, size: size, freelist: gather.freelist, context: context)
    } else {
      domain.iotlbSync(gather, context: context)
      domain.state.withLock { $0.iovas.freeFast(pfn: pfn, pages: size >> UInt64($0.iovas.granuleShift)) }
    }
  }

  /// A sync between CPU and device. The emulated machine is cache coherent,
  /// so only DMA-API debug looks at it.
  /// The corresponding Linux functions are `dma_sync_single_for_cpu()` and `dma_sync_single_for_device()`.
  package func dmaSync(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, toCPU: Bool, nents: Int? = nil,
    context: CallContext
  ) {
    observer?.dmaDebug(
      .sync(device, dmaAddress: dmaAddress, size: size, direction: direction, toCPU: toCPU, nents: nents),
      context: context)
  }

  /// Allocates pages and maps them streaming, for `direction`.
  /// The corresponding Linux function is `dma_common_alloc_pages()` (`dma_alloc_pages()`).
  package func dmaAllocPages(_ device: Device, size: UInt64, direction: DMADirection, context: CallContext)
    throws(MachineError) -> (IOVA, PageBlock)
  {
    let (address, block) = try dmaAlloc(
      device, size: size, direction: direction, api: ["dma_common_alloc_pages", "dma_alloc_pages"],
      context: context)
    observer?.dmaDebug(
      .allocPages(
        device, dmaAddress: address, size: size, direction: direction,
        phys: block.head.address(pageShift: memory.pageShift)), context: context)
    return (address, block)
  }

  /// Unmaps and frees what `dmaAllocPages` gave.
  /// The corresponding Linux function is `dma_common_free_pages()` (`dma_free_pages()`).
  package func dmaFreePages(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, block: PageBlock, context: CallContext
  ) throws(MachineError) {
    observer?.dmaDebug(
      .freePages(device, dmaAddress: dmaAddress, size: size, direction: direction), context: context)
    try dmaFree(
      device, dmaAddress: dmaAddress, size: size, direction: direction, block: block, debug: false,
      api: ["dma_common_free_pages", "dma_free_pages"], context: context)
  }
}
