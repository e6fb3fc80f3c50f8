import KernelTypes
import Reports

/// The DMA-API accounting's event handlers: `debug_dma_map_*()` and
/// `check_unmap()` (kernel/dma/debug.c) rebuilt from `dma:` events.
extension TraceReplayer {
  /// A `dma:` map event's entry, with the CPU pages its physical addresses cover.
  func dmaAPIMap(device d: Int32) {
    let t = pre.type
    guard d >= 0, let type = t.dmaDebugType, let first = ranges.first, first.address != .max else { return }
    var size = first.size
    // The pages it covers, in a buffer kept from one event to the next (no allocation per map).
    dmaPhysScratch.removeAll(keepingCapacity: true)
    var sgPhys: [UInt64] = []
    var nents = 0
    let pageMask = (UInt64(1) << shift) - 1
    func add(_ start: UInt64, _ length: UInt64) {
      guard length > 0 else { return }
      let (last, o) = start.addingReportingOverflow(length - 1)
      dmaPhysScratch.append((start, o ? .max : last))
    }
    switch t {
    case .dmaMapSG:
      size = ranges.reduce(UInt64(0)) { $0 &+ $1.size }
      sgPhys = physAddrs
      nents = Int(clamping: fields.dma.fullNents >= 0 ? fields.dma.fullNents : Int64(sgPhys.count))
      if sgPhys.count == ranges.count, !fields.dma.truncated {
        // dma-direct and swiotlb map entry i to segment i.
        for (p, r) in zip(sgPhys, ranges) { add(p, r.size) }
      } else {
        // An IOMMU merged the entries: only the page of each entry's start is known.
        for p in sgPhys { add(p, (p | pageMask) - p + 1) }
      }
    case .dmaAllocSGT:
      for p in physAddrs { add(p, (p | pageMask) - p + 1) }
    case .dmaMapResource:
      break  // MMIO: no page of RAM.
    default:
      if fields.hasPhys { add(fields.phys, size) }
    }
    var entry = DMAAPIAccounting.Entry(
      device: d, dmaAddress: first.address, size: size, dir: fields.dma.dir, type: type, event: t, nents: nents,
      line: lineNumber, ts: pre.ts, cpu: Int32(pre.cpu), pid: pre.pid)
    (entry.cpuAddress, entry.cpuAddressTraced) = cpuAddress(type)
    dmaAPI.map(entry, sgPhys: sgPhys, phys: dmaPhysScratch)
    for r in dmaPhysScratch {
      recordTrail(r.start, r.last, trailEvent(a: first.address, b: size, c: r.start, device: d))
    }
  }

  /// The CPU address of a coherent or `_pages` event, as `check_unmap()`
  /// compares it: `phys_addr=` (6.12), else the `%p` of `virt_addr=` (6.13 on; traced).
  private func cpuAddress(_ type: DMADebugType) -> (UInt64?, Bool) {
    guard type == .coherent || type == .noncoherent else { return (nil, false) }
    if fields.hasPhys { return (fields.phys, false) }
    return fields.dma.hasVirtAddr ? (fields.dma.virtAddr, true) : (nil, false)
  }

