import KernelTypes
import MemoryModel

/// The outcome of one translation as hardware does it.
/// Why a translation failed, as the fault event says it.
struct TranslationFault: Error {
  var reason: String
}

struct HardwareTranslation {
  var phys: UInt64
  var leafShift: Int
  var readable: Bool
  var writable: Bool
  var user: Bool
  var epoch: UInt64
  var path: String
  var stale: (table: PhysicalAddress, depth: Int)?
}

extension Machine {
  /// Translates through the unit's IOTLB, walk caches and a page-table
  /// walk in emulated memory, filling the caches as hardware does: walk
  /// cache entries for every present non-leaf entry traversed (even when
  /// the walk then faults), an IOTLB entry only for a successful walk.
  func translate(_ domain: Domain, tag: CacheTag, iova: UInt64) -> Result<HardwareTranslation, TranslationFault> {
    let unit = domain.unit
    let sva = domain.process
    let format = sva == nil ? unit.format : cpu.format
    if sva != nil {
      // First-stage (SVA) walks: canonical addresses only; an SMMUv3 sets
      // EPD1 and never walks the kernel half.
      guard iova < 1 << 47 || iova >= CPUMemoryManager.kernelHalf else {
        return .failure(TranslationFault(reason: "non-canonical address"))
      }
      if iova >= CPUMemoryManager.kernelHalf && unit.model == .smmuv3 {
        return .failure(TranslationFault(reason: "EPD1: TTB1 (kernel half) walks are disabled for SVA"))
      }
    } else {
      guard iova < format.inputLimit else {
        return .failure(TranslationFault(reason: "address beyond the \(format.inputBits)-bit input range"))
      }
    }
    /// The epoch the leaf was written at; a leaf no map wrote (forged into a
    /// table, or read from a page that is not one of this domain's tables)
    /// has no such time, and only a landing on a free page is checked (`.max`).
    func leafEpoch(_ table: PhysicalAddress, _ idx: UInt64) -> UInt64 {
      let e =
        sva == nil
        ? domain.state.withLock { $0.pageTable?.epoch(table: table, index: idx) ?? 0 }
        : cpu.epoch(table: table, index: idx)
      return e == 0 ? .max : e
    }
    let (hit, walkHit) = unit.caches.withLock { c -> (LeafEntry?, WalkEntry?) in
      if let e = c.iotlb.lookup(tag, iova) {
        c.stats.iotlbHits += 1
        return (e, nil)
      }
      c.stats.iotlbMisses += 1
      let w = c.walk.lookup(tag, iova, format: format)
      if w != nil { c.stats.walkCacheHits += 1 }
      c.stats.walks += 1
      return (nil, w)
    }
    if let e = hit {
      return .success(
        HardwareTranslation(
          phys: e.phys | (iova & (e.size - 1)), leafShift: e.shift, readable: e.readable, writable: e.writable,
          user: e.user,
          epoch: e.epoch, path: "iotlb", stale: e.staleTable == 0 ? nil : (PhysicalAddress(e.staleTable), e.staleDepth))
      )
    }
    var table: PhysicalAddress
    var depth: Int
    var stale: (PhysicalAddress, Int)?
    var path = "walk"
    var user = true
    var writable = true
    if let w = walkHit {
      table = PhysicalAddress(w.table)
      depth = w.depth + 1
      path = "walk-cache"
      user = w.user
      writable = w.writable
      let pfn = table.pfn(pageShift: memory.pageShift)
      switch memory.state(of: pfn) {
      case .allocated(let gen, _) where gen == w.generation: break
      default: stale = (table, depth)
      }
    } else {
      guard let root = sva?.pgd ?? domain.state.withLock({ $0.pageTable?.root }) else {
        return .failure(TranslationFault(reason: "domain has no page table"))
      }
      table = root
      depth = 0
    }
    var fills: [WalkEntry] = []
    var result: Result<HardwareTranslation, TranslationFault> = .failure(TranslationFault(reason: "translation fault"))
    while depth < format.levels {
      // A table the walk reads must be a live page-table page; a walk that
      // reaches a freed one is stale whatever led it there.
      if stale == nil && !isLiveTable(table) { stale = (table, depth) }
      let idx = format.index(iova, depth)
      let pte = memory.read64(table.advanced(by: idx << 3))
      let sh = format.shift(depth)
      switch format.decode(pte, depth: depth) {
      case .none:
        result = .failure(
          TranslationFault(reason: "translation fault: level \(format.levels - depth) entry not present"))
        depth = format.levels
      case .table(let next, let u, let w):
        user = user && u
        writable = writable && w
        let gen: UInt64
        if case .allocated(let g, _) = memory.state(of: next.pfn(pageShift: memory.pageShift)) {
          gen = g
        } else {
          gen = 0
        }
        let base = iova & ~((1 << UInt64(sh)) - 1)
        fills.append(
          WalkEntry(
            tag: tag, depth: depth, iovaBase: base, span: 1 << UInt64(sh), table: next.rawValue, generation: gen,
            user: user, writable: writable))
        table = next
        depth += 1
      case .leaf(let p, let r, let w, let u):
        let epoch = stale == nil ? leafEpoch(table, idx) : 0
        if sva != nil && !(u && user) {
          // Only the leaf's U/S bit keeps a user walk out of kernel memory.
          result = .failure(TranslationFault(reason: "user-privilege request reached a supervisor page (U/S=0)"))
          depth = format.levels
          break
        }
        result = .success(
          HardwareTranslation(
            phys: p.rawValue | (iova & ((1 << UInt64(sh)) - 1)), leafShift: sh, readable: r, writable: w && writable,
            user: u && user, epoch: epoch, path: path, stale: stale))
        depth = format.levels
      }
    }
    let success = try? result.get()
    unit.caches.withLock { c in
      for f in fills {
        c.walk.insert(f, format: format)
        c.stats.walkCacheFills += 1
      }
      if let t = success {
        let base = iova & ~((1 << UInt64(t.leafShift)) - 1)
        c.iotlb.insert(
          LeafEntry(
            tag: tag, iova: base, shift: t.leafShift, phys: t.phys & ~((1 << UInt64(t.leafShift)) - 1),
            readable: t.readable, writable: t.writable, user: t.user, epoch: t.epoch,
            staleTable: t.stale?.table.rawValue ?? 0, staleDepth: t.stale?.depth ?? 0))
        c.stats.iotlbFills += 1
      } else {
        c.stats.walkFaults += 1
      }
    }
    if var t = success {
      t.stale = stale
      return .success(t)
    }
    return result
  }

