import IOMMU
import KernelTypes
import MemoryModel
import Reports

extension Sanitizer.State {
  /// Keeps a DMA-API debug entry, charged to the resident budget
  /// (`dmaDebugEntries`). An entry the budget refuses is not kept, as the
  /// kernel keeps none when `dma_entry_alloc()` finds no free entry and
  /// cannot make more; the runner then stops the fixture.
  /// The corresponding Linux function is `add_dma_entry()`.
  mutating func addDMAEntry(_ key: Sanitizer.DMAKey, _ entry: Sanitizer.DMAEntry, budget: ResidentBudget) {
    guard budget.charge(entry.residentBytes, .dmaDebugEntries) else { return }
    if let old = dmaEntries.updateValue(entry, forKey: key) {
      budget.release(old.residentBytes, .dmaDebugEntries)
      dmaIndex.remove(key, phys: old.phys.rawValue, size: old.size)
    }
    dmaIndex.insert(key, phys: entry.phys.rawValue, size: entry.size)
  }

  /// The entries whose physical range may meet `[start, last]`: the index's
  /// candidates, or every entry when the index would probe more buckets
  /// than there are entries. Callers test the exact condition.
  func dmaEntries(physFrom start: UInt64, through last: UInt64) -> [(Sanitizer.DMAKey, Sanitizer.DMAEntry)] {
    guard let keys = dmaIndex.physCandidates(start, last, limit: dmaEntries.count) else {
      return dmaEntries.map { ($0.key, $0.value) }
    }
    return keys.compactMap { k in dmaEntries[k].map { (k, $0) } }
  }

  /// `device`'s entries whose DMA range may meet `[start, last]`, likewise.
  func dmaEntries(of device: String, from start: UInt64, through last: UInt64) -> [(
    Sanitizer.DMAKey, Sanitizer.DMAEntry
  )] {
    guard let addresses = dmaIndex.addressCandidates(device: device, start, last, limit: dmaEntries.count) else {
      return dmaEntries.filter { $0.key.device == device }.map { ($0.key, $0.value) }
    }
    return addresses.compactMap { a in
      let k = Sanitizer.DMAKey(device: device, address: a)
      return dmaEntries[k].map { (k, $0) }
    }
  }

  /// Takes a DMA-API debug entry out and gives back its charge.
  /// The corresponding Linux functions are `bucket_find_exact()` and `hash_bucket_del()`.
  mutating func removeDMAEntry(_ key: Sanitizer.DMAKey, budget: ResidentBudget) -> Sanitizer.DMAEntry? {
    guard let e = dmaEntries.removeValue(forKey: key) else { return nil }
    dmaIndex.remove(key, phys: e.phys.rawValue, size: e.size)
    budget.release(e.residentBytes, .dmaDebugEntries)
    return e
  }
}

/// CONFIG_DMA_API_DEBUG: the checks of kernel/dma/debug.c on unmaps, sg lists and syncs.
extension Sanitizer {
  package func dmaDebug(_ event: DMADebugEvent, context: CallContext) {
    switch event {
    case .mapSG(let device, let entries, let mapped, let direction):
      debugMapSG(device, entries: entries, mapped: mapped, direction: direction)
    case .unmapSG(let device, let entries, let nents, let direction):
      debugUnmapSG(device, entries: entries, nents: nents, direction: direction, context: context)
    case .sync(let device, let dmaAddress, let size, let direction, let toCPU, let nents):
      checkSync(
        device, dmaAddress: dmaAddress, size: size, direction: direction, toCPU: toCPU, nents: nents,
        context: context)
    case .allocPages(let device, let dmaAddress, let size, let direction, let phys):
      dmaMapped(device, dmaAddress: dmaAddress, size: size, direction: direction, phys: phys, context: context)
    case .freePages(let device, let dmaAddress, let size, let direction):
      checkUnmap(
        device, dmaAddress: dmaAddress, size: size, direction: direction, sgCallEntries: nil,
        frames: ["check_unmap", "debug_dma_free_pages", "dma_free_pages"], context: context)
    }
  }

  /// One entry per DMA segment, each remembering the list's `nents`.
  /// The corresponding Linux function is `debug_dma_map_sg()`.
  func debugMapSG(_ device: Device, entries: [ScatterlistEntry], mapped: Int, direction: DMADirection) {
    let objects = entries.prefix(mapped).map { machine.slabObjects(overlapping: $0.phys.rawValue, length: 1).first }
    state.withLock { s in
      for (e, object) in zip(entries.prefix(mapped), objects) {
        s.addDMAEntry(
          DMAKey(device: device.name, address: e.dmaAddress.rawValue),
          DMAEntry(
            size: e.dmaLength, direction: direction, phys: e.phys, sgCallEntries: entries.count,
            sgMappedEntries: mapped, object: object), budget: machine.memory.budget)
      }
    }
  }

