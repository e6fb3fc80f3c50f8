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
    let raw = Self.taskSymbol(owner) + "_" + pre.type.name
    let symbol: String
    if let known = siteSymbols[raw] {
      symbol = known
    } else {
      symbol = SyzkallerTitle.symbol(raw)
      siteSymbols[raw] = symbol
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
    // The traced line's own timestamp is when the kernel would have printed it.
    report.time = pre.ts.nanoseconds
    emit(report)
  }

  // MARK: - freed-while-mapped, allocated-while-mapped

  func reportPage(_ kind: ReportKind, pfn: UInt64, count: Int64, owner: Int32) {
    var finding = Finding.pageLeak(
      kind, pfn: PFN(pfn), phys: PhysicalAddress(pfn << shift), count: count, order: Int(fields.order))
    var module: String?
    var who: String?
    if owner >= 0 {
      let m = mappings[Int(owner)]
      let pagePhys = pfn << shift
      finding.iova = IOVA(pagePhys >= m.paddr ? m.iova &+ (pagePhys - m.paddr) : m.iova)
      finding.domain = spaces[Int(m.space)].name
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
    let isFree = kind == .freedWhileMapped
    finding.details.append(Detail(isFree ? "free line" : "alloc line", .int(Int64(lineNumber))))
    finding.details.append(Detail(isFree ? "free ts" : "alloc ts", .string(pre.ts.description)))
    if !isFree, fields.gfpEnd > fields.gfpStart {
      finding.details.append(Detail("gfp_flags", .string(cur.string(fields.gfpStart, fields.gfpEnd))))
    }
    if let l = lostEventsDetail() { finding.details.append(l) }
    // The page allocator's path to the hook, by event: `__free_pages()` reaches
    // `free_pages_prepare()` through `__free_frozen_pages()`.
    switch pre.type {
    case .mmPageAlloc: finding.frames += ["post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof"]
    case .mmPageFreeBatched: finding.frames += ["free_pages_prepare", "free_unref_folios"]
    default: finding.frames += ["free_pages_prepare", "__free_frozen_pages", "__free_pages"]
    }
    send(finding, caller: siteFrame(attributedTo: who, module: module))
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
      pfn: pfn, phys: phys, iova: IOVA(x), domain: spaces[Int(r.space)].name,
      device: deviceName.isEmpty ? nil : deviceName, details: details)
    send(finding, caller: guilty)
  }
}
