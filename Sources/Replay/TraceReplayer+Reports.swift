import KernelTypes
import MemoryModel
import Reports

extension TraceReplayer {
  // MARK: - Pieces

  /// The task of the current line.
  func currentTask() -> EmulatedTask {
    var end = pre.commEnd
    while end > pre.commStart, ASCII.isSpace(cur[end - 1]) { end -= 1 }
    let comm = cur.string(pre.commStart, end)
    let pid = Int(pre.pid)
    return EmulatedTask(pid: pid, tgid: pre.tgid >= 0 ? Int(pre.tgid) : pid, comm: comm, cpu: pre.cpu)
  }

  /// The current line as the report's statement.
  func currentStatement() -> StatementLocation {
    var a = 0
    var b = cur.count
    while a < b, ASCII.isSpace(cur[a]) { a += 1 }
    while b > a, ASCII.isSpace(cur[b - 1]) { b -= 1 }
    return StatementLocation(file: options.traceName, line: lineNumber, column: 1, text: cur.string(a, b))
  }

  /// A kernel symbol for a task: per-CPU and per-instance parts dropped so
  /// that one bug site keeps one syzkaller title (`kworker/u64:0` →
  /// `kworker`, `irq/26-AMD-Vi` → `irq_AMD_Vi`, `(udev-worker)` → `udev_worker`).
  static func taskSymbol(_ comm: String) -> String {
    var name = Substring(comm)
    if name.hasPrefix("irq/") {
      let rest = name.dropFirst(4).drop { $0.isNumber }
      name = "irq" + rest
    } else if let slash = name.firstIndex(of: "/") {
      name = name[..<slash]
    }
    var out = ""
    var lastUnderscore = true
    for u in name.unicodeScalars {
      let v = u.value
      let word = (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A)
      if word {
        out.unicodeScalars.append(u)
        lastUnderscore = false
      } else if !lastUnderscore {
        out.append("_")
        lastUnderscore = true
      }
    }
    while out.hasSuffix("_") { out.removeLast() }
    return out.isEmpty ? "task" : out
  }

  /// The guilty frame, at its trace line: `<who>_<event>`, where `who` is
  /// the driver or device the replay attributes the page or IOVA to, and
  /// only when none is known the traced task (the victim of an allocation
  /// is not the culprit). `SyzkallerTitle.symbol` keeps it off syzkaller's
  /// skip list, so the title names this site and not the detector.
  func siteFrame(attributedTo who: String?, module: String?) -> StackFrame {
    let owner = who.flatMap { $0.isEmpty ? nil : $0 } ?? currentTask().comm
    // Keyed by the name as traced: `taskSymbol` runs once per name and event type.
    let key = owner + "\u{0}" + pre.type.name
    let symbol: String
    if let known = siteSymbols[key] {
      symbol = known
    } else {
      symbol = SyzkallerTitle.symbol(Self.taskSymbol(owner) + "_" + pre.type.name)
      siteSymbols[key] = symbol
    }
    return StackFrame(
      symbol, module: module.flatMap { $0.isEmpty ? nil : $0 }, sourceFile: options.traceName,
      sourceLine: lineNumber, isGuilty: true)
  }

  func lostEventsDetail() -> Detail? {
    guard summary.lostEventMarkers > 0, let first = summary.firstLostEventsLine else { return nil }
    return Detail(
      "lost events",
      .string(
        "\(summary.lostEventMarkers) [LOST EVENTS] markers before this line (first at line \(first)): a lost unmap may explain this report"
      ))
  }

  func spaceDevice(_ space: Int32) -> String? {
    let s = spaces[Int(space)]
    return s.kind == .device && s.device >= 0 ? deviceNames[Int(s.device)] : nil
  }

  func spaceDriver(_ space: Int32) -> String? {
    let s = spaces[Int(space)]
    guard s.kind == .device, s.device >= 0 else { return nil }
    let d = deviceDriver[Int(s.device)]
    return d.isEmpty ? nil : d
  }

  /// Completes a finding into its report and emits it: the traced task, the
  /// current line as the statement, and `caller` below the finding's frames.
  /// A trace has no page_owner.
  func send(_ finding: Finding, caller: StackFrame) {
    summary.reports += 1
    summary.reportsByKind[finding.kind.rawValue, default: 0] += 1
    var report = Report(finding, callers: [caller], statement: currentStatement(), task: currentTask(), pageOwner: nil)
    if let pfn = finding.pfn { report.history = trail.events(pfn.rawValue).map(historyEvent) }
    // The traced line's own timestamp is when the kernel would have printed it.
    report.time = pre.ts.nanoseconds
    emit(report)
  }