  /// `check_unmap()` for a `dma:` release event.
  func dmaAPIRelease(device d: Int32) {
    let t = pre.type
    guard d >= 0, let type = t.dmaDebugType else { return }
    let lookup: DMAAPIAccounting.Lookup
    var address: UInt64
    var unmapSize: UInt64?
    if t == .dmaUnmapSG, fields.dma.hasPhysAddrs {
      guard let p = physAddrs.first else { return }
      address = p
      lookup = dmaAPI.findSG(device: d, firstPhys: p)
    } else {
      guard let r = ranges.first else { return }
      address = r.address
      unmapSize = t == .dmaUnmapSG ? nil : r.size
      lookup = dmaAPI.find(device: d, address: r.address, size: unmapSize, type: type, dir: fields.dma.dir)
    }
    dmaAPI.unmaps += 1
    if address == .max, t != .dmaUnmapSG {
      // DMA_MAPPING_ERROR (~(dma_addr_t)0): check_unmap()'s "invalid DMA memory address", which no
      // mapping can hold. A failed dma_map_* traces this address too, and debug_dma_map_*() skips it.
      reportCheckUnmap(
        .invalidAddress(size: unmapSize ?? 0), device: d, address: address, entry: nil,
        verdict:
          "unmap of DMA_MAPPING_ERROR: the driver released the error value a failed map returned "
          + "(dma_mapping_error() was not checked)")
      return
    }
    switch lookup {
    case .found(let id):
      let e = dmaAPI.entries[Int(id)]
      address = e.dmaAddress
      var differentEntries: [Int] = []
      var sgCount: Int?
      if t == .dmaUnmapSG, fields.dma.hasPhysAddrs {
        let count = Int(clamping: fields.dma.fullNents >= 0 ? fields.dma.fullNents : Int64(physAddrs.count))
        sgCount = count
        differentEntries = sgEntriesDiffering(mapped: e, unmapCount: count)
      }
      // CPU addresses compare only when both are of one kind (both phys_addr=, or both virt_addr=).
      let (freeCPU, traced) = cpuAddress(type)
      let mapped = DMADebugEntryFields(
        size: e.size, type: e.type, direction: e.dir >= 0 ? DMADirection(kernelValue: UInt64(e.dir)) : nil,
        sgCallEntries: e.type == .scatterGather ? e.nents : nil, cpuAddress: e.cpuAddress)
      let ref = DMADebugEntryFields(
        size: unmapSize, type: type, direction: fields.dma.direction, sgCallEntries: sgCount,
        cpuAddress: traced == e.cpuAddressTraced ? freeCPU : nil)
      let problems = DMAAPIUnmapProblem.mismatches(entry: mapped, ref: ref, cpuAddressesTraced: traced)
      for s in dmaAPI.physSlots(e) {
        let start = dmaAPI.physIndex.starts[Int(s)]
        recordTrail(
          start, dmaAPI.physIndex.lasts[Int(s)], trailEvent(a: address, b: unmapSize ?? e.size, c: start, device: d))
      }
      for p in problems { reportCheckUnmap(p, device: d, address: address, entry: e, verdict: nil) }
      if let k = differentEntries.first {
        // debug_dma_unmap_sg() runs check_unmap() on each entry of the list it is
        // given: an entry that is not the mapped list's has no dma_debug_entry.
        reportCheckUnmap(
          .notAllocated(size: 0), device: d, address: address, entry: e,
          verdict:
            "sg list unmapped with a different list than was mapped: \(differentEntries.count) of its "
            + "\(physAddrs.count) entries differ; entry \(k) is phys \(physAddrs[k].hexAlt), where the "
            + "\(e.nents)-entry list dma_map_sg mapped at line \(e.line) has \(dmaAPI.sgPhys(e)[k].hexAlt); the device "
            + "address printed is that list's")
      }
      dmaAPI.release(id, line: lineNumber, ts: pre.ts, event: t)
    case .missed(.untraced):
      if t == .dmaUnmapSG, fields.dma.hasPhysAddrs, let id = dmaAPI.liveSG(device: d, containing: address) {
        // The list's first entry is inside another live sg list of the device:
        // check_unmap() finds no entry at its DMA address.
        let e = dmaAPI.entries[Int(id)]
        let k = dmaAPI.sgPhys(e).firstIndex(of: address).map { "entry \($0)" } ?? "inside an entry"
        reportCheckUnmap(
          .notAllocated(size: 0), device: d, address: e.dmaAddress, entry: e,
          verdict:
            "sg list unmapped with a different list than was mapped: its first entry, phys \(address.hexAlt), is "
            + "\(k) of the \(e.nents)-entry list dma_map_sg mapped at line \(e.line) (first entry "
            + "\((dmaAPI.sgPhys(e).first ?? 0).hexAlt)); the device address printed is that list's")
        return
      }
      dmaAPI.unmatchedUnmaps += 1
      dmaAPI.rememberUnmatched(device: d, address: address, line: lineNumber, ts: pre.ts, event: t)
    case .missed(.doubleUnmap(let r)):
      reportCheckUnmap(
        .notAllocated(size: unmapSize ?? 0), device: d, address: address, entry: nil,
        verdict:
          "double unmap: \(t.name) of an address this device already released with \(r.event.name) "
          + "at line \(r.line) (ts \(r.ts)), and no map came between")
    case .missed(.noPerfectFit(let count, let newest)):
      let e = dmaAPI.entries[Int(newest)]
      reportCheckUnmap(
        .notAllocated(size: unmapSize ?? 0), device: d, address: address, entry: e,
        verdict:
          "\(count) live maps at this address, none with this unmap's size, direction and type: "
          + "bucket_find_exact() finds none of them (the newest is the \(e.event.name) at line \(e.line), "
          + "size \(e.size))")
    case .missed(.insideLive(let id)):
      let e = dmaAPI.entries[Int(id)]
      reportCheckUnmap(
        .notAllocated(size: unmapSize ?? 0), device: d, address: address, entry: e,
        verdict:
          "unmap of an address that was never mapped: it lies inside the live \(e.event.name) of "
          + "\(e.dmaAddress.hexAlt) (size \(e.size)) at line \(e.line), which starts elsewhere")
    }
  }