  /// Whether `table` is an allocated page-table page.
  func isLiveTable(_ table: PhysicalAddress) -> Bool {
    switch memory.state(of: table.pfn(pageShift: memory.pageShift)) {
    case .allocated(_, let use): return use != .data
    case .notRAM: return true  // a table in MMIO: nothing to say
    case .free, .offline: return false
    }
  }

  /// The ground truth for an access that landed on `phys` through a
  /// translation made at `epoch`.
  func verdict(phys: UInt64, epoch: UInt64, stale: (table: PhysicalAddress, depth: Int)?, checkGeneration: Bool = true)
    -> DeviceAccessEvent.Verdict
  {
    if let s = stale { return .staleWalk(table: s.table, depth: s.depth) }
    let pfn = PhysicalAddress(phys).pfn(pageShift: memory.pageShift)
    // Whether the page's last free came after the translation was made:
    // else the page was free (or another block's) when it was mapped. An
    // identity translation (no generation check) is older than every free.
    func freedAfter() -> Bool {
      let freed = memory.record(containing: pfn)?.freeEpoch ?? 0
      return checkGeneration ? freed > epoch : freed > 0
    }
    switch memory.state(of: pfn) {
    case .free:
      return .useAfterFree(
        pfn: pfn, pageIsFree: true, translationEpoch: epoch, pageGeneration: nil, freedAfterTranslation: freedAfter())
    case .allocated(let gen, _) where checkGeneration && gen > epoch:
      return .useAfterFree(
        pfn: pfn, pageIsFree: false, translationEpoch: epoch, pageGeneration: gen, freedAfterTranslation: freedAfter())
    default: return .ok
    }
  }

  /// What a device access resolved to.
  package struct AccessResult: Sendable {
    /// The value read (reads), or nil.
    package var value: UInt64?
    package var fault: String?
    package var verdict: DeviceAccessEvent.Verdict
    /// The range runs past the top of the address space: the requests below
    /// the top were made, the rest were not.
    package var wrapsAround = false
  }

