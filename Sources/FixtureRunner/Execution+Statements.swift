import FixtureLanguage
import IOMMU
import MemoryModel

/// A statement while it runs: the statement, the task and caller it runs
/// as, and what it produced so far.
struct StatementRun {
  let statement: Statement
  let context: CallContext
  var outcome: StatementOutcome

  /// A kernel call failed: the statement's error, for `expect error`.
  mutating func fail(_ error: MachineError) {
    outcome.error = (error.errno.name, error.reason)
  }
}

extension Execution {
  /// Runs one statement through the function of its family: the machine
  /// (Execution+Topology.swift), memory, the IOMMU API, the DMA API, device
  /// DMA, processes and SVA, device reset.
  func execute(_ stmt: Statement, index: Int, context ctx: CallContext) throws(FatalError) -> StatementOutcome {
    let outcome = StatementOutcome(index: index, line: stmt.line, outputs: [], faulted: false)
    var run = StatementRun(statement: stmt, context: ctx, outcome: outcome)
    switch stmt.operation {
    // Section 2: the machine (`cmdline` and `memory` configured it).
    case .cmdline, .memory: break
    case .iommu(let c): addIOMMU(c, &run)
    case .device(let c): try addDevice(c, &run)
    // Section 3: memory.
    case .allocPages(let order, let gfp): allocPages(order: order, gfp: gfp, &run)
    case .freePages(let ref, let order): try freePages(ref, order: order, &run)
    case .freePagesAt(let pfn, let order): freePages(pfn: pfn, order: order, &run)
    case .cpuWrite(let addr, let value, let width): try cpuWrite(addr, value: value, width: width, &run)
    case .cpuFill(let ref, let value, let width): try cpuFill(ref, value: value, width: width, &run)
    case .vmalloc(let size): vmalloc(size: size, &run)
    case .vmallocHuge(let size): vmallocHuge(size: size, &run)
    case .vfree(let ref): try vfree(ref, &run)
    case .flushTLBKernelRange(let start, let end): try flushTLBKernelRange(start, end, &run)
    case .flushTLBAll: machine.flushTLBAll(context: ctx)
    // Section 4: the IOMMU API.
    case .domain(let unit, let type): try allocDomain(unit, type: type, &run)
    case .freeDomain(let ref): try freeDomain(ref, &run)
    case .attach(let dev, let dom, let pasid): try attach(dev, to: dom, pasid: pasid, &run)
    case .detach(let dev, let pasid): try detach(dev, pasid: pasid, &run)
    case .iommuMap(let dom, let iova, let phys, let size, let prot):
      try iommuMap(dom, iova: iova, phys: phys, size: size, prot: prot, &run)
    case .iommuUnmap(let dom, let iova, let size): try iommuUnmap(dom, iova: iova, size: size, fast: false, &run)
    case .iommuUnmapFast(let dom, let iova, let size): try iommuUnmap(dom, iova: iova, size: size, fast: true, &run)
    case .iovaToPhys(let dom, let iova): try iovaToPhys(dom, iova: iova, &run)
    case .iotlbSync(let ref): try bound(ref, as: Domain.self).iotlbSync(context: ctx)
    case .flushIOTLBAll(let ref): try bound(ref, as: Domain.self).flushIOTLBAll(context: ctx)
    // Section 5: the DMA API.
    case .dmaMap(let dev, let addr, let size, let dir): try dmaMap(dev, addr, size: size, direction: dir, &run)
    case .dmaUnmap(let ref, let size, let dir): try dmaUnmap(ref, size: size, direction: dir, &run)
    case .dmaAlloc(let dev, let size): try dmaAlloc(dev, size: size, &run)
    case .dmaFree(let ref): try dmaFree(ref, &run)
    case .advance(let ns): machine.advance(by: ns, context: ctx)
    case .dmaMapSG(let dev, let segments, let dir): try dmaMapSG(dev, segments, direction: dir, &run)
    case .dmaUnmapSG(let ref, let nents, let dir): try dmaUnmapSG(ref, nents: nents, direction: dir, &run)
    case .dmaSyncSingle(let addr, let size, let dir, let toCPU):
      try dmaSyncSingle(addr, size: size, direction: dir, toCPU: toCPU, &run)
    case .dmaSyncSG(let ref, let nents, let dir, let toCPU):
      try dmaSyncSG(ref, nents: nents, direction: dir, toCPU: toCPU, &run)
    case .dmaAllocPages(let dev, let size, let dir): try dmaAllocPages(dev, size: size, direction: dir, &run)
    case .dmaFreePages(let ref): try dmaFreePages(ref, &run)
    case .kmalloc(let size, let gfp): kmalloc(size: size, gfp: gfp, &run)
    case .kfree(let ref): try kfree(ref, &run)
    // Section 6: devices doing DMA.
    case .dma(let access): try deviceAccess(access, &run)
    case .atsTranslate(let dev, let addr, let pasid): try atsTranslate(dev, addr, pasid: pasid, &run)
    // Section 7: processes and SVA.
    case .process(let comm): createProcess(comm: comm, &run)
    case .mmap(let process, let size, let populate): try mmap(process, size: size, populate: populate, &run)
    case .munmap(let ref): try munmap(ref, &run)
    case .exit(let ref): try exitProcess(ref, &run)
    case .svaBind(let dev, let process): try svaBind(dev, process, &run)
    case .svaUnbind(let ref): try svaUnbind(ref, &run)
    // Section 8: device reset.
    case .resetPrepare(let ref): try reset(ref, machine.resetPrepare, &run)
    case .resetDone(let ref): try reset(ref, machine.resetDone, &run)
    case .flr(let ref): try reset(ref, machine.flr, &run)
    case .flrBegin(let ref): try reset(ref, machine.flrBegin, &run)
    case .flrEnd(let ref): try reset(ref, machine.flrEnd, &run)
    // Loops: `run()` moves between iterations.
    case .repeatBlock, .end: break
    }
    // Work the statement queued (the deferred kernel page-table free) runs
    // when it ends.
    machine.runDeferredWork(context: ctx)
    return run.outcome
  }
}