  /// Checks the first `nents` entries, up to the number of segments the map made.
  /// The corresponding Linux function is `debug_dma_unmap_sg()`.
  func debugUnmapSG(
    _ device: Device, entries: [ScatterlistEntry], nents: Int, direction: DMADirection, context: CallContext
  ) {
    var mapped = 0
    for (i, e) in entries.prefix(nents).enumerated() {
      if mapped > 0 && i >= mapped { break }
      if i == 0 {
        mapped = state.withLock {
          $0.dmaEntries[DMAKey(device: device.name, address: e.dmaAddress.rawValue)]?.sgMappedEntries ?? 0
        }
      }
      checkUnmap(
        device, dmaAddress: e.dmaAddress, size: e.dmaLength, direction: direction, sgCallEntries: nents,
        frames: ["check_unmap", "debug_dma_unmap_sg", "dma_unmap_sg_attrs"], context: context)
    }
  }

  /// The prefix of every DMA-API debug message: `DMA-API: <driver> <device>: `.
  func dmaDebugPrefix(_ device: Device) -> String { "DMA-API: \(configuration.driverName) \(device.bdf): " }

  /// Emits one `err_printk()` of DMA-API debug.
  func dmaDebugReport(
    _ kind: ReportKind, _ device: Device, _ text: String, site: WarningSite, frames: [String], phys: PhysicalAddress?,
    dmaAddress: IOVA, details: [Detail], context: CallContext
  ) {
    let line = dmaDebugPrefix(device) + text
    let finding = Finding(
      kind: kind, headline: line, warnMessage: [line], warningSite: site, frames: frames, phys: phys,
      iova: dmaAddress, domain: device.domain?.name, device: device.name, details: details)
    report(finding, context: context)
  }

  /// Each `err_printk()` of `check_unmap()` is its own `WARN(1, ...)` at its
  /// own line (`DMAAPIUnmapProblem.site`), followed, when the entry was
  /// found, by `dump_entry_trace()`'s `Mapped at:` and the entry's stack.
  /// iommusan shows every error, as `dma_debug` with `all_errors=1` does: a
  /// kernel shows only the first by default (`show_num_errors = 1`).
  /// The corresponding Linux function is `check_unmap()`.
  func checkUnmap(
    _ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, sgCallEntries: Int?,
    frames: [String], context: CallContext
  ) {
    let key = DMAKey(device: device.name, address: dmaAddress.rawValue)
    let entry = state.withLock { $0.removeDMAEntry(key, budget: machine.memory.budget) }
    func report(_ problem: DMAAPIUnmapProblem) {
      var finding = Finding.dmaAPICheckUnmap(
        problem, driver: configuration.driverName, device: device.bdf, dmaAddress: dmaAddress.rawValue,
        frames: frames)
      finding.phys = entry?.phys
      finding.iova = dmaAddress
      finding.domain = device.domain?.name
      finding.device = device.name
      // dump_entry_trace(): pr_warn("Mapped at:\n") (pr_fmt "DMA-API: "), then
      // stack_trace_print()'s " %pS" lines.
      let trailer =
        entry.flatMap { e in
          e.stack.isEmpty ? nil : ["DMA-API: Mapped at:"] + e.stack.map { " " + KernelText.frame(StackFrame($0)) }
        } ?? []
      self.report(finding, context: context, trailer: trailer)
    }
    guard let entry else {
      // DMA_MAPPING_ERROR: dma_mapping_error() is true for it.
      report(dmaAddress.rawValue == UInt64.max ? .invalidAddress(size: size ?? 0) : .notAllocated(size: size ?? 0))
      return
    }
    let mapped = DMADebugEntryFields(
      size: entry.size, direction: entry.direction, sgCallEntries: entry.sgCallEntries)
    let ref = DMADebugEntryFields(size: size, direction: direction, sgCallEntries: sgCallEntries)
    for problem in DMAAPIUnmapProblem.mismatches(entry: mapped, ref: ref) { report(problem) }
  }

  /// The entry whose range holds `[address, address + size)`, found by its
  /// start or, as `bucket_find_contain()`, any entry of the device that contains it.
  func containingEntry(_ device: Device, address: UInt64, size: UInt64) -> (UInt64, DMAEntry)? {
    state.withLock { s in
      if let e = s.dmaEntries[DMAKey(device: device.name, address: address)], size <= e.size {
        return (address, e)
      }
      var best: (UInt64, DMAEntry)?
      // An entry that holds the range holds `address`: its buckets are among address's.
      for (k, e) in s.dmaEntries(of: device.name, from: address, through: address) where k.address <= address {
        let (end, o) = k.address.addingReportingOverflow(e.size)
        let (want, o2) = address.addingReportingOverflow(size)
        if !o2 && (o || end >= want), best.map({ k.address < $0.0 }) ?? true { best = (k.address, e) }
      }
      return best
    }
  }