  // MARK: - freed-while-mapped, allocated-while-mapped

  /// `notReported`: mapped pages of the same block past the per-event limit (named in its last report).
  func reportPage(_ kind: ReportKind, _ hit: PageHit, notReported: Int = 0) {
    let pfn = hit.pfn
    let owner = hit.owner
    let accounting: Accounting =
      hit.count > 0 ? (hit.dmaCount > 0 ? .both : .iommu) : .dmaAPI
    switch accounting {
    case .iommu: summary.pageReportsByIOMMU += 1
    case .dmaAPI: summary.pageReportsByDMAAPI += 1
    case .both: summary.pageReportsByBoth += 1
    }
    var finding = Finding.pageLeak(
      kind, pfn: PFN(pfn), phys: PhysicalAddress(pfn << shift), count: hit.count > 0 ? hit.count : hit.dmaCount,
      order: Int(fields.order))
    var module: String?
    var who: String?
    finding.details.append(Detail("accounting", .string(accounting.name)))
    if owner >= 0 {
      let m = mappings[Int(owner)]
      let pagePhys = pfn << shift
      finding.iova = IOVA(pagePhys >= m.paddr ? m.iova &+ (pagePhys - m.paddr) : m.iova)
      finding.domain = spaceName(m.space)
      finding.device = spaceDevice(m.space)
      module = spaceDriver(m.space)
      who = module ?? finding.device
      finding.details.append(Detail("map line", .int(Int64(m.line))))
      finding.details.append(Detail("map ts", .string(m.ts.description)))
      finding.details.append(Detail("map pid", .int(Int64(m.pid))))
      if m.dmaLine > 0 {
        finding.details.append(Detail("dma map line", .int(Int64(m.dmaLine))))
        finding.details.append(Detail("dma map ts", .string(m.dmaTS.description)))
        finding.details.append(Detail("dma map event", .string(m.dmaType.name)))
      }
      if let a = mappingNotes[owner] { finding.details.append(Detail("attribution", .string(a))) }
    }
    if hit.dmaEntry >= 0 {
      let e = dmaAPI.entries[Int(hit.dmaEntry)]
      let name = deviceNames[Int(e.device)]
      if finding.device == nil { finding.device = name }
      if finding.domain == nil { finding.domain = name }
      if finding.iova == nil {
        let pagePhys = pfn << shift
        let start = dmaAPI.physIndex.firstStart(of: e) ?? pagePhys
        finding.iova = IOVA(pagePhys >= start ? e.dmaAddress &+ (pagePhys - start) : e.dmaAddress)
      }
      if module == nil, !deviceDriver[Int(e.device)].isEmpty { module = deviceDriver[Int(e.device)] }
      if who == nil { who = module ?? name }
      if hit.count > 0 { finding.details.append(Detail("dma-api count", .int(hit.dmaCount))) }
      if owner < 0 || mappings[Int(owner)].dmaLine != e.line {
        finding.details.append(Detail("dma map line", .int(Int64(e.line))))
        finding.details.append(Detail("dma map ts", .string(e.ts.description)))
        finding.details.append(Detail("dma map event", .string(e.event.name)))
      }
      if hit.dmaCount > 1 {
        // The page's other live DMA-API mappings: the same page mapped by several devices (or twice).
        let others = dmaAPI.entries(coveringPage: pfn).filter { $0 != hit.dmaEntry }
        let shown = others.prefix(4).map { id -> String in
          let o = dmaAPI.entries[Int(id)]
          return "\(deviceNames[Int(o.device)]) (\(o.event.name) at line \(o.line))"
        }
        if !shown.isEmpty {
          finding.details.append(
            Detail(
              "also mapped by",
              .string(shown.joined(separator: ", ") + (others.count > 4 ? ", and \(others.count - 4) more" : ""))))
        }
      }
    }
    if let why = accountingsDiffer(accounting, hit) {
      finding.details.append(Detail("accountings differ", .string(why)))
    }
    let isFree = kind == .freedWhileMapped
    finding.details.append(Detail(isFree ? "free line" : "alloc line", .int(Int64(lineNumber))))
    finding.details.append(Detail(isFree ? "free ts" : "alloc ts", .string(pre.ts.description)))
    if !isFree, fields.gfpEnd > fields.gfpStart {
      var text = cur.string(fields.gfpStart, fields.gfpEnd)
      // `trace-cmd report -R` prints the mask as a number: name it as the text trace does.
      var k = fields.gfpStart
      if fields.raw, let mask = cur.hexOrDecimal(&k), k == fields.gfpEnd { text = GFPFlags.traceText(mask) }
      finding.details.append(Detail("gfp_flags", .string(text)))
    }
    if let l = lostEventsDetail() { finding.details.append(l) }
    if notReported > 0 {
      finding.details.append(
        Detail(
          "pages not reported",
          .string(
            "\(Plural.count(notReported, "further mapped page")) of this order-\(fields.order) block (at most "
              + "\(Self.pageReportsPerEvent) page reports an event)")))
    }
    // The page allocator's path to the hook, by event: `__free_pages()` reaches
    // `free_pages_prepare()` through `__free_frozen_pages()`.
    switch pre.type {
    case .mmPageAlloc: finding.frames += ["post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof"]
    case .mmPageFreeBatched: finding.frames += ["free_pages_prepare", "free_unref_folios"]
    default: finding.frames += ["free_pages_prepare", "__free_frozen_pages", "__free_pages"]
    }
    if let v = pageVerdict(kind, hit) { finding.details.append(Detail("verdict", .string(v))) }
    send(finding, caller: siteFrame(attributedTo: who, module: module))
  }

