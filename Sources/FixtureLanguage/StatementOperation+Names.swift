extension StatementOperation {
  /// The operation with every name passed through `transform` (nil from it makes the result nil).
  package func mappingNames(
    _ transform: (NameReference) -> NameReference?, variables: (String) -> Int64? = { _ in nil }
  ) -> StatementOperation? {
    func a(_ e: AddressExpression) -> AddressExpression? { e.mappingName(transform, variables: variables) }
    func p(_ s: PASIDSelector?) -> PASIDSelector?? {
      guard let s else { return .some(nil) }
      guard case .svaHandle(let ref) = s else { return .some(s) }
      return transform(ref).map { .svaHandle($0) }
    }
    let t = transform
    switch self {
    case .cmdline, .memory, .iommu, .device, .allocPages, .vmalloc, .vmallocHuge, .flushTLBAll, .advance, .process,
      .repeatBlock,
      .end, .kmalloc:
      return self
    case .kfree(let r): return t(r).map { .kfree($0) }
    case .dmaMapSG(let device, let segments, let direction):
      guard let d = t(device) else { return nil }
      var mapped: [SGSegment] = []
      for s in segments {
        guard let ad = a(s.address) else { return nil }
        mapped.append(SGSegment(address: ad, length: s.length))
      }
      return .dmaMapSG(device: d, segments: mapped, direction: direction)
    case .dmaUnmapSG(let r, let nents, let direction):
      return t(r).map { .dmaUnmapSG($0, nents: nents, direction: direction) }
    case .dmaSyncSingle(let address, let size, let direction, let toCPU):
      return a(address).map { .dmaSyncSingle(address: $0, size: size, direction: direction, toCPU: toCPU) }
    case .dmaSyncSG(let r, let nents, let direction, let toCPU):
      return t(r).map { .dmaSyncSG($0, nents: nents, direction: direction, toCPU: toCPU) }
    case .dmaAllocPages(let device, let size, let direction):
      return t(device).map { .dmaAllocPages(device: $0, size: size, direction: direction) }
    case .dmaFreePages(let r): return t(r).map { .dmaFreePages($0) }
    case .freePages(let r, let order): return t(r).map { .freePages($0, order: order) }
    case .freePagesAt: return self
    case .vfree(let r): return t(r).map { .vfree($0) }
    case .cpuWrite(let address, let value, let width):
      return a(address).map { .cpuWrite(address: $0, value: value, width: width) }
    case .cpuFill(let r, let value, let width): return t(r).map { .cpuFill($0, value: value, width: width) }
    case .flushTLBKernelRange(let start, let end):
      guard let s = a(start), let e = a(end) else { return nil }
      return .flushTLBKernelRange(start: s, end: e)
    case .domain(let iommu, let type): return t(iommu).map { .domain(iommu: $0, type: type) }
    case .freeDomain(let r): return t(r).map { .freeDomain($0) }
    case .attach(let device, let domain, let pasid):
      guard let dv = t(device), let dm = t(domain) else { return nil }
      return .attach(device: dv, domain: dm, pasid: pasid)
    case .detach(let device, let pasid): return t(device).map { .detach(device: $0, pasid: pasid) }
    case .iommuMap(let domain, let iova, let phys, let size, let prot):
      guard let d = t(domain), let i = a(iova), let ph = a(phys) else { return nil }
      return .iommuMap(domain: d, iova: i, phys: ph, size: size, prot: prot)
    case .iommuUnmap(let domain, let iova, let size):
      guard let d = t(domain), let i = a(iova) else { return nil }
      return .iommuUnmap(domain: d, iova: i, size: size)
    case .iommuUnmapFast(let domain, let iova, let size):
      guard let d = t(domain), let i = a(iova) else { return nil }
      return .iommuUnmapFast(domain: d, iova: i, size: size)
    case .iovaToPhys(let domain, let iova):
      guard let d = t(domain), let i = a(iova) else { return nil }
      return .iovaToPhys(domain: d, iova: i)
    case .iotlbSync(let r): return t(r).map { .iotlbSync($0) }
    case .flushIOTLBAll(let r): return t(r).map { .flushIOTLBAll($0) }
    case .dmaMap(let device, let address, let size, let direction):
      guard let d = t(device), let ad = a(address) else { return nil }
      return .dmaMap(device: d, address: ad, size: size, direction: direction)
    case .dmaUnmap(let r, let size, let direction): return t(r).map { .dmaUnmap($0, size: size, direction: direction) }
    case .dmaAlloc(let device, let size): return t(device).map { .dmaAlloc(device: $0, size: size) }
    case .dmaFree(let r): return t(r).map { .dmaFree($0) }
    case .dma(var access):
      guard let d = t(access.device), let ad = a(access.address), let ps = p(access.pasid) else { return nil }
      access.device = d
      access.address = ad
      access.pasid = ps
      return .dma(access)
    case .atsTranslate(let device, let address, let pasid):
      guard let d = t(device), let ad = a(address), let ps = p(pasid) else { return nil }
      return .atsTranslate(device: d, address: ad, pasid: ps)
    case .mmap(let process, let size, let populate):
      return t(process).map { .mmap(process: $0, size: size, populate: populate) }
    case .munmap(let r): return t(r).map { .munmap($0) }
    case .exit(let r): return t(r).map { .exit($0) }
    case .svaBind(let device, let process):
      guard let d = t(device), let pr = t(process) else { return nil }
      return .svaBind(device: d, process: pr)
    case .svaUnbind(let r): return t(r).map { .svaUnbind($0) }
    case .resetPrepare(let r): return t(r).map { .resetPrepare($0) }
    case .resetDone(let r): return t(r).map { .resetDone($0) }
    case .flr(let r): return t(r).map { .flr($0) }
    case .flrBegin(let r): return t(r).map { .flrBegin($0) }
    case .flrEnd(let r): return t(r).map { .flrEnd($0) }
    }
  }
}

