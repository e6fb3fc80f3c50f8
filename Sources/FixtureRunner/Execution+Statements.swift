import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Sanitizer

extension Execution {
  // MARK: - Names

  func lookup(_ ref: NameReference) throws(FatalError) -> Binding {
    if let b = bindings[ref.name] { return b }
    if let line = failedBindings[ref.name] {
      throw fatal(ref.location, "'\(ref.name)' was bound by a statement that failed (line \(line)); it names nothing")
    }
    throw fatal(ref.location, "use of unbound name '\(ref.name)'")
  }

  func unit(_ ref: NameReference) throws(FatalError) -> IOMMUUnit {
    let b = try lookup(ref)
    guard case .iommu(let u) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not an IOMMU") }
    return u
  }

  func device(_ ref: NameReference) throws(FatalError) -> Device {
    let b = try lookup(ref)
    guard case .device(let d) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not a device") }
    return d
  }

  func domain(_ ref: NameReference) throws(FatalError) -> Domain {
    let b = try lookup(ref)
    guard case .domain(let d) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not a domain") }
    return d
  }

  func pages(_ ref: NameReference) throws(FatalError) -> PageBlock {
    let b = try lookup(ref)
    guard case .pages(let p) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not a page block") }
    return p
  }

  /// The address an expression stands for.
  func address(_ e: AddressExpression) throws(FatalError) -> UInt64 {
    var base: UInt64 = 0
    if let ref = e.nameReference {
      switch try lookup(ref) {
      case .pages(let p): base = p.head.address(pageShift: machine.memory.pageShift).rawValue
      case .dmaHandle(_, let a, _, _, _): base = a.rawValue
      case .mmap(_, let a): base = a.start.rawValue
      case .vmalloc(let a): base = a.start.rawValue
      case .iommu, .device, .domain, .task, .process, .sva:
        throw fatal(ref.location, "'\(ref.name)' is \(try lookup(ref).noun) and has no address")
      }
    }
    guard let v = e.resolve(base: base) else { throw fatal(e.location, "address \(e) wraps around") }
    return v
  }

  func pasid(_ p: PASIDSelector?) throws(FatalError) -> UInt32? {
    switch p {
    case nil: return nil
    case .number(let n, _): return n
    case .svaHandle(let ref):
      let b = try lookup(ref)
      guard case .sva(let bond) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not an SVA binding") }
      return bond.pasid
    }
  }

  func bind(_ stmt: Statement, _ value: Binding) {
    guard let b = stmt.binding else { return }
    bindings[b.name] = value
    failedBindings[b.name] = nil
  }

  func process(_ ref: NameReference) throws(FatalError) -> Process {
    let b = try lookup(ref)
    guard case .process(let p) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not a process") }
    return p
  }

  // MARK: - Statements