  /// `check_sync()` (kernel/dma/debug.c) for a `dma:dma_sync_*` event: the
  /// live entry of the device that holds the synced range
  /// (`bucket_find_contain()`), then the direction checks, which a
  /// bidirectional entry skips (`goto out`, before the sg count check too).
  /// An sg sync is checked at its first entry (the kernel checks each, with
  /// the same entry count), against the list that entry starts or lies in.
  /// A range no traced map holds is a report only when the trace shows why:
  /// the device released the address before (a sync after the unmap), or a
  /// live mapping holds only part of it; otherwise the map predates the
  /// trace, and it is only counted.
  func dmaAPISync(device d: Int32) {
    let t = pre.type
    guard d >= 0, let r = ranges.first, r.size > 0, r.address != .max else { return }
    let toCPU = t == .dmaSyncSingleForCPU || t == .dmaSyncSGForCPU
    let sg = t == .dmaSyncSGForCPU || t == .dmaSyncSGForDevice
    let (last, o) = r.address.addingReportingOverflow(r.size - 1)
    guard !o else { return }
    dmaAPI.syncs += 1
    func report(_ problem: DMAAPISyncProblem, address: UInt64, entry: DMAAPIAccounting.Entry?, verdict: String?) {
      let finding = Finding.dmaAPICheckSync(
        problem, driver: driverName(d), device: deviceNames[Int(d)], dmaAddress: address, frames: t.checkSyncFrames)
      sendDMAAPI(finding, device: d, iova: r.address, entry: entry, call: "sync", verdict: verdict)
    }
    switch dmaAPI.findContaining(device: d, address: r.address, last: last) {
    case .untraced:
      dmaAPI.unmatchedSyncs += 1
    case .released(let rel):
      report(
        .notAllocated(size: r.size), address: r.address, entry: nil,
        verdict:
          "sync after the unmap: \(t.name) of an address this device released with \(rel.event.name) at line "
          + "\(rel.line) (ts \(rel.ts)), and no map came between")
    case .pastEnd(let id):
      let e = dmaAPI.entries[Int(id)]
      report(
        .notAllocated(size: r.size), address: r.address, entry: e,
        verdict:
          "sync outside the mapping: \(r.address.hexAlt) + \(r.size) reaches past the live \(e.event.name) of "
          + "\(e.dmaAddress.hexAlt) (size \(e.size)) at line \(e.line)")
    case .found(let id):
      let e = dmaAPI.entries[Int(id)]
      let dir = fields.dma.dir
      // check_sync() stops here for a bidirectional entry.
      guard e.dir != 0, dir >= 0, e.dir >= 0 else { return }
      let mapped = DMADirection(kernelValue: UInt64(e.dir))
      let synced = DMADirection(kernelValue: UInt64(dir))
      if let mapped, let synced {
        if dir != e.dir {
          report(
            .differentDirection(entrySize: e.size, mappedWith: mapped, syncedWith: synced), address: r.address,
            entry: e, verdict: nil)
        }
        // DMA_TO_DEVICE is 1, DMA_FROM_DEVICE 2 (enum dma_data_direction).
        if toCPU && e.dir != 2 && dir != 1 {
          report(
            .readOnlyForCPU(entrySize: e.size, mappedWith: mapped, syncedWith: synced), address: r.address,
            entry: e, verdict: nil)
        }
        if !toCPU && e.dir != 1 && dir != 2 {
          report(
            .writeOnlyToDevice(entrySize: e.size, mappedWith: mapped, syncedWith: synced), address: r.address,
            entry: e, verdict: nil)
        }
      }
      if sg, e.type == .scatterGather, e.nents > 0, ranges.count != e.nents, ranges.count < TraceLineParser.maxRanges {
        report(
          .sgDifferentCount(mapCount: e.nents, syncCount: ranges.count), address: e.dmaAddress, entry: e, verdict: nil)
      }
    }
  }