extension AddressExpression {
  /// The expression with its name passed through `transform`.
  package func mappingName(
    _ transform: (NameReference) -> NameReference?, variables: (String) -> Int64? = { _ in nil }
  ) -> AddressExpression? {
    switch self {
    case .literal: return self
    case .name(let ref, let offset): return transform(ref).map { .name($0, offset: offset) }
    case .scaled(let ref, let variable, let scale):
      guard let value = variables(variable) else { return nil }
      let (offset, overflow) = value.multipliedReportingOverflow(by: scale)
      guard !overflow else { return nil }
      return transform(ref).map { .name($0, offset: offset) }
    }
  }
}

extension FixtureExpectation {
  /// The expectation with its names passed through `transform`.
  package func mappingNames(_ transform: (NameReference) -> NameReference?) -> FixtureExpectation? {
    var copy = self
    switch kind {
    case .report(var want):
      if let page = want.page {
        guard let r = transform(page) else { return nil }
        want.page = r
      }
      if let device = want.device {
        guard let r = transform(device) else { return nil }
        want.device = r
      }
      if let domain = want.domain {
        guard let r = transform(domain) else { return nil }
        want.domain = r
      }
      copy.kind = .report(want)
    case .phys(let address):
      guard let e = address.mappingName(transform) else { return nil }
      copy.kind = .phys(e)
    case .noReport, .error, .fault, .unmapped, .value:
      break
    }
    return copy
  }
}

extension Statement {
  /// The statement as it runs in one iteration of its `repeat` blocks: its
  /// indexed names (`rx[i]`) become elements (`rx[17]`) and its text says
  /// which iteration (`... (i=17)`). nil when an index is negative; the
  /// name that failed is in `failed`.
  package func instantiated(in environment: LoopEnvironment, failed: inout NameReference?) -> Statement? {
    guard usesLoopVariables else { return self }
    var bad: NameReference?
    let transform = { (ref: NameReference) -> NameReference? in
      if let r = ref.resolved(in: environment) { return r }
      bad = ref
      return nil
    }
    var copy = self
    guard let operation = operation.mappingNames(transform, variables: { environment[$0] }) else {
      failed = bad
      return nil
    }
    copy.operation = operation
    if let b = binding {
      guard let r = transform(b) else {
        failed = bad
        return nil
      }
      copy.binding = r
    }
    if let t = task {
      guard let r = transform(t) else {
        failed = bad
        return nil
      }
      copy.task = r
    }
    var expectations: [FixtureExpectation] = []
    for e in self.expectations {
      guard var m = e.mappingNames(transform) else {
        failed = bad
        return nil
      }
      m.text += " (" + environment.description + ")"
      expectations.append(m)
    }
    copy.expectations = expectations
    copy.text = text + " (" + environment.description + ")"
    return copy
  }
}