  func execute(_ stmt: Statement, index: Int, context ctx: CallContext) throws(FatalError) -> StatementOutcome {
    var o = StatementOutcome(index: index, line: stmt.line, outputs: [], faulted: false)
    func fail(_ e: MachineError) { o.error = (e.errno.name, e.reason) }
    let memory = machine.memory
    switch stmt.operation {
    case .cmdline, .memory:
      break

    case .iommu(let c):
      do {
        let u = try machine.addIOMMU(
          name: c.name.name, model: c.model, granule: c.granule,
          pgsizes: c.pageSizes?.bitmap, iotlbEntries: c.iotlbEntries, walkCacheEntries: c.walkCacheEntries, sva: c.sva?.isOn ?? false)
        bindings[c.name.name] = .iommu(u)
      } catch { fail(error) }

    case .device(let c):
      let u = try unit(c.iommu)
      do {
        let d = try machine.addDevice(name: c.name.name, unit: u, ats: c.ats?.isOn ?? false, pasid: c.pasid?.isOn ?? false, context: ctx)
        bindings[c.name.name] = .device(d)
      } catch { fail(error) }

    case .allocPages(let order, let gfp):
      do {
        let b = try memory.allocPages(order: order, gfp: gfp, use: .data, context: ctx)
        bind(stmt, .pages(b))
      } catch { fail(error) }

    case .freePages(let ref):
      let b = try pages(ref)
      do { try memory.freePages(b, context: ctx) } catch { fail(error) }

    case .cpuWrite(let addr, let value, let width):
      let a = try address(addr)
      guard a.addingReportingOverflow(UInt64(width.bytes)).overflow == false else { throw fatal(addr.location, "address \(addr) + \(width.bytes) wraps around") }
      memory.write(PhysicalAddress(a), value: value, width: width.bytes)

    case .cpuFill(let ref, let value, let width):
      memory.fill(try pages(ref), value: value, width: width.bytes)

    case .domain(let iommuRef, let type):
      let u = try unit(iommuRef)
      do {
        let d = try machine.allocDomain(unit: u, type: type, name: stmt.binding?.name ?? "domain@\(stmt.line)", context: ctx)
        bind(stmt, .domain(d))
      } catch { fail(error) }

    case .freeDomain(let ref):
      let d = try domain(ref)
      do { try machine.freeDomain(d, context: ctx) } catch { fail(error) }

    case .attach(let devRef, let domRef, let pasid):
      let dev = try device(devRef)
      let dom = try domain(domRef)
      do { try machine.attach(dev, to: dom, pasid: pasid, context: ctx) } catch { fail(error) }

    case .detach(let devRef, let pasid):
      let dev = try device(devRef)
      do { try machine.detach(dev, pasid: pasid, context: ctx) } catch { fail(error) }

    case .iommuMap(let domRef, let iova, let phys, let size, let prot):
      let d = try domain(domRef)
      let i = try address(iova)
      let p = try address(phys)
      do {
        try d.map(iova: IOVA(i), phys: PhysicalAddress(p), size: size, readable: prot.allowsRead, writable: prot.allowsWrite, context: ctx)
      } catch { fail(error) }

    case .iommuUnmap(let domRef, let iova, let size):
      let d = try domain(domRef)
      o.unmapped = d.unmap(iova: IOVA(try address(iova)), size: size, context: ctx)

    case .iommuUnmapFast(let domRef, let iova, let size):
      let d = try domain(domRef)
      o.unmapped = d.unmapFast(iova: IOVA(try address(iova)), size: size, context: ctx)

    case .iovaToPhys(let domRef, let iova):
      let d = try domain(domRef)
      o.phys = d.iovaToPhys(IOVA(try address(iova))).rawValue

    case .iotlbSync(let ref):
      try domain(ref).iotlbSync(context: ctx)

    case .flushIOTLBAll(let ref):
      try domain(ref).flushIOTLBAll(context: ctx)

    case .dmaMap(let devRef, let addr, let size, let dir):
      let dev = try device(devRef)
      let p = try address(addr)
      let direction = dir
      do {
        let a = try machine.dmaMap(dev, phys: PhysicalAddress(p), size: size, direction: direction, context: ctx)
        bind(stmt, .dmaHandle(device: dev, address: a, size: size, direction: direction, coherent: nil))
      } catch { fail(error) }

    case .dmaUnmap(let ref, let size, let dir):
      let b = try lookup(ref)
      guard case .dmaHandle(let dev, let a, let mapSize, let mapDir, _) = b else {
        throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not a DMA handle")
      }
      machine.dmaUnmap(dev, dmaAddress: a, size: size ?? mapSize, direction: dir ?? mapDir, context: ctx)

    case .dmaAlloc(let devRef, let size):
      let dev = try device(devRef)
      do {
        let (a, block) = try machine.dmaAlloc(dev, size: size, context: ctx)
        bind(stmt, .dmaHandle(device: dev, address: a, size: size, direction: .bidirectional, coherent: block))
      } catch { fail(error) }

    case .dmaFree(let ref):
      let b = try lookup(ref)
      guard case .dmaHandle(let dev, let a, let size, _, let block) = b, let block else {
        throw fatal(ref.location, "'\(ref.name)' is \(b.noun) from dma_map, not from dma_alloc: use dma_unmap")
      }
      do { try machine.dmaFree(dev, dmaAddress: a, size: size, block: block, context: ctx) } catch { fail(error) }

    case .advance(let ns):
      machine.advance(by: ns, context: ctx)

    case .dma(let access):
      let dev = try device(access.device)
      let iova = try address(access.address)
      let pasid = try pasid(access.pasid)
      if access.privilege == .supervisor {
        let why = "supervisor (privileged) requests are refused on every PASID: Linux has no kernel SVA"
        sanitizer.kernelMessage(
          "io_page_fault: IOMMU:\(dev.unit.name) \(dev.bdf) iova=\(iova.hex16) flags=0x000\(access.kind == .write ? 1 : 0) (\(dev.name) \(access.kind.rawValue) priv=supervisor: \(why))",
          context: ctx)
        o.faulted = true
        break
      }
      let isWrite = access.kind == .write
      // One access per 4K page the range touches; the first report or fault
      // ends it. A write repeats `value`'s eight bytes over the range; a
      // read (at most 8 bytes) assembles its value from the pieces.
      var off: UInt64 = 0
      let total = max(access.length, 1)
      var read: UInt64 = 0
      while off < total {
        let (at, ov) = iova.addingReportingOverflow(off)
        guard !ov else { throw fatal(access.address.location, "address \(access.address) + len wraps around") }
        let chunk = min(total - off, 4096 - (at & 4095))
        let r = machine.deviceAccess(dev, iova: IOVA(at), pasid: pasid, isWrite: isWrite, length: Int(chunk), value: rotated(access.value, by: off), context: ctx)
        if let v = r.value, off < 8 { read |= v << (8 * off) }
        if r.fault != nil {
          o.faulted = true
          break
        }
        if r.verdict != .ok { break }
        off += chunk
      }
      if !isWrite && !o.faulted { o.value = read }

    case .atsTranslate(let devRef, let addr, let p):
      let dev = try device(devRef)
      let r = machine.atsTranslate(dev, iova: IOVA(try address(addr)), pasid: try pasid(p), context: ctx)
      if r.fault != nil { o.faulted = true }

    case .vmalloc(let size):
      do { bind(stmt, .vmalloc(try machine.vmalloc(size: size, context: ctx))) } catch { fail(error) }

    case .vfree(let ref):
      let b = try lookup(ref)
      guard case .vmalloc(let area) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not a vmalloc area") }
      do { try machine.vfree(area, context: ctx) } catch { fail(error) }

    case .flushTLBKernelRange(let start, let end):
      machine.flushTLBKernelRange(start: try address(start), end: try address(end), context: ctx)

    case .flushTLBAll:
      machine.flushTLBAll(context: ctx)

    case .process(let comm):
      do { bind(stmt, .process(try machine.createProcess(comm: comm ?? stmt.binding?.name ?? "process", context: ctx))) } catch { fail(error) }

    case .mmap(let pref, let size, let populate):
      let p = try process(pref)
      do { bind(stmt, .mmap(p, try machine.mmap(p, size: size, populate: populate, context: ctx))) } catch { fail(error) }

    case .munmap(let ref):
      let b = try lookup(ref)
      guard case .mmap(let p, let area) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not an mmap area") }
      do { try machine.munmap(p, area: area, context: ctx) } catch { fail(error) }

    case .exit(let ref):
      let p = try process(ref)
      do { try machine.exitProcess(p, context: ctx) } catch { fail(error) }

    case .svaBind(let devRef, let pref):
      let dev = try device(devRef)
      let p = try process(pref)
      do { bind(stmt, .sva(try machine.svaBind(dev, p, context: ctx))) } catch { fail(error) }

    case .svaUnbind(let ref):
      let b = try lookup(ref)
      guard case .sva(let bond) = b else { throw fatal(ref.location, "'\(ref.name)' is \(b.noun), not an SVA binding") }
      do { try machine.svaUnbind(bond, context: ctx) } catch { fail(error) }

    case .resetPrepare(let ref):
      let dev = try device(ref)
      do { try machine.resetPrepare(dev, context: ctx) } catch { fail(error) }

    case .resetDone(let ref):
      let dev = try device(ref)
      do { try machine.resetDone(dev, context: ctx) } catch { fail(error) }

    case .flr(let ref):
      let dev = try device(ref)
      do { try machine.flr(dev, context: ctx) } catch { fail(error) }

    case .flrBegin(let ref):
      let dev = try device(ref)
      do { try machine.flrBegin(dev, context: ctx) } catch { fail(error) }

    case .flrEnd(let ref):
      let dev = try device(ref)
      do { try machine.flrEnd(dev, context: ctx) } catch { fail(error) }
    }
    // Work the statement queued (the deferred kernel page-table free) runs
    // when it ends.
    machine.runDeferredWork(context: ctx)
    return o
  }

  /// `v`'s bytes as seen from byte `offset` of a repeating 8-byte pattern.
  private func rotated(_ v: UInt64, by offset: UInt64) -> UInt64 {
    let r = (offset % 8) * 8
    return r == 0 ? v : (v >> r) | (v << (64 - r))
  }
}