  /// Why one accounting sees a page mapped and the other does not, when the
  /// trace has the events of both.
  func accountingsDiffer(_ a: Accounting, _ hit: PageHit) -> String? {
    guard eventCounts[TraceEventType.map.rawValue] > 0, dmaAPI.maps > dmaAPI.mapsWithoutPhys else { return nil }
    switch a {
    case .both: return nil
    case .iommu:
      if let released = dmaReleaseOfIOMMUMapping(hit) { return released }
      return "no live dma: map event covers this page: mapped through iommu_map() directly (VFIO, a GPU "
        + "driver), by a dma event without a physical address (dma_alloc from 6.13), or its dma map predates the trace"
    case .dmaAPI:
      return "no live iommu:map covers this page: the device is behind dma-direct, swiotlb or an identity "
        + "domain (iommu=pt), or its IOMMU map predates the trace"
    }
  }

  /// The IOMMU mapping of an IOMMU-only page hit was made by a `dma:` map
  /// event that the DMA API has since released, but no `iommu:unmap`
  /// removed it: the IOMMU unmap's event was lost, or the unmap failed
  /// (`__iommu_dma_unmap()` WARNs when `iommu_unmap_fast()` unmaps less).
  func dmaReleaseOfIOMMUMapping(_ hit: PageHit) -> String? {
    guard hit.owner >= 0 else { return nil }
    let m = mappings[Int(hit.owner)]
    guard m.dmaLine > 0 else { return nil }
    var release = ""
    let space = spaces[Int(m.space)]
    if space.kind == .device, let r = dmaAPI.released(device: space.device, address: m.iova), r.line > m.dmaLine {
      release = " by \(r.event.name) at line \(r.line) (ts \(r.ts))"
    }
    return "the DMA API released this page's mapping (\(m.dmaType.name) at line \(m.dmaLine))\(release), but no "
      + "iommu:unmap of iova \(m.iova.hexAlt) followed: the unmap event was lost, or the IOMMU unmap failed; "
      + "the IOMMU can still translate it"
  }

  /// What the trace shows happened: the driver freed (or the allocator handed
  /// out again) a page that a device could still reach.
  func pageVerdict(_ kind: ReportKind, _ hit: PageHit) -> String? {
    var who = "a device"
    var mappedAt = ""
    var mapLine = 0
    if hit.dmaEntry >= 0 {
      let e = dmaAPI.entries[Int(hit.dmaEntry)]
      who = deviceNames[Int(e.device)]
      mappedAt = " (\(e.event.name) at line \(e.line), ts \(e.ts))"
      mapLine = e.line
    } else if hit.owner >= 0 {
      let m = mappings[Int(hit.owner)]
      who = spaceDevice(m.space) ?? "address space \(spaceName(m.space))"
      mappedAt = " (map at line \(m.line), ts \(m.ts))"
      mapLine = m.line
    }
    if kind == .freedWhileMapped, hit.dmaEntry < 0, hit.owner >= 0, let why = dmaReleaseOfIOMMUMapping(hit) {
      return "page freed while the IOMMU still maps it: \(who)\(mappedAt); " + why
    }
    if kind == .freedWhileMapped {
      return "driver freed the page before unmapping it: \(who) still maps it\(mappedAt) and no unmap of it "
        + "came before this free"
    }
    // The free that sent the page back to the allocator, when the page's history holds it: the
    // trace may not (a free in lost events, or a page of a larger block's free).
    let free = trail.events(hit.pfn).last {
      ($0.type == .mmPageFree || $0.type == .mmPageFreeBatched) && $0.line > mapLine && $0.line < lineNumber
    }
    return "page allocated again while still mapped: \(who) can still reach it\(mappedAt); no unmap of it "
      + "came before this allocation, so the page was freed while still mapped"
      + (free.map { " (\($0.type.name) at line \($0.line))" } ?? " (its free is not in the page's traced history)")
  }