  /// The corresponding Linux function is `check_sync()`.
  func checkSync(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, toCPU: Bool, nents: Int?,
    context: CallContext
  ) {
    let frames: [String] =
      switch (toCPU, nents != nil) {
      case (true, false): ["check_sync", "debug_dma_sync_single_for_cpu", "dma_sync_single_for_cpu"]
      case (false, false): ["check_sync", "debug_dma_sync_single_for_device", "dma_sync_single_for_device"]
      case (true, true): ["check_sync", "debug_dma_sync_sg_for_cpu", "dma_sync_sg_for_cpu"]
      case (false, true): ["check_sync", "debug_dma_sync_sg_for_device", "dma_sync_sg_for_device"]
      }
    func report(_ problem: DMAAPISyncProblem, phys: PhysicalAddress?) {
      var finding = Finding.dmaAPICheckSync(
        problem, driver: configuration.driverName, device: device.bdf, dmaAddress: dmaAddress.rawValue,
        frames: frames)
      finding.phys = phys
      finding.iova = dmaAddress
      finding.domain = device.domain?.name
      finding.device = device.name
      self.report(finding, context: context)
    }
    guard let (start, entry) = containingEntry(device, address: dmaAddress.rawValue, size: size) else {
      report(.notAllocated(size: size), phys: nil)
      return
    }
    if size > entry.size {
      report(.outsideRange(entry: start, entrySize: entry.size, syncSize: size), phys: entry.phys)
    }
    // check_sync() stops here for a bidirectional entry (`goto out`), before the sg count check too.
    guard entry.direction != .bidirectional else { return }
    if direction != entry.direction {
      report(
        .differentDirection(entrySize: entry.size, mappedWith: entry.direction, syncedWith: direction),
        phys: entry.phys)
    }
    if toCPU && entry.direction != .fromDevice && direction != .toDevice {
      report(
        .readOnlyForCPU(entrySize: entry.size, mappedWith: entry.direction, syncedWith: direction), phys: entry.phys)
    }
    if !toCPU && entry.direction != .toDevice && direction != .fromDevice {
      report(
        .writeOnlyToDevice(entrySize: entry.size, mappedWith: entry.direction, syncedWith: direction),
        phys: entry.phys)
    }
    if let nents, let mappedEntries = entry.sgCallEntries, nents != mappedEntries {
      report(.sgDifferentCount(mapCount: mappedEntries, syncCount: nents), phys: entry.phys)
    }
  }
}

extension Sanitizer {
  /// `L1_CACHE_BYTES` on x86-64 and arm64.
  static let cacheLineShift: UInt64 = 6

  /// DMA-API debug's active-cacheline check as Linux 3.19 to 5.9 had it
  /// (removed in 5.10): the CPU touching a page is an error when the page's
  /// *first* cacheline is the first cacheline of an active mapping that the
  /// device may write (`DMA_TO_DEVICE` mappings are not tracked,
  /// `active_cacheline_insert()`). Only the first cacheline of each mapping
  /// is tracked (`to_cacheline_number()`), and only the page's first
  /// cacheline is compared (`ent_cln == cln`): both quirks are kept.
  /// The corresponding Linux function is `debug_dma_assert_idle()`.
  package func cpuWrote(_ phys: PhysicalAddress, length: UInt64, context: CallContext) {
    guard configuration.dmaAssertIdle, length > 0 else { return }
    let shift = UInt64(pageShift)
    let first = phys.rawValue >> shift
    let last = (phys.rawValue &+ (length - 1)) >> shift
    guard last >= first, last - first < 1 << 20 else { return }
    let hit = state.withLock { s -> (DMAKey, DMAEntry)? in
      var best: (DMAKey, DMAEntry)?
      let lastByte = ((last &+ 1) << shift) &- 1
      for (k, e) in s.dmaEntries(physFrom: first << shift, through: lastByte) where e.direction != .toDevice {
        let p = e.phys.rawValue
        guard (first...last).contains(p >> shift), (p & ((1 << shift) - 1)) >> Self.cacheLineShift == 0 else {
          continue
        }
        if best.map({ (k.device, k.address) < ($0.0.device, $0.0.address) }) ?? true { best = (k, e) }
      }
      return best
    }
    guard let (key, entry) = hit, let device = machine.device(named: key.device) else { return }
    let cln = entry.phys.rawValue >> Self.cacheLineShift
    dmaDebugReport(
      .dmaCPUTouchActiveCacheline, device, "cpu touching an active dma mapped cacheline [cln=\(cln.hex16)]",
      site: .dmaDebugAssertIdle, frames: ["debug_dma_assert_idle"], phys: entry.phys,
      dmaAddress: IOVA(key.address),
      details: [
        Detail("cln", .hex(cln)), Detail("mapped with", .string(entry.direction.kernelName)),
        Detail("kernels", .string("3.19 to 5.9 (debug_dma_assert_idle() was removed in 5.10)")),
      ], context: context)
  }
}
