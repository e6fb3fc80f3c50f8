import MemoryModel

/// Renders reports (and any other record) as JSON Lines: one compact JSON
/// object per line, keys in a fixed order, pure ASCII. docs/JSON.md is the
/// contract for the keys.
///
/// Report keys, in order (absent optional facts are left out):
/// `kind`, `source`, `headline`, `file`, `line`, `column`, `statement`,
/// `pid`, `tgid`, `comm`, `cpu`, `pfn`, `phys`, `iova`, `domain`, `device`,
/// `pasid`, `count`, `details`, `kernel_log`, `warning`, `guilty`, `call_trace`, `page_owner`.
package struct JSONLinesRenderer: Sendable {
  package init() {}

  /// The report as one JSON object text, without a newline.
  package func line(_ report: Report) -> String {
    json(report).serialized
  }

  /// The report's line followed by a newline.
  package func render(_ report: Report) -> String {
    line(report) + "\n"
  }

  /// The report as a JSON object value (to embed it in another record).
  package func json(_ report: Report) -> JSONValue {
    var m: [JSONMember] = []
    m.reserveCapacity(24)
    m.append(JSONMember("kind", .string(report.kind.rawValue)))
    m.append(JSONMember("source", .string(report.source.rawValue)))
    m.append(JSONMember("headline", .string(report.headline)))
    if let s = report.statement {
      m.append(JSONMember("file", .string(s.file)))
      m.append(JSONMember("line", JSONValue(s.line)))
      m.append(JSONMember("column", JSONValue(s.column)))
      m.append(JSONMember("statement", .string(s.text)))
    }
    m.append(JSONMember("pid", JSONValue(report.task.pid)))
    m.append(JSONMember("tgid", JSONValue(report.task.tgid)))
    m.append(JSONMember("comm", .string(report.task.comm)))
    m.append(JSONMember("cpu", JSONValue(report.task.cpu)))
    if let pfn = report.pfn { m.append(JSONMember("pfn", .uint(pfn.rawValue))) }
    if let phys = report.phys { m.append(JSONMember("phys", .hex(phys.rawValue))) }
    if let iova = report.iova { m.append(JSONMember("iova", .hex(iova.rawValue))) }
    if let domain = report.domain { m.append(JSONMember("domain", .string(domain))) }
    if let device = report.device { m.append(JSONMember("device", .string(device))) }
    if let pasid = report.pasid { m.append(JSONMember("pasid", JSONValue(pasid))) }
    if let count = report.count { m.append(JSONMember("count", .int(count))) }
    if !report.details.isEmpty {
      m.append(JSONMember("details", .object(report.details.map { JSONMember($0.key, Self.json($0.value)) })))
    }
    if !report.kernelLog.isEmpty {
      m.append(JSONMember("kernel_log", .array(report.kernelLog.map { .string($0) })))
    }
    m.append(
      JSONMember(
        "warning",
        [
          "file": .string(report.warningSite.file),
          "line": JSONValue(report.warningSite.line),
          "function": .string(report.warningSite.function),
        ]))
    m.append(JSONMember("guilty", .string(KernelText.symbol(KernelTextRenderer.ripFrame(of: report).function))))
    m.append(JSONMember("call_trace", Self.stack(report.callTrace)))
    if let owner = report.pageOwner { m.append(JSONMember("page_owner", Self.json(owner))) }
    if !report.mappings.isEmpty { m.append(JSONMember("mappings", .array(report.mappings.flatMap(Self.json)))) }
    if let f = report.freedAt { m.append(JSONMember("freed_at", Self.json(f))) }
    if let r = report.reallocatedAt { m.append(JSONMember("reallocated_at", Self.json(r))) }
    if !report.history.isEmpty { m.append(JSONMember("history", .array(report.history.map(Self.json)))) }
    return .object(m)
  }

  /// A live mapping as one object per attached device (and PASID), or one
  /// object without `device` when no device is attached: `domain`, `device`,
  /// `pasid`, `iova`, `size`, `page_iova`, `leaf_size`, `file`, `line`,
  /// `binding`, `call_path` (outermost first).
  package static func json(_ mapping: LiveMapping) -> [JSONValue] {
    let attachments: [LiveMapping.Attachment?] = mapping.attachments.isEmpty ? [nil] : mapping.attachments
    return attachments.map { a in
      var m = [JSONMember("domain", .string(mapping.domain))]
      if let a {
        m.append(JSONMember("device", .string(a.device)))
        if let pasid = a.pasid { m.append(JSONMember("pasid", JSONValue(pasid))) }
      }
      m += [
        JSONMember("iova", .hex(mapping.iova.rawValue)), JSONMember("size", .hex(mapping.size)),
        JSONMember("page_iova", .hex(mapping.pageIOVA.rawValue)), JSONMember("leaf_size", .hex(mapping.leafSize)),
      ]
      if let file = mapping.file { m.append(JSONMember("file", .string(file))) }
      if let line = mapping.line { m.append(JSONMember("line", JSONValue(line))) }
      if let b = mapping.binding { m.append(JSONMember("binding", .string(b))) }
      m.append(JSONMember("call_path", .array(mapping.path.reversed().map { .string($0) })))
      return .object(m)
    }
  }

  /// A history event: `event`, `file`, `line`, (traced events:) `ts`, `cpu`, `pid`, (invalidations:)
  /// `cache`, `domain`, `iova_first`, `iova_last`, `state`, then `text`.
  package static func json(_ e: PageHistoryEvent) -> JSONValue {
    var m = [JSONMember("event", .string(e.event))]
    if let file = e.file { m.append(JSONMember("file", .string(file))) }
    if let line = e.line { m.append(JSONMember("line", JSONValue(line))) }
    if let ts = e.ts { m.append(JSONMember("ts", .string(ts))) }
    if let cpu = e.cpu { m.append(JSONMember("cpu", JSONValue(cpu))) }
    if let pid = e.pid { m.append(JSONMember("pid", JSONValue(pid))) }
    if let cache = e.cache {
      m.append(JSONMember("cache", .string(cache)))
      if let d = e.domain { m.append(JSONMember("domain", .string(d))) }
      if let first = e.iova, let last = e.iovaLast {
        m.append(JSONMember("iova_first", .hex(first)))
        m.append(JSONMember("iova_last", .hex(last)))
      }
      if let state = e.state { m.append(JSONMember("state", .string(state))) }
    }
    m.append(JSONMember("text", .string(e.text)))
    return .object(m)
  }

  /// A page event's site: `file`, `line`, `task` (`comm`, `pid`, `tgid`).
  package static func json(_ site: PageEventSite) -> JSONValue {
    var m: [JSONMember] = []
    if let file = site.file { m.append(JSONMember("file", .string(file))) }
    if let line = site.line { m.append(JSONMember("line", JSONValue(line))) }
    m.append(
      JSONMember(
        "task",
        [
          "comm": .string(site.task.comm), "pid": JSONValue(site.task.pid), "tgid": JSONValue(site.task.tgid),
        ]))
    return .object(m)
  }

  // MARK: - Generic records

  /// A record with keys in the given order, as one JSON text without a
  /// newline: `JSONLinesRenderer.record(["summary": ["fixtures": 3]])`.
  package static func record(_ pairs: KeyValuePairs<String, JSONValue>) -> String {
    JSONValue.object(pairs).serialized
  }

  /// A record from members built at run time.
  package static func record(_ members: [JSONMember]) -> String {
    JSONValue.object(members).serialized
  }

  // MARK: - Pieces

  /// A detail value: `.int` a JSON integer, `.hex` a `"0x..."` string, `.string` a string.
  package static func json(_ value: DetailValue) -> JSONValue {
    switch value {
    case .int(let v): return .int(v)
    case .hex(let v): return .hex(v)
    case .string(let s): return .string(s)
    }
  }

  /// A stack as an array of `%pS` strings (`func+0xOFF/0xSIZE`, ` [module]` for module code).
  package static func stack(_ frames: [StackFrame]) -> JSONValue {
    .array(frames.map { .string(KernelText.frame($0)) })
  }

  /// The page_owner record as an object, keys in `__dump_page_owner()`'s order:
  /// `state`, `order`, `migratetype`, `gfp_mask`, `gfp`, `pid`, `tgid`, `comm`,
  /// `ts`, `free_ts`, `alloc_stack`, `free_pid`, `free_tgid`, `free_stack`.
  package static func json(_ owner: PageOwnerRecord) -> JSONValue {
    // `page_owner info is not present (never set?)`: nothing else is known.
    if owner.neverSet { return .object([JSONMember("state", .string("not present"))]) }
    var m: [JSONMember] = [
      JSONMember("state", .string(owner.isAllocated ? "allocated" : "freed")),
      JSONMember("order", JSONValue(owner.order)),
      JSONMember("migratetype", .string(owner.gfp.migratetype)),
      JSONMember("gfp_mask", .hex(UInt64(owner.gfp.mask))),
      JSONMember("gfp", .string(owner.gfp.description)),
      JSONMember("pid", JSONValue(owner.pid)),
      JSONMember("tgid", JSONValue(owner.tgid)),
      JSONMember("comm", .string(owner.comm)),
      JSONMember("ts", .uint(owner.ts)),
      JSONMember("free_ts", .uint(owner.freeTs)),
      JSONMember("alloc_stack", stack(owner.allocStack)),
    ]
    if let pid = owner.freePid { m.append(JSONMember("free_pid", JSONValue(pid))) }
    if let tgid = owner.freeTgid { m.append(JSONMember("free_tgid", JSONValue(tgid))) }
    m.append(JSONMember("free_stack", stack(owner.freeStack)))
    return .object(m)
  }
}