  // MARK: - address-overflow, unmap-larger-than-requested

  /// `__iommu_debug_map()`'s WARN on a map of phys 0 or one whose physical range wraps.
  func reportMapAddressOverflow(iova: UInt64, phys: UInt64, size: UInt64) {
    var finding = Finding.mapAddressOverflow(phys: PhysicalAddress(phys), size: size, iova: IOVA(iova))
    finding.details += [Detail("map line", .int(Int64(lineNumber))), Detail("map ts", .string(pre.ts.description))]
    if let l = lostEventsDetail() { finding.details.append(l) }
    send(finding, caller: siteFrame(attributedTo: nil, module: nil))
  }

  /// `__iommu_debug_update_iova()`'s WARN, from `__iommu_debug_unmap_begin()`, on an unmap whose IOVA range wraps.
  func reportUnmapAddressOverflow(iova: UInt64, size: UInt64) {
    var finding = Finding.unmapAddressOverflow(iova: IOVA(iova), size: size)
    finding.details += [Detail("unmap line", .int(Int64(lineNumber))), Detail("unmap ts", .string(pre.ts.description))]
    if let l = lostEventsDetail() { finding.details.append(l) }
    send(finding, caller: siteFrame(attributedTo: nil, module: nil))
  }

  func reportLargerUnmap(iova: UInt64, size: UInt64, unmapped: UInt64) {
    var finding = Finding.largerUnmap(iova: IOVA(iova), size: size, unmapped: unmapped)
    finding.details += [
      Detail("unmap line", .int(Int64(lineNumber))), Detail("unmap ts", .string(pre.ts.description)),
      Detail("note", .string("WARN_ON_ONCE: reported once per replay; the summary counts them all")),
    ]
    send(finding, caller: siteFrame(attributedTo: nil, module: nil))
  }

  // MARK: - fault-after-unmap

  func reportFault(_ r: Released, device d: Int32, ambiguity: String?) {
    let x = fields.iova
    let driver = fields.drvEnd > fields.drvStart ? cur.string(fields.drvStart, fields.drvEnd) : ""
    let deviceName = d >= 0 ? deviceNames[Int(d)] : ""
    var details: [Detail] = [
      Detail("flags", .hex(fields.flags)),
      Detail("access", .string(fields.flags & 1 != 0 ? "write" : "read")),
    ]
    if !driver.isEmpty { details.append(Detail("driver", .string(driver))) }
    details.append(Detail("released", .string("\(r.iova.hexAlt)-\(r.last.hexAlt)")))
    if r.mapLine > 0 {
      details.append(Detail("map line", .int(Int64(r.mapLine))))
      details.append(Detail("map ts", .string(r.mapTS.description)))
    } else {
      details.append(Detail("map", .string("not traced (mapped before tracing started)")))
    }
    if r.dmaMapLine > 0 {
      details.append(Detail("dma map line", .int(Int64(r.dmaMapLine))))
      details.append(Detail("dma map ts", .string(r.dmaMapTS.description)))
      details.append(Detail("dma map event", .string(r.dmaMapType.name)))
    }
    if r.releaseLine > 0 {
      details.append(Detail("dma release line", .int(Int64(r.releaseLine))))
      details.append(Detail("dma release ts", .string(r.releaseTS.description)))
      details.append(Detail("dma release event", .string(r.releaseType.name)))
    }
    details.append(Detail("unmap line", .int(Int64(r.unmapLine))))
    details.append(Detail("unmap ts", .string(r.unmapTS.description)))
    if r.pageFreeLine > 0 {
      details.append(Detail("page free line", .int(Int64(r.pageFreeLine))))
      details.append(Detail("page free ts", .string(r.pageFreeTS.description)))
    }
    details.append(Detail("fault line", .int(Int64(lineNumber))))
    details.append(Detail("fault ts", .string(pre.ts.description)))
    if let us = r.unmapTS.microseconds(until: pre.ts) {
      details.append(Detail("after unmap", .string("\(us) us")))
    }
    if let a = ambiguity { details.append(Detail("attribution", .string(a))) }
    details.append(Detail("verdict", .string(faultVerdict(r, device: deviceName))))
    if let l = lostEventsDetail() { details.append(l) }
    var pfn: PFN?
    var phys: PhysicalAddress?
    if r.hasPaddr {
      let p = r.paddr &+ (x &- r.iova)
      phys = PhysicalAddress(p)
      pfn = PFN(p >> shift)
    }
    let guilty = siteFrame(
      attributedTo: driver.isEmpty ? (deviceName.isEmpty ? "unknown_device" : deviceName) : driver,
      module: driver.isEmpty ? nil : driver)
    let site = WarningSite.Emulator.faultAfterUnmap
    let headline =
      "iommu: \(deviceName.isEmpty ? "a device" : deviceName) faulted on iova \(IOVA(x)) "
      + "after the unmap at line \(r.unmapLine)"
    let finding = Finding(
      kind: .faultAfterUnmap, headline: headline, warningSite: site, frames: [site.function, "report_iommu_fault"],
      pfn: pfn, phys: phys, iova: IOVA(x), domain: spaceName(r.space),
      device: deviceName.isEmpty ? nil : deviceName, details: details)
    send(finding, caller: guilty)
  }
}