  /// The device reads or writes `length` bytes (at least 1) at `iova`, as
  /// the requests it puts on the bus: one per 4K page the range touches,
  /// each translated as hardware would (ATC, IOTLB, walk caches, a walk).
  /// The first request that faults or lands where the ground truth reports
  /// ends the access. A write repeats `value`'s eight bytes over the range;
  /// a read (at most 8 bytes) assembles its value from the requests.
  package func deviceAccess(
    _ device: Device, iova: IOVA, pasid: UInt32?, privilege: Privilege = .user, isWrite: Bool, length: UInt64,
    value: UInt64, context: CallContext
  ) -> AccessResult {
    let total = max(length, 1)
    var result = AccessResult(value: nil, fault: nil, verdict: .ok)
    var read: UInt64 = 0
    var offset: UInt64 = 0
    while offset < total {
      let (at, overflow) = iova.rawValue.addingReportingOverflow(offset)
      guard !overflow else {
        result.wrapsAround = true
        break
      }
      let piece = min(total - offset, 4096 - (at & 4095))
      result = deviceRequest(
        device, iova: IOVA(at), pasid: pasid, privilege: privilege, isWrite: isWrite, length: Int(piece),
        value: patternWord(value, at: offset), context: context)
      if let v = result.value, offset < 8 { read |= v << (8 * offset) }
      if result.fault != nil || result.verdict != .ok { break }
      offset += piece
    }
    result.value = isWrite || result.fault != nil ? nil : read
    return result
  }

  /// One request of a device access, within one 4K page.
  private func deviceRequest(
    _ device: Device, iova: IOVA, pasid: UInt32?, privilege: Privilege, isWrite: Bool, length: Int, value: UInt64,
    context: CallContext
  ) -> AccessResult {
    let (domain, atcHit) = device.state.withLock { s -> (Domain?, LeafEntry?) in
      let d = pasid.map { s.pasidDomains[$0] } ?? s.domain
      var hit: LeafEntry?
      if device.ats, privilege == .user, let d {
        hit = s.atc.lookup(CacheTag(domainID: d.id, pasid: pasid), iova.rawValue)
        if hit != nil { s.atcHits += 1 }
      }
      return (d, hit)
    }
    /// The access after its translation: a scheduling point between the
    /// two (`KernelStep.deviceTranslated`), then the ground truth's verdict
    /// on the page as it is when the access lands, then the access.
    func finish(
      phys: UInt64?, fault: String?, path: String, verdict: @autoclosure () -> DeviceAccessEvent.Verdict
    ) -> AccessResult {
      if phys != nil, path != "identity" { memory.stepObserver?.requestTranslated(unit: device.unit.name) }
      let verdict = verdict()
      var read: UInt64?
      if let phys {
        if isWrite {
          // `value`'s eight bytes, repeated over the access.
          memory.writeRepeated(PhysicalAddress(phys), length: UInt64(length), value: value)
        } else {
          read = memory.read(PhysicalAddress(phys), width: min(length, 8))
        }
      }
      observer?.deviceAccessed(
        DeviceAccessEvent(
          device: device, iova: iova, pasid: pasid, privilege: privilege, isWrite: isWrite, length: length,
          phys: phys.map { PhysicalAddress($0) }, fault: fault, path: path, verdict: verdict, domain: domain,
          context: context))
      return AccessResult(value: read, fault: fault, verdict: verdict)
    }
    if privilege == .supervisor {
      return finish(phys: nil, fault: device.unit.model.supervisorRequestFault, path: "none", verdict: .ok)
    }
    guard let domain else {
      let fault = pasid.map { "no domain attached for pasid \($0)" } ?? "no domain attached"
      return finish(phys: nil, fault: fault, path: "none", verdict: .ok)
    }
    if let e = atcHit {
      if isWrite && !e.writable {
        return finish(phys: nil, fault: "write to a read-only ATC entry", path: "atc", verdict: .ok)
      }
      let phys = e.phys | (iova.rawValue & (e.size - 1))
      let stale = e.staleTable == 0 ? nil : (table: PhysicalAddress(e.staleTable), depth: e.staleDepth)
      return finish(phys: phys, fault: nil, path: "atc", verdict: verdict(phys: phys, epoch: e.epoch, stale: stale))
    }
    switch domain.type {
    case .blocked:
      return finish(phys: nil, fault: "device is in a blocked domain", path: "none", verdict: .ok)
    case .identity:
      return finish(
        phys: iova.rawValue, fault: nil, path: "identity",
        verdict: verdict(phys: iova.rawValue, epoch: .max, stale: nil, checkGeneration: false))
    case .paging, .dma, .sva:
      switch translate(domain, tag: CacheTag(domainID: domain.id, pasid: pasid), iova: iova.rawValue) {
      case .failure(let why):
        return finish(phys: nil, fault: why.reason, path: "walk", verdict: .ok)
      case .success(let t):
        if let s = t.stale {
          // The walk went through a freed table: whatever it reached is
          // not the mapping the driver made.
          return finish(phys: t.phys, fault: nil, path: t.path, verdict: .staleWalk(table: s.table, depth: s.depth))
        }
        if isWrite && !t.writable {
          return finish(phys: nil, fault: "write to a read-only mapping", path: t.path, verdict: .ok)
        }
        if !isWrite && !t.readable {
          return finish(phys: nil, fault: "read of a write-only mapping", path: t.path, verdict: .ok)
        }
        return finish(
          phys: t.phys, fault: nil, path: t.path, verdict: verdict(phys: t.phys, epoch: t.epoch, stale: nil))
      }
    }
  }

