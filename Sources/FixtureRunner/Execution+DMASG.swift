import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel

/// Section 5 extended: scatter-gather, syncs, `dma_alloc_pages`; section 3 extended: `kmalloc`.
extension Execution {
  /// `NAME = dma_map_sg DEVICE seg=ADDR:LEN... [dir=]`.
  func dmaMapSG(
    _ devRef: NameReference, _ segments: [SGSegment], direction: DMADirection, _ run: inout StatementRun
  ) throws(FatalError) {
    let dev = try bound(devRef, as: Device.self)
    var entries: [ScatterlistEntry] = []
    for s in segments {
      entries.append(ScatterlistEntry(phys: PhysicalAddress(try address(s.address)), length: s.length))
    }
    do {
      let (mapped, count) = try machine.dmaMapSG(dev, entries: entries, direction: direction, context: run.context)
      bind(
        run.statement,
        .sgList(MappedScatterlist(device: dev, entries: mapped, count: count, direction: direction)))
    } catch { run.fail(error) }
  }

  /// `dma_unmap_sg NAME [nents=] [dir=]`: nil means as at map time.
  func dmaUnmapSG(_ ref: NameReference, nents: Int?, direction: DMADirection?, _ run: inout StatementRun)
    throws(FatalError)
  {
    let list = try bound(ref, as: MappedScatterlist.self)
    machine.dmaUnmapSG(
      list.device, entries: list.entries, nents: min(nents ?? list.entries.count, list.entries.count),
      direction: direction ?? list.direction, context: run.context)
  }

  /// `dma_sync_single_for_cpu|device ADDR size= [dir=]`: the device is the
  /// mapping's; without `dir=` the mapping's direction.
  func dmaSyncSingle(
    _ addr: AddressExpression, size: UInt64, direction: DMADirection?, toCPU: Bool, _ run: inout StatementRun
  ) throws(FatalError) {
    guard let ref = addr.nameReference else {
      throw fatal(addr.location, "a sync names its mapping: write the DMA handle, as in 'h+0x40'")
    }
    let device: Device
    var mapped: DMADirection = .bidirectional
    switch try lookup(ref) {
    case .dmaHandle(let h):
      device = h.device
      mapped = h.direction
    case .sgList(let l):
      device = l.device
      mapped = l.direction
    case let other: throw fatal(ref.location, "'\(ref.name)' is \(other.noun), not a DMA mapping")
    }
    machine.dmaSync(
      device, dmaAddress: IOVA(try address(addr)), size: size, direction: direction ?? mapped, toCPU: toCPU,
      context: run.context)
  }

  /// `dma_sync_sg_for_cpu|device NAME [nents=] [dir=]`: one check per DMA segment, as `debug_dma_sync_sg_*()`.
  func dmaSyncSG(
    _ ref: NameReference, nents: Int?, direction: DMADirection?, toCPU: Bool, _ run: inout StatementRun
  ) throws(FatalError) {
    let list = try bound(ref, as: MappedScatterlist.self)
    let n = min(nents ?? list.entries.count, list.entries.count)
    for e in list.entries.prefix(min(n, list.count)) {
      machine.dmaSync(
        list.device, dmaAddress: e.dmaAddress, size: e.dmaLength, direction: direction ?? list.direction,
        toCPU: toCPU, nents: n, context: run.context.through([toCPU ? "dma_sync_sg_for_cpu" : "dma_sync_sg_for_device"])
      )
    }
  }

  /// `NAME = dma_alloc_pages DEVICE SIZE [dir=]`.
  func dmaAllocPages(_ devRef: NameReference, size: UInt64, direction: DMADirection, _ run: inout StatementRun)
    throws(FatalError)
  {
    let dev = try bound(devRef, as: Device.self)
    do {
      let (a, block) = try machine.dmaAllocPages(dev, size: size, direction: direction, context: run.context)
      bind(
        run.statement,
        .dmaHandle(
          DMAHandle(device: dev, address: a, size: size, direction: direction, coherent: block, isAllocPages: true)))
    } catch { run.fail(error) }
  }

  /// `dma_free_pages NAME`.
  func dmaFreePages(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let h = try bound(ref, as: DMAHandle.self)
    guard let block = h.coherent else { throw fatal(ref.location, "'\(ref.name)' is not from dma_alloc_pages") }
    do {
      try machine.dmaFreePages(
        h.device, dmaAddress: h.address, size: h.size, direction: h.direction, block: block, context: run.context)
    } catch { run.fail(error) }
  }

  /// `NAME = kmalloc SIZE [gfp=]`.
  func kmalloc(size: UInt64, gfp: GFPFlags, _ run: inout StatementRun) {
    do {
      let object = try machine.kmalloc(size: size, gfp: gfp, context: run.context)
      bind(run.statement, .slabObject(object))
    } catch { run.fail(error) }
  }

  /// `kfree NAME`.
  func kfree(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let object = try bound(ref, as: SlabObject.self)
    do { try machine.kfree(object.address, serial: object.serial, context: run.context) } catch { run.fail(error) }
  }
}