  /// The entries of a `dma_unmap_sg` list whose `sg_phys()` differs from the
  /// mapped list's at the same index, when both lists were traced whole (no
  /// `[TRUNCATED]`) with the same length (a different length is the entry
  /// count check's).
  func sgEntriesDiffering(mapped e: DMAAPIAccounting.Entry, unmapCount: Int) -> [Int] {
    let sgPhys = dmaAPI.sgPhys(e)
    guard !fields.dma.truncated, sgPhys.count == e.nents, physAddrs.count == unmapCount,
      physAddrs.count == sgPhys.count
    else { return [] }
    return physAddrs.indices.filter { physAddrs[$0] != sgPhys[$0] }
  }

  /// The driver of a device for `dev_driver_string()`: the one a fault named, if any.
  func driverName(_ d: Int32) -> String {
    guard d >= 0, Int(d) < deviceDriver.count else { return "(unknown driver)" }
    let name = deviceDriver[Int(d)]
    return name.isEmpty ? "(unknown driver)" : name
  }

  /// Sends one `check_unmap()` report.
  func reportCheckUnmap(
    _ problem: DMAAPIUnmapProblem, device d: Int32, address: UInt64, entry: DMAAPIAccounting.Entry?, verdict: String?
  ) {
    let finding = Finding.dmaAPICheckUnmap(
      problem, driver: driverName(d), device: deviceNames[Int(d)], dmaAddress: address,
      frames: pre.type.checkUnmapFrames)
    sendDMAAPI(finding, device: d, iova: address, entry: entry, call: "unmap", verdict: verdict)
  }

  /// Sends a DMA-API finding of device `d` about the event on this line (a
  /// `call`: "unmap" or "sync"): the device as its domain, the DMA-API
  /// accounting, the live map it was checked against (with its page), the
  /// verdict and any lost events.
  private func sendDMAAPI(
    _ finding: Finding, device d: Int32, iova: UInt64, entry: DMAAPIAccounting.Entry?, call: String,
    verdict: String?
  ) {
    var finding = finding
    let name = deviceNames[Int(d)]
    finding.iova = IOVA(iova)
    finding.domain = name
    finding.device = name
    finding.details.append(Detail("accounting", .string(Accounting.dmaAPI.name)))
    if let e = entry {
      if let p = dmaAPI.physIndex.firstStart(of: e) {
        finding.phys = PhysicalAddress(p)
        finding.pfn = PFN(p >> shift)
      }
      finding.details += [
        Detail("dma map line", .int(Int64(e.line))), Detail("dma map ts", .string(e.ts.description)),
        Detail("dma map event", .string(e.event.name)),
      ]
    }
    finding.details += [
      Detail("dma \(call) line", .int(Int64(lineNumber))), Detail("dma \(call) ts", .string(pre.ts.description)),
    ]
    if let v = verdict { finding.details.append(Detail("verdict", .string(v))) }
    if let l = lostEventsDetail() { finding.details.append(l) }
    let driver = deviceDriver[Int(d)]
    send(
      finding, caller: siteFrame(attributedTo: driver.isEmpty ? name : driver, module: driver.isEmpty ? nil : driver))
  }
}

/// Which accounting saw a page mapped: the IOMMU's (`iommu:map`/`unmap`
/// events, as IOMMU_DEBUG_PAGEALLOC counts) or the DMA-API's (`dma:` events,
/// as CONFIG_DMA_API_DEBUG keeps its entries).
enum Accounting {
  case iommu, dmaAPI, both

  var name: String {
    switch self {
    case .iommu: "IOMMU mappings"
    case .dmaAPI: "DMA-API mappings"
    case .both: "IOMMU mappings, DMA-API mappings"
    }
  }
}

extension IntervalIndex {
  /// The start of the first physical range of a DMA-API entry.
  func firstStart(of e: DMAAPIAccounting.Entry) -> UInt64? {
    guard e.physSlot >= 0 else { return nil }
    return starts[Int(e.physSlot)]
  }
}
