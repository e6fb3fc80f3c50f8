import KernelTypes
import MemoryModel
import Reports

/// Replay's own check for what only a trace shows; the IOMMU_DEBUG_PAGEALLOC
/// sites are `WarningSite`'s table.
enum ReplaySites {
  static let faultAfterUnmap = WarningSite(file: "iommusan/replay.c", line: 1, function: "replay_check_fault_after_unmap")
}

extension TraceReplayer {
  // MARK: - Pieces

  /// The task of the current line.
  func currentTask() -> TaskInfo {
    var end = pre.commEnd
    while end > pre.commStart, ASCII.isSpace(cur[end - 1]) { end -= 1 }
    let comm = cur.string(pre.commStart, end)
    let pid = Int(pre.pid)
    return TaskInfo(pid: pid, tgid: pre.tgid >= 0 ? Int(pre.tgid) : pid, comm: comm, cpu: pre.cpu)
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

  /// The guilty frame: the traced task, at its trace line.
  func taskFrame(module: String?) -> StackFrame {
    StackFrame(
      Self.taskSymbol(currentTask().comm), module: module.flatMap { $0.isEmpty ? nil : $0 },
      sourceFile: options.traceName, sourceLine: lineNumber, isGuilty: true)
  }

  func lostEventsDetail() -> Detail? {
    guard summary.lostEventMarkers > 0, let first = summary.firstLostEventsLine else { return nil }
    return Detail(
      "lost events",
      .string("\(summary.lostEventMarkers) [LOST EVENTS] markers before this line (first at line \(first)): a lost unmap may explain this report"))
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

  func send(_ r: Report) {
    summary.reports += 1
    summary.reportsByKind[r.kind.rawValue, default: 0] += 1
    emit(r)
  }

  // MARK: - freed-while-mapped, allocated-while-mapped

  func reportPage(_ kind: ReportKind, pfn: UInt64, count: Int64, owner: Int32) {
    var details: [Detail] = [Detail("order", .int(Int64(fields.order)))]
    var iova: IOVA?
    var domain: String?
    var device: String?
    var module: String?
    if owner >= 0 {
      let m = mappings[Int(owner)]
      let pagePhys = pfn << shift
      iova = IOVA(pagePhys >= m.paddr ? m.iova &+ (pagePhys - m.paddr) : m.iova)
      domain = spaces[Int(m.space)].name
      device = spaceDevice(m.space)
      module = spaceDriver(m.space)
      details.append(Detail("map line", .int(Int64(m.line))))
      details.append(Detail("map ts", .string(m.ts.description)))
      details.append(Detail("map pid", .int(Int64(m.pid))))
      if m.dmaLine > 0 {
        details.append(Detail("dma map line", .int(Int64(m.dmaLine))))
        details.append(Detail("dma map ts", .string(m.dmaTS.description)))
        details.append(Detail("dma map event", .string(m.dmaType.name)))
      }
      if let a = mappingNotes[owner] { details.append(Detail("attribution", .string(a))) }
    }
    let isFree = kind == .freedWhileMapped
    details.append(Detail(isFree ? "free line" : "alloc line", .int(Int64(lineNumber))))
    details.append(Detail(isFree ? "free ts" : "alloc ts", .string(pre.ts.description)))
    if !isFree, fields.gfpEnd > fields.gfpStart {
      details.append(Detail("gfp_flags", .string(cur.string(fields.gfpStart, fields.gfpEnd))))
    }
    if let l = lostEventsDetail() { details.append(l) }
    let path: [String]
    switch pre.type {
    case .mmPageAlloc: path = ["post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof"]
    case .mmPageFreeBatched: path = ["free_pages_prepare", "free_unref_folios"]
    default: path = ["free_pages_prepare", "__free_pages"]
    }
    let trace = ([WarningSite.checkUnmapped.function] + path).map { StackFrame($0) } + [taskFrame(module: module)]
    send(
      Report(
        kind: kind, headline: "iommu: Detected page leak!", warningSite: WarningSite.checkUnmapped, callTrace: trace,
        statement: currentStatement(), task: currentTask(), pfn: PFN(pfn), phys: PhysicalAddress(pfn << shift),
        iova: iova, domain: domain, device: device, count: count, details: details))
  }

  // MARK: - address-overflow, unmap-larger-than-requested

  func reportAddressOverflow(onMap: Bool, what: String, iova: UInt64, phys: UInt64?, size: UInt64) {
    let site = onMap ? WarningSite.debugMap : WarningSite.updateIOVA
    let path = onMap ? ["iommu_map_nosync", "iommu_map"] : ["__iommu_debug_unmap_begin", "__iommu_unmap", "iommu_unmap"]
    var details = [Detail("size", .hex(size)), Detail(onMap ? "map line" : "unmap line", .int(Int64(lineNumber))), Detail(onMap ? "map ts" : "unmap ts", .string(pre.ts.description))]
    if let l = lostEventsDetail() { details.append(l) }
    send(
      Report(
        kind: .addressOverflow, headline: "iommu: " + what, warningSite: site,
        callTrace: ([site.function] + path).map { StackFrame($0) } + [taskFrame(module: nil)],
        statement: currentStatement(), task: currentTask(), phys: phys.map { PhysicalAddress($0) }, iova: IOVA(iova),
        details: details))
  }

  func reportLargerUnmap(iova: UInt64, size: UInt64, unmapped: UInt64) {
    let site = WarningSite.unmapEnd
    send(
      Report(
        kind: .unmapLargerThanRequested,
        headline: "iommu: unmap of \(size.hexAlt) bytes at iova \(IOVA(iova)) removed \(unmapped.hexAlt) bytes",
        warningSite: site,
        callTrace: ([site.function, "__iommu_unmap", "iommu_unmap"]).map { StackFrame($0) } + [taskFrame(module: nil)],
        statement: currentStatement(), task: currentTask(), iova: IOVA(iova),
        details: [
          Detail("size", .hex(size)), Detail("unmapped", .hex(unmapped)),
          Detail("unmap line", .int(Int64(lineNumber))), Detail("unmap ts", .string(pre.ts.description)),
          Detail("note", .string("WARN_ON_ONCE: reported once per replay; the summary counts them all")),
        ]))
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
    let guiltyName = driver.isEmpty ? (deviceName.isEmpty ? "unknown_device" : deviceName) : driver
    let guilty = StackFrame(
      guiltyName, module: driver.isEmpty ? nil : driver, sourceFile: options.traceName, sourceLine: lineNumber, isGuilty: true)
    let site = ReplaySites.faultAfterUnmap
    let headline =
      "iommu: \(deviceName.isEmpty ? "a device" : deviceName) faulted on iova \(IOVA(x)) "
      + "after the unmap at line \(r.unmapLine)"
    send(
      Report(
        kind: .faultAfterUnmap, headline: headline, warningSite: site,
        callTrace: [StackFrame(site.function), StackFrame("report_iommu_fault"), guilty],
        statement: currentStatement(), task: currentTask(), pfn: pfn, phys: phys, iova: IOVA(x),
        domain: spaces[Int(r.space)].name, device: deviceName.isEmpty ? nil : deviceName, details: details))
  }
}
