import KernelTypes
import MemoryModel

/// Renders a `Report` as an x86-64 kernel log splat, then the iommusan block.
///
/// Line order (report-and-trace-formats.md, section 1.2, without the register
/// lines, which an emulator has no honest values for):
///
/// ```
/// <kernelLog lines: what the kernel logged before (an IOMMU driver's timeout lines)>
/// ------------[ cut here ]------------
/// <warnMessage lines: WARN(1, fmt) messages sit between the cut line and WARNING>
/// WARNING: CPU: 0 PID: 1042 at drivers/iommu/iommu-debug-pagealloc.c:91 __iommu_debug_check_unmapped+0x../0x..
/// Modules linked in: nvme
/// CPU: 0 UID: 0 PID: 1042 Comm: nvme-uaf Not tainted 7.0.11-iommusan #1 PREEMPT(full)
/// Hardware name: iommusan emulated machine
/// RIP: 0010:<the guilty driver frame>
/// Call Trace:
///  <TASK>
///  func+0xOFF/0xSIZE [FILE:LINE] [[module]]
///  </TASK>
/// ---[ end trace 0000000000000000 ]---
/// <headline, unless it already is a warnMessage line (pr_warn after WARN_ON)>
/// <trailer lines (e.g. dma-debug's "Mapped at:" stack)>
/// <page_owner block, __dump_page_owner() format>
/// iommusan: <kind> (<source>)
/// iommusan:   <facts>
/// ```
///
/// The `RIP:` line names the guilty frame, not the detector, so that
/// syzkaller's parser (title = RIP function after its skip list) gives one
/// title per bug site: `WARNING in <guilty function>`.
///
/// Output is deterministic and every interpolated string is sanitized
/// (`KernelText`), so a report is always exactly the lines `lines(_:)` returns.
package struct KernelTextRenderer: Sendable {
  /// The form of the `WARNING:` line.
  package enum WarningLineFormat: String, Sendable, Hashable, CaseIterable {
    /// `WARNING: CPU: %d PID: %d at %s:%d %pS` (kernel/panic.c `__warn()` before 6.17).
    case classic
    /// `WARNING: %s:%d at %pS, CPU#%d: %s/%d`: `__warn()` since commit 28ea295f941e
    /// ("bugs/core: Reorganize fields in the first line of WARNING output", 2025),
    /// so Linux 7.0's; syzkaller parses it (`WARNING: {{SRC}} at {{FUNC}}`). The default.
    case modern
  }

  package var warningLineFormat: WarningLineFormat
  /// `UTS_RELEASE`, printed on the `CPU:` line.
  package var release: String
  /// The build number (`#1`) printed after the release.
  package var buildVersion: String
  /// The preemption model, `PREEMPT(full)`.
  package var preemptModel: String
  package var hardwareName: String
  /// Empty: `Not tainted`. Otherwise the taints earlier reports left
  /// (`__warn()` ends with `add_taint(TAINT_WARN, ...)`, `bad_page()` with
  /// `add_taint(TAINT_BAD_PAGE, ...)`): `Tainted: G    B   W` on the `CPU:`
  /// line and a `Tainted: [B]=BAD_PAGE, [W]=WARN` line after it. `KernelLog`
  /// sets it per report.
  package var taints: Taint
  /// Whether to print the `iommusan:` block after the kernel's lines.
  package var includeIOMMUSanBlock: Bool
  /// Whether the `iommusan:` block lists the page's history (replay prints
  /// it; `run` keeps it for JSON and `--history`).
  package var includeHistory: Bool
  /// The oops number printed as `[#N]` on a `BUG()`'s `Oops:` line: x86's
  /// `__die_header()` prints `++die_counter`, counted per boot. `KernelLog`
  /// sets it per report.
  package var dieCounter: Int = 1
  /// Whether this report's `add_taint(..., LOCKDEP_NOW_UNRELIABLE)` is the
  /// one that turns lock debugging off, so that the kernel prints
  /// `KernelLog.lockDebuggingOffLine` after it. `KernelLog` sets it per report.
  package var disablesLockDebugging = false

  /// The `UTS_RELEASE` iommusan prints for an emulated kernel of `version`
  /// (`emu.kernel=`): `7.0.11-iommusan`. The default is `KernelVersion.newest`'s,
  /// as `run`'s; one place for both.
  package static func release(_ version: KernelVersion = .newest) -> String { "\(version)-iommusan" }

  package init(
    warningLineFormat: WarningLineFormat = .modern,
    release: String = KernelTextRenderer.release(),
    buildVersion: String = "#1",
    preemptModel: String = "PREEMPT(full)",
    hardwareName: String = "iommusan emulated machine",
    taints: Taint = [],
    includeIOMMUSanBlock: Bool = true,
    includeHistory: Bool = false
  ) {
    self.warningLineFormat = warningLineFormat
    self.release = release
    self.buildVersion = buildVersion
    self.preemptModel = preemptModel
    self.hardwareName = hardwareName
    self.taints = taints
    self.includeIOMMUSanBlock = includeIOMMUSanBlock
    self.includeHistory = includeHistory
  }

  /// The report as text: `lines(report)` joined by newlines, ending in a newline.
  package func render(_ report: Report) -> String {
    lines(report).joined(separator: "\n") + "\n"
  }

  /// The report's lines, without newlines. A caller that wants dmesg
  /// timestamps prefixes each with `KernelText.printkPrefix(...)`.
  package func lines(_ report: Report) -> [String] {
    var out: [String] = []
    out.reserveCapacity(32 + report.callTrace.count)
    out += kernelLines(report)
    if includeIOMMUSanBlock {
      out += Self.iommusanLines(report)
      if includeHistory { out += Self.historyLines(report.history) }
    }
    return out
  }

  /// Only the lines a kernel would print: the WARN splat, the headline, the
  /// trailer and the page_owner block.
  package func kernelLines(_ report: Report) -> [String] {
    switch report.splat {
    case .warning: return warningLines(report)
    case .bug(let pageDump): return bugLines(report, pageDump: pageDump)
    case .badPage(let pageDump): return badPageLines(report, pageDump: pageDump)
    case .kasan(let access): return kasanLines(report, access)
    }
  }

  /// The `CPU:` line, and the taint line when tainted.
  private func cpuLines(_ task: EmulatedTask) -> [String] {
    let taint = taints.cpuLineText
    var out = [
      "CPU: \(task.cpu) UID: 0 PID: \(task.pid) Comm: \(Self.comm(task.comm)) \(taint) "
        + "\(KernelText.sanitize(release)) \(KernelText.sanitize(buildVersion)) \(KernelText.sanitize(preemptModel)) "
    ]
    if let line = taints.flagsLine { out.append(line) }
    return out
  }

  /// `Modules linked in:` with the modules of the call trace.
  private static func modulesLine(_ report: Report) -> String {
    var modules: [String] = []
    for frame in report.callTrace {
      guard let module = frame.module, !module.isEmpty else { continue }
      let name = KernelText.moduleName(module)
      if !modules.contains(name) { modules.append(name) }
    }
    return "Modules linked in:" + modules.map { " " + $0 }.joined()
  }

  /// `VM_BUG_ON_PAGE()`: `dump_page()` with its page_owner record, then
  /// `BUG()`'s oops (mm/debug.c `dump_page()`, lib/bug.c `report_bug()`,
  /// arch/x86/kernel/dumpstack.c `__die()`), registers left out. The `RIP:`
  /// line names the function holding the `BUG()` (the first frame); the call
  /// trace starts at its caller, as an oops's does.
  private func bugLines(_ report: Report, pageDump: [String]) -> [String] {
    var out: [String] = []
    for line in pageDump { out += KernelText.printkLines(line) }
    if let owner = report.pageOwner { out += Self.pageOwnerLines(owner) }
    out.append("------------[ cut here ]------------")
    let site = report.warningSite
    out.append("kernel BUG at \(KernelText.sanitize(site.file)):\(site.line)!")
    out.append("Oops: invalid opcode: 0000 [#\(dieCounter)] PREEMPT SMP NOPTI")
    out += cpuLines(report.task)
    out.append("Hardware name: " + KernelText.sanitize(hardwareName))
    let rip = report.callTrace.first ?? StackFrame(site.function)
    out.append("RIP: 0010:" + KernelText.frame(rip))
    out.append("Call Trace:")
    out.append(" <TASK>")
    for frame in report.callTrace.dropFirst() { out.append(" " + KernelText.frame(frame, source: true)) }
    out.append(" </TASK>")
    out.append(Self.modulesLine(report))
    out.append("---[ end trace 0000000000000000 ]---")
    for line in report.trailer { out += KernelText.printkLines(line) }
    return out
  }

  /// `bad_page()` (mm/page_alloc.c): the header with `%05lx`, `dump_page()`
  /// with its page_owner record, `print_modules()` and `dump_stack()`. The
  /// kernel goes on (it adds TAINT_BAD_PAGE): no cut line, no end marker.
  private func badPageLines(_ report: Report, pageDump: [String]) -> [String] {
    let pfn = String(report.pfn?.rawValue ?? 0, radix: 16)
    // bad_page()'s `messages suppressed` line, when its rate limit kept reports quiet.
    var out = report.kernelLog.flatMap { KernelText.printkLines($0) }
    out.append(
      "BUG: Bad page state in process \(Self.comm(report.task.comm))  pfn:"
        + String(repeating: "0", count: max(0, 5 - pfn.count)) + pfn)
    for line in pageDump { out += KernelText.printkLines(line) }
    if let owner = report.pageOwner { out += Self.pageOwnerLines(owner) }
    out.append(Self.modulesLine(report))
    out += cpuLines(report.task)
    out.append("Hardware name: " + KernelText.sanitize(hardwareName))
    out.append("Call Trace:")
    out.append(" <TASK>")
    out.append(" " + KernelText.frame(function: "dump_stack_lvl"))
    for frame in report.callTrace { out.append(" " + KernelText.frame(frame, source: true)) }
    out.append(" </TASK>")
    // `add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE)` at bad_page()'s end.
    if disablesLockDebugging { out.append(KernelLog.lockDebuggingOffLine) }
    for line in report.trailer { out += KernelText.printkLines(line) }
    return out
  }

  /// A KASAN report (mm/kasan/report.c `print_report()`): the header, the
  /// access, the stack from `dump_stack_lvl()`, and the object's allocation
  /// and free tracks. The object's cache and layout lines are left out: the
  /// model has no slab.
  private func kasanLines(_ report: Report, _ access: KASANAccess) -> [String] {
    let rule = "=================================================================="
    let task = report.task
    let first = report.callTrace.first ?? StackFrame(report.warningSite.function)
    var out = [rule, "BUG: KASAN: \(KernelText.sanitize(access.bugType)) in " + KernelText.frame(first)]
    // `%px`: 16 hex digits without `0x`.
    let address = access.address.hex16.dropFirst(2)
    out.append(
      "\(access.isWrite ? "Write" : "Read") of size \(access.size) at addr \(address) "
        + "by task \(Self.comm(task.comm))/\(task.pid)")
    out.append("")
    out += cpuLines(task)
    out.append("Hardware name: " + KernelText.sanitize(hardwareName))
    out.append("Call Trace:")
    out.append(" <TASK>")
    for f in ["dump_stack_lvl", "print_report", "kasan_report"] { out.append(" " + KernelText.frame(function: f)) }
    for frame in report.callTrace { out.append(" " + KernelText.frame(frame, source: true)) }
    out.append(" </TASK>")
    for (title, track) in [("Allocated", access.allocated), ("Freed", access.freed)] {
      guard let track else { continue }
      out.append("")
      out.append("\(title) by task \(track.task.pid):")
      for frame in track.stack { out.append(" " + KernelText.frame(frame, source: true)) }
    }
    out.append(rule)
    // `end_report()`'s `add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE)`.
    if disablesLockDebugging { out.append(KernelLog.lockDebuggingOffLine) }
    for line in report.trailer { out += KernelText.printkLines(line) }
    return out
  }

  /// A `WARN()` splat.
  private func warningLines(_ report: Report) -> [String] {
    var out: [String] = []
    let task = report.task
    let comm = Self.comm(task.comm)
    let site = report.warningSite
    let siteModule = report.callTrace.first { $0.function == site.function }?.module
    let caller = KernelText.frame(StackFrame(site.function, module: siteModule))
    let siteFile = KernelText.sanitize(site.file)

    var logLines: [String] = []
    for line in report.kernelLog { logLines += KernelText.printkLines(line) }
    out += logLines
    out.append("------------[ cut here ]------------")
    var warnLines: [String] = []
    for message in report.warnMessage { warnLines += KernelText.printkLines(message) }
    out += warnLines

    switch warningLineFormat {
    case .classic:
      out.append("WARNING: CPU: \(task.cpu) PID: \(task.pid) at \(siteFile):\(site.line) \(caller)")
    case .modern:
      out.append("WARNING: \(siteFile):\(site.line) at \(caller), CPU#\(task.cpu): \(comm)/\(task.pid)")
    }

    var modules: [String] = []
    for frame in report.callTrace {
      guard let module = frame.module, !module.isEmpty else { continue }
      let name = KernelText.moduleName(module)
      if !modules.contains(name) { modules.append(name) }
    }
    out.append("Modules linked in:" + modules.map { " " + $0 }.joined())

    let taint = taints.cpuLineText
    out.append(
      "CPU: \(task.cpu) UID: 0 PID: \(task.pid) Comm: \(comm) \(taint) "
        + "\(KernelText.sanitize(release)) \(KernelText.sanitize(buildVersion)) \(KernelText.sanitize(preemptModel)) ")
    if let line = taints.flagsLine { out.append(line) }
    out.append("Hardware name: " + KernelText.sanitize(hardwareName))

    let rip = Self.ripFrame(of: report)
    out.append("RIP: 0010:" + KernelText.frame(rip))
    out.append("Call Trace:")
    out.append(" <TASK>")
    let frames = report.callTrace.isEmpty ? [rip] : report.callTrace
    for frame in frames { out.append(" " + KernelText.frame(frame, source: true)) }
    out.append(" </TASK>")
    out.append("---[ end trace 0000000000000000 ]---")

    let headline = KernelText.printkLines(report.headline)
    if report.finding.kernelPrintsHeadline,
      !(report.headline.isEmpty || Self.contains(warnLines, headline) || Self.contains(logLines, headline))
    {
      out += headline
    }
    for line in report.trailer { out += KernelText.printkLines(line) }
    if report.finding.kernelPrintsHeadline, let owner = report.pageOwner { out += Self.pageOwnerLines(owner) }
    return out
  }

  /// The frame the `RIP:` line names: the frame flagged guilty; else the
  /// first frame of fixture code (one with a source location); else the
  /// first module frame; else the first frame; else the WARN site itself.
  package static func ripFrame(of report: Report) -> StackFrame {
    if let f = report.callTrace.first(where: { $0.isGuilty }) { return f }
    if let f = report.callTrace.first(where: { $0.sourceFile != nil }) { return f }
    if let f = report.callTrace.first(where: { $0.module.map { !$0.isEmpty } ?? false }) { return f }
    if let f = report.callTrace.first { return f }
    return StackFrame(report.warningSite.function)
  }

  /// The title syzkaller gives this report when the RIP function is not on
  /// its skip list: `WARNING in <symbol of the RIP frame>`; for the
  /// kernel's own BUG and KASAN reports, the kernel function's title.
  package static func expectedSyzkallerTitle(of report: Report) -> String {
    let first = KernelText.symbol(report.callTrace.first?.function ?? report.warningSite.function)
    switch report.splat {
    case .warning: return "WARNING in " + KernelText.symbol(ripFrame(of: report).function)
    case .bug: return "kernel BUG in " + first
    case .badPage:
      // syzkaller titles a bad page by the page_owner allocation stack's
      // first frame off its skip list: the driver's allocation.
      let alloc = report.pageOwner?.allocStack.first { $0.module.map { !$0.isEmpty } ?? false }
      return "BUG: Bad page state in " + KernelText.symbol(alloc?.function ?? first)
    case .kasan(let a): return "KASAN: \(a.bugType) \(a.isWrite ? "Write" : "Read") in " + first
    }
  }

  /// `__dump_page_owner()`'s lines (mm/page_owner.c).
  package static func pageOwnerLines(_ owner: PageOwnerRecord) -> [String] {
    if owner.neverSet { return ["page_owner info is not present (never set?)"] }
    var out: [String] = []
    out.append("page_owner tracks the page as " + (owner.isAllocated ? "allocated" : "freed"))
    out.append(
      "page last allocated via order \(UInt32(truncatingIfNeeded: owner.order)), "
        + "migratetype \(KernelText.sanitize(owner.gfp.migratetype)), "
        + "gfp_mask \(UInt64(owner.gfp.mask).hexAlt)(\(KernelText.sanitize(owner.gfp.description))), "
        + "pid \(owner.pid), tgid \(owner.tgid) (\(comm(owner.comm))), "
        + "ts \(owner.ts), free_ts \(owner.freeTs)")
    if owner.allocStack.isEmpty {
      out.append("page_owner allocation stack trace missing")
    } else {
      for frame in owner.allocStack { out.append(" " + KernelText.frame(frame, source: true)) }
    }
    if owner.freeStack.isEmpty {
      out.append("page_owner free stack trace missing")
    } else {
      out.append("page last free pid \(owner.freePid ?? 0) tgid \(owner.freeTgid ?? 0) stack trace:")
      for frame in owner.freeStack { out.append(" " + KernelText.frame(frame, source: true)) }
    }
    return out
  }

  /// The iommusan block: what the kernel cannot print. One `key value` group
  /// per line, values bare or quoted (`KernelText.value`):
  ///
  /// ```
  /// iommusan: freed-while-mapped (kernel sanitizer)
  /// iommusan:   statement FILE:LINE:COL: TEXT
  /// iommusan:   pfn 0x80010 phys 0x80010000 count 1
  /// iommusan:   iova 0xfffff000 domain dma0 device nvme0 pasid 1
  /// iommusan:   <detail key> <value>          (one line per detail, in order)
  /// ```
  ///
  /// Lines without any fact are left out.
  package static func iommusanLines(_ report: Report) -> [String] {
    let prefix = "iommusan:   "
    var out = ["iommusan: \(report.kind.rawValue) (\(report.source.rawValue))"]
    // What a WARN_ON with no message leaves unsaid, and its page's owner.
    if !report.finding.kernelPrintsHeadline {
      if !report.headline.isEmpty {
        out += KernelText.printkLines(report.headline).map { prefix + "what " + $0 }
      }
      if let owner = report.pageOwner { out += pageOwnerLines(owner).map { prefix + "page_owner: " + $0 } }
    }
    if let s = report.statement {
      out.append(
        prefix + "statement \(KernelText.sanitize(s.file)):\(s.line):\(s.column): \(KernelText.sanitize(s.text))")
    }
    var page: [String] = []
    if let pfn = report.pfn { page.append("pfn " + pfn.description) }
    if let phys = report.phys { page.append("phys " + phys.description) }
    if let count = report.count { page.append("count " + String(count)) }
    if !page.isEmpty { out.append(prefix + page.joined(separator: " ")) }
    var mapping: [String] = []
    if let iova = report.iova { mapping.append("iova " + iova.description) }
    if let domain = report.domain { mapping.append("domain " + KernelText.value(domain)) }
    if let device = report.device { mapping.append("device " + KernelText.value(device)) }
    if let pasid = report.pasid { mapping.append("pasid " + String(pasid)) }
    if !mapping.isEmpty { out.append(prefix + mapping.joined(separator: " ")) }
    for detail in report.details {
      let key = detail.key.isEmpty ? "detail" : KernelText.sanitize(detail.key)
      out.append(prefix + key + " " + KernelText.detailValue(detail.value))
    }
    for m in report.mappings { out += mappingLines(m) }
    if let f = report.freedAt { out.append(prefix + "freed at " + KernelText.sanitize(f.description)) }
    if let r = report.reallocatedAt {
      out.append(prefix + "allocated again at " + KernelText.sanitize(r.description))
    }
    return out
  }

  /// The page's history, oldest first, one line per event:
  ///
  /// ```
  /// iommusan:   history line 14 ts 30.000110 cpu 2 pid 1042: dma_map_phys 0000:01:00.0 dma_addr 0x... size 4096
  /// ```
  package static func historyLines(_ events: [PageHistoryEvent]) -> [String] {
    events.map { e in
      var s = "iommusan:   history"
      if let line = e.line { s += " line \(line)" }
      if let ts = e.ts { s += " ts " + KernelText.sanitize(ts) }
      if let cpu = e.cpu { s += " cpu \(cpu)" }
      if let pid = e.pid { s += " pid \(pid)" }
      return s + ": " + KernelText.sanitize(e.text)
    }
  }

  /// Two lines for a live mapping of the report's page:
  ///
  /// ```
  /// iommusan:   mapping domain dma0 device nvme0 iova 0xfffff000 size 0x1000 leaf 0x1000
  /// iommusan:     mapped at FILE:LINE binding h via dma_map_page_attrs -> ... -> iommu_map
  /// ```
  static func mappingLines(_ m: LiveMapping) -> [String] {
    var first = "iommusan:   mapping domain " + KernelText.value(m.domain)
    for a in m.attachments {
      first += " device " + KernelText.value(a.device)
      if let pasid = a.pasid { first += " pasid " + String(pasid) }
    }
    first += " iova \(m.iova) size \(m.size.hexAlt) leaf \(m.leafSize.hexAlt)"
    if m.pageIOVA != m.iova { first += " page iova \(m.pageIOVA)" }
    var second = "iommusan:     mapped at "
    if let file = m.file, let line = m.line {
      second += "\(KernelText.sanitize(file)):\(line)"
    } else {
      second += "(no statement)"
    }
    if let b = m.binding { second += " binding " + KernelText.value(b) }
    second += " via " + m.path.reversed().joined(separator: " -> ")
    return [first, second]
  }

  // MARK: - Internals

  /// `%.20s` of a task's comm, sanitized.
  static func comm(_ comm: String) -> String {
    KernelText.sanitize(String(comm.prefix(20)))
  }

  static func contains(_ haystack: [String], _ needle: [String]) -> Bool {
    guard !needle.isEmpty, needle.count <= haystack.count else { return false }
    for start in 0...(haystack.count - needle.count) where Array(haystack[start..<start + needle.count]) == needle {
      return true
    }
    return false
  }
}