extension TraceReplayer {
  /// What VT-d's traced IOTLB flushes show of the unmap before a fault; empty
  /// when the trace has no `intel_iommu:cache_tag_flush_*` event.
  func iotlbSyncVerdict(_ r: Released, us: UInt64?) -> String {
    guard flushes.firstLine > 0 else { return "" }
    if let line = flushes.flushed(fields.iova, after: r.unmapLine), line < lineNumber {
      return "; the IOTLB was flushed after the unmap (intel_iommu:cache_tag_flush_* at line \(line))"
    }
    if let us, us < Self.flushQueueTimeoutMicroseconds {
      return "; no IOTLB flush of the address yet (no intel_iommu:cache_tag_flush_range covering it, no "
        + "cache_tag_flush_all): inside the 10 ms flush-queue window a lazy unmap still waits for its flush"
    }
    return "; unmap never followed by an IOTLB sync: no intel_iommu:cache_tag_flush_range covering iova "
      + "\(fields.iova.hexAlt) and no cache_tag_flush_all between the unmap at line \(r.unmapLine) and the fault "
      + "(the IOTLB may still hold the old translation)"
  }

  /// `IOVA_FQ_TIMEOUT` (drivers/iommu/dma-iommu.c): how long a lazy unmap's
  /// IOVA waits in the flush queue before the IOTLB flush, in microseconds.
  /// The window is `[0, 10 ms)`: an event exactly 10 ms after the unmap is outside it.
  static let flushQueueTimeoutMicroseconds: UInt64 = 10_000

  /// What the trace shows of a fault after an unmap: the device kept using
  /// the address; whether the page was freed (and reused) before the access,
  /// and whether that happened inside the lazy flush-queue window.
  func faultVerdict(_ r: Released, device: String) -> String {
    let who = device.isEmpty ? "the device" : device
    let access = fields.flags & 1 != 0 ? "wrote to" : "read from"
    var v = "device used the address after the unmap: \(who) \(access) iova \(fields.iova.hexAlt)"
    let us = r.unmapTS.microseconds(until: pre.ts)
    if let us {
      v += " \(us) us after the unmap at line \(r.unmapLine)"
    } else {
      v += " after the unmap at line \(r.unmapLine)"
    }
    if r.pageFreeLine > 0 {
      v += "; the page was freed at line \(r.pageFreeLine) before the access"
    }
    v += iotlbSyncVerdict(r, us: us)
    guard r.hasPaddr else { return v }
    let pfn = (r.paddr &+ (fields.iova &- r.iova)) >> shift
    let window = Self.flushQueueTimeoutMicroseconds
    if let realloc = trail.events(pfn).first(where: {
      $0.type == .mmPageAlloc && $0.line > r.unmapLine && $0.line < lineNumber
    }), let after = r.unmapTS.microseconds(until: realloc.ts), after < window {
      v +=
        "; page reused inside the lazy flush-queue window: allocated again at line \(realloc.line), \(after) us "
        + "after the unmap (IOVA_FQ_TIMEOUT is 10 ms): with iommu.strict=0 a stale IOTLB entry would have let "
        + "the device reach the new owner's data without a fault"
    } else if let us, us < window {
      v +=
        "; inside the 10 ms lazy flush-queue window (IOVA_FQ_TIMEOUT): with iommu.strict=0 a stale IOTLB "
        + "entry could have translated it without a fault"
    }
    return v
  }
}