  /// The device asks for a translation (an ATS Translation Request) and
  /// keeps it in its ATC.
  package func atsTranslate(_ device: Device, iova: IOVA, pasid: UInt32?, context: CallContext) -> AccessResult {
    guard device.ats else {
      return AccessResult(value: nil, fault: "device \(device.name) has no ATS", verdict: .ok)
    }
    let domain = device.state.withLock { s in pasid.map { s.pasidDomains[$0] } ?? s.domain }
    var fault: String?
    var verdict: DeviceAccessEvent.Verdict = .ok
    var phys: UInt64?
    if let domain, domain.hasPageTable || domain.type == .sva {
      switch translate(domain, tag: CacheTag(domainID: domain.id, pasid: pasid), iova: iova.rawValue) {
      case .failure(let why): fault = why.reason
      case .success(let t):
        phys = t.phys
        if let s = t.stale { verdict = .staleWalk(table: s.table, depth: s.depth) }
        let base = iova.rawValue & ~((1 << UInt64(t.leafShift)) - 1)
        let entry = LeafEntry(
          tag: CacheTag(domainID: domain.id, pasid: pasid), iova: base, shift: t.leafShift,
          phys: t.phys & ~((1 << UInt64(t.leafShift)) - 1), readable: t.readable, writable: t.writable, user: t.user,
          epoch: t.epoch, staleTable: t.stale?.table.rawValue ?? 0, staleDepth: t.stale?.depth ?? 0)
        device.state.withLock { $0.atc.insert(entry) }
      }
    } else {
      fault = domain == nil ? "no domain attached" : "a \(domain!.type.rawValue) domain answers no translation requests"
    }
    observer?.deviceAccessed(
      DeviceAccessEvent(
        device: device, iova: iova, pasid: pasid, privilege: .user, isWrite: false, length: 0,
        phys: phys.map { PhysicalAddress($0) }, fault: fault, path: "ats", verdict: verdict, domain: domain,
        context: context))
    return AccessResult(value: nil, fault: fault, verdict: verdict)
  }
}

extension IOMMUModel {
  /// Why the unit faults a supervisor (privileged) request. Linux enables
  /// supervisor requests on no PASID since kernel SVA was removed: VT-d
  /// leaves SRE clear in every scalable-mode PASID-table entry (fault reason
  /// 0x5D, "SM: SRE field is clear in PASID Table Entry").
  var supervisorRequestFault: String {
    switch self {
    case .vtd: "supervisor request with SRE clear in the PASID-table entry: Linux has no kernel SVA"
    case .amd, .smmuv3: "supervisor (privileged) requests are refused on every PASID: Linux has no kernel SVA"
    }
  }
}
