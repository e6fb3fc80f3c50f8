import KernelTypes

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The hand-written parser of ftrace text lines, on UTF-8 bytes.
///
/// Prefix (kernel/trace/trace_output.c `trace_print_context()`, and
/// trace-cmd 3.x `trace-read.c`):
///
/// ```
/// <comm>-<pid> [(<tgid>)] [<cpu>] [<flags: 3 to 7 chars>] <secs>[.<frac>]: [<system>:]<event>: <payload>
/// ```
///
/// The comm may contain spaces, dashes, brackets and colons, so the parser
/// anchors on the first `[digits]` that is preceded by `-<digits>` (and an
/// optional `(tgid)` column) and followed by a timestamp, which is what the
/// reference's regex does with its lazy comm group.
enum TraceLineParser {
  /// What a line is.
  enum Kind: Equatable {
    case blank
    /// `# ...` header and legend lines, trace-cmd's `cpus=N`, `version = N`, `CPU N is empty`.
    case header
    /// `CPU:N [LOST EVENTS]` or `CPU:N [LOST M EVENTS]`.
    case lost(cpu: Int, count: UInt64?)
    case event
    case malformed(StaticString)

    static func == (a: Kind, b: Kind) -> Bool {
      switch (a, b) {
      case (.blank, .blank), (.header, .header), (.event, .event): true
      case (.lost(let c1, let n1), .lost(let c2, let n2)): c1 == c2 && n1 == n2
      case (.malformed(let r1), .malformed(let r2)): r1.description == r2.description
      default: false
      }
    }
  }

  /// The prefix fields of an event line, as byte offsets into the line.
  struct Prefix {
    // Offsets into the line (at most `TraceReplayer.maxLineLength` long) are
    // stored as `Int32`, so that the records the parsing thread hands over
    // (`ParsePipeline.ParsedLine`) are small; they read and write as `Int`.
    private var _commStart: Int32 = 0
    private var _commEnd: Int32 = 0
    var pid: Int32 = 0
    var tgid: Int32 = -1
    private var _cpu: Int32 = 0
    private var _flagsStart: Int32 = 0
    private var _flagsEnd: Int32 = 0
    private var _nameStart: Int32 = 0
    private var _nameEnd: Int32 = 0
    private var _payload: Int32 = 0
    var ts = TraceTimestamp.zero
    var type = TraceEventType.other
    /// The `perf script` form: `<comm> <tid>` or `<comm> <pid>/<tid>` instead of `<comm>-<pid>`.
    var perf = false
    /// The form of the line (`TraceLineParser+Forms.swift`).
    var form = Form.plain

    var commStart: Int {
      get { Int(_commStart) }
      set { _commStart = Int32(truncatingIfNeeded: newValue) }
    }
    var commEnd: Int {
      get { Int(_commEnd) }
      set { _commEnd = Int32(truncatingIfNeeded: newValue) }
    }
    var cpu: Int {
      get { Int(_cpu) }
      set { _cpu = Int32(truncatingIfNeeded: newValue) }
    }
    var flagsStart: Int {
      get { Int(_flagsStart) }
      set { _flagsStart = Int32(truncatingIfNeeded: newValue) }
    }
    var flagsEnd: Int {
      get { Int(_flagsEnd) }
      set { _flagsEnd = Int32(truncatingIfNeeded: newValue) }
    }
    var nameStart: Int {
      get { Int(_nameStart) }
      set { _nameStart = Int32(truncatingIfNeeded: newValue) }
    }
    var nameEnd: Int {
      get { Int(_nameEnd) }
      set { _nameEnd = Int32(truncatingIfNeeded: newValue) }
    }
    var payload: Int {
      get { Int(_payload) }
      set { _payload = Int32(truncatingIfNeeded: newValue) }
    }
  }

  static let maxCPU = 65_535

  /// `fast`: try `fastPrefix` first (false only to compare the two paths in tests).
  static func classify(_ p: Line, _ e: inout Prefix, fast: Bool = true) -> Kind {
    let n = p.count
    var i = 0
    p.skipSpaces(&i)
    guard i < n else { return .blank }
    let c0 = p[i]
    if c0 == ASCII.hash { return .header }
    if c0 == UInt8(ascii: "c") {
      var k = i
      if p.expect("cpus=", &k) { return .header }
    }
    if c0 == UInt8(ascii: "v") {
      var k = i
      if p.expect("version", &k) {
        p.skipSpaces(&k)
        if p.byte(k) == ASCII.equals { return .header }
      }
    }
    if c0 == UInt8(ascii: "C") {
      var k = i
      if p.expect("CPU:", &k) {
        guard let cpu = p.decimal(&k), cpu <= UInt64(maxCPU) else { return .malformed("bad CPU:N [LOST EVENTS] line") }
        p.skipSpaces(&k)
        // trace-cmd report (tracecmd/trace-read.c): `CPU:%d [%llu EVENTS DROPPED]` or `CPU:%d [EVENTS DROPPED]`.
        var d = k
        if p.expect("[", &d) {
          let count = p.saturatingDecimal(&d)
          p.skipSpaces(&d)
          if p.expect("EVENTS DROPPED]", &d) { return .lost(cpu: Int(cpu), count: count) }
        }
        // `trace-cmd report --debug`: `CPU:0 [SUBBUFFER START] [13486784665205:0x1000]`.
        var sb = k
        if p.expect("[SUBBUFFER START]", &sb) { return .header }
        guard p.expect("[LOST", &k) else { return .malformed("bad CPU:N [LOST EVENTS] line") }
        p.skipSpaces(&k)
        var count: UInt64?
        // A count past 2^64 - 1 is still a loss: it saturates rather than making the line malformed.
        if let c = p.saturatingDecimal(&k) {
          count = c
          p.skipSpaces(&k)
        }
        guard p.expect("EVENTS]", &k) else { return .malformed("bad CPU:N [LOST EVENTS] line") }
        return .lost(cpu: Int(cpu), count: count)
      }
      k = i
      if p.expect("CPU ", &k), p.decimal(&k) != nil {
        p.skipSpaces(&k)
        if p.expect("is empty", &k) { return .header }
      }
    }
    // The kernel's own layout, in one pass; anything else goes to the general search.
    if fast, fastPrefix(p, lineStart: i, &e) { return .event }
    // Find the `[cpu]` column: the first `[` around which the whole prefix parses.
    var b = i
    var failure: Kind?
    while b < n {
      while b < n, p[b] != ASCII.lbracket { b += 1 }
      guard b < n else { break }
      if let r = tryPrefix(p, lineStart: i, bracket: b, &e) {
        if r == .event { return r }
        if failure == nil { failure = r }
      }
      b += 1
    }
    // The slow path: latency format, no context, perf -F subsets, stack entries, refusals.
    if let other = otherForms(p, i, &e, prefixFailed: failure != nil) { return other }
    return failure ?? .malformed("no '<comm>-<pid> [<cpu>] <timestamp>: <event>:' prefix")
  }

  /// Tries the `[` at `b` as the CPU column: `.event`, or nil when the text
  /// around it is no `-<pid> [<cpu>]`, or why the rest of the prefix failed.
  private static func tryPrefix(_ p: Line, lineStart i: Int, bracket b: Int, _ e: inout Prefix) -> Kind? {
    let n = p.count
    var k = b + 1
    guard let cpu = p.decimal(&k), k < n, p[k] == ASCII.rbracket else { return nil }
    // Backwards: spaces, optional `(tgid)`, spaces, `-<pid>`.
    var j = b - 1
    guard j >= i, ASCII.isSpace(p[j]) else { return nil }
    while j >= i, ASCII.isSpace(p[j]) { j -= 1 }
    var tgid: Int32 = -1
    if j >= i, p[j] == ASCII.rparen {
      var q = j - 1
      while q >= i, p[q] != ASCII.lparen { q -= 1 }
      guard q >= i else { return nil }
      var t = q + 1
      p.skipSpaces(&t)
      if t < j, p[t] == ASCII.dash {
        while t < j, p[t] == ASCII.dash { t += 1 }
        guard t == j else { return nil }
      } else {
        guard let v = p.decimal(&t), t == j, v <= UInt64(Int32.max) else { return nil }
        tgid = Int32(v)
      }
      j = q - 1
      guard j >= i, ASCII.isSpace(p[j]) else { return nil }
      while j >= i, ASCII.isSpace(p[j]) { j -= 1 }
    }
    var d = j
    while d >= i, ASCII.isDigit(p[d]) { d -= 1 }
    guard d < j, d >= i else { return nil }
    var pidIndex = d + 1
    guard let pid = p.decimal(&pidIndex), pidIndex == j + 1, pid <= UInt64(Int32.max) else { return nil }
    // `perf script`: `<comm> <tid> [cpu]` or, with `-F +pid`, `<comm> <pid>/<tid> [cpu]`.
    var perf = false
    if p[d] != ASCII.dash {
      if p[d] == ASCII.slash, tgid < 0 {
        var s = d - 1
        while s >= i, ASCII.isDigit(p[s]) { s -= 1 }
        var t = s + 1
        guard s < d - 1, s >= i, ASCII.isSpace(p[s]), let v = p.decimal(&t), t == d, v <= UInt64(Int32.max) else {
          return nil
        }
        tgid = Int32(v)
        d = s
      } else {
        guard ASCII.isSpace(p[d]) else { return nil }
      }
      perf = true
    }
    // This is the prefix; from here on a mismatch makes the line malformed.
    guard cpu <= UInt64(maxCPU) else { return .malformed("CPU number out of range") }
    k += 1
    // `trace-cmd report --raw-ts` glues the counter to the CPU: `[000]13486784665205:`.
    guard k < n, ASCII.isSpace(p[k]) || ASCII.isDigit(p[k]) else { return .malformed("no space after [cpu]") }
    p.skipSpaces(&k)
    var tokenEnd = p.tokenEnd(k)
    var flagsStart = 0
    var flagsEnd = 0
    if tokenEnd > k, p[tokenEnd - 1] != ASCII.colon {
      let length = tokenEnd - k
      guard length >= 3, length <= 7 else { return .malformed("flags column is not 3 to 7 characters") }
      flagsStart = k
      flagsEnd = tokenEnd
      k = tokenEnd
      p.skipSpaces(&k)
      tokenEnd = p.tokenEnd(k)
    }
    guard tokenEnd > k, p[tokenEnd - 1] == ASCII.colon else { return .malformed("no '<timestamp>:' after [cpu]") }
    guard let ts = timestamp(p, k, tokenEnd - 1) else { return .malformed("bad timestamp") }
    k = tokenEnd
    p.skipSpaces(&k)
    var nameStart = k
    while k < n, ASCII.isWord(p[k]) { k += 1 }
    guard k > nameStart, k < n, p[k] == ASCII.colon else { return .malformed("no '<event>:' after the timestamp") }
    var nameEnd = k
    k += 1
    // `iommu:map:` (a system prefix, as perf and some tools print).
    if k < n, ASCII.isWord(p[k]) {
      let s = k
      while k < n, ASCII.isWord(p[k]) { k += 1 }
      guard k < n, p[k] == ASCII.colon else { return .malformed("no '<event>:' after the timestamp") }
      nameStart = s
      nameEnd = k
      k += 1
    }
    p.skipSpaces(&k)
    e.commStart = i
    e.commEnd = d
    e.perf = perf
    e.form = .plain
    e.pid = Int32(pid)
    e.tgid = tgid
    e.cpu = Int(cpu)
    e.flagsStart = flagsStart
    e.flagsEnd = flagsEnd
    e.ts = ts
    e.nameStart = nameStart
    e.nameEnd = nameEnd
    e.type = TraceEventType.from(p, nameStart, nameEnd)
    e.payload = k
    return .event
  }

  /// `<digits>[.<digits>]` filling exactly `[a, b)`.
  static func timestamp(_ p: Line, _ a: Int, _ b: Int) -> TraceTimestamp? {
    var k = a
    guard let whole = p.decimal(&k) else { return nil }
    if k == b { return TraceTimestamp(whole: whole) }
    guard k < b, p[k] == ASCII.dot else { return nil }
    k += 1
    var fraction: UInt32 = 0
    var digits: UInt8 = 0
    let s = k
    while k < b, ASCII.isDigit(p[k]) {
      if digits < 9 {
        fraction = fraction * 10 + UInt32(p[k] &- 0x30)
        digits += 1
      }
      k += 1
    }
    guard k == b, k > s else { return nil }
    return TraceTimestamp(whole: whole, fraction: fraction, digits: digits)
  }
}

/// The payload fields of the events replay reads. Offsets index the line.
struct EventFields {
  var iova: UInt64 = 0
  var size: UInt64 = 0
  var paddr: UInt64 = 0
  var unmapped: UInt64 = 0
  var flags: UInt64 = 0
  var pfn: UInt64 = 0
  var group: Int64 = 0
  var phys: UInt64 = 0
  // Offsets and the order as `Int32` (small records, as in `TraceLineParser.Prefix`).
  private var _order: Int32 = 0
  private var _devStart: Int32 = 0
  private var _devEnd: Int32 = 0
  private var _drvStart: Int32 = 0
  private var _drvEnd: Int32 = 0
  private var _gfpStart: Int32 = 0
  private var _gfpEnd: Int32 = 0
  var pageIsNull = false
  var newFormat = false
  var hasPhys = false
  /// The payload was `trace-cmd report -R`'s `field=value` list.
  var raw = false
  /// The payload followed `[FAILED TO PARSE]` (libtraceevent's fields in their default formats).
  var failedToParse = false
  /// The `dma:` event's fields beyond its DMA ranges (`ranges`).
  var dma = DMAEventFields()

  /// The page order (at most `TraceLineParser.maxOrder`).
  var order: Int {
    get { Int(_order) }
    set { _order = Int32(truncatingIfNeeded: newValue) }
  }
  var devStart: Int {
    get { Int(_devStart) }
    set { _devStart = Int32(truncatingIfNeeded: newValue) }
  }
  var devEnd: Int {
    get { Int(_devEnd) }
    set { _devEnd = Int32(truncatingIfNeeded: newValue) }
  }
  var drvStart: Int {
    get { Int(_drvStart) }
    set { _drvStart = Int32(truncatingIfNeeded: newValue) }
  }
  var drvEnd: Int {
    get { Int(_drvEnd) }
    set { _drvEnd = Int32(truncatingIfNeeded: newValue) }
  }
  var gfpStart: Int {
    get { Int(_gfpStart) }
    set { _gfpStart = Int32(truncatingIfNeeded: newValue) }
  }
  var gfpEnd: Int {
    get { Int(_gfpEnd) }
    set { _gfpEnd = Int32(truncatingIfNeeded: newValue) }
  }
}

/// What a `dma:` event carries besides its device and DMA ranges: the
/// direction, the physical addresses (`phys_addr=` is `EventFields.phys`;
/// `phys_addrs=[...]` of the sg events here), the sg entry counts and the
/// error of the `_err` events. A front end that reads another format (perf
/// script, `trace-cmd report -R`, trace.dat) fills the same fields.
struct DMAEventFields {
  /// `nents=%d/%d`: the entries traced and in the list (`full_nents`), -1 when not printed.
  var nents: Int64 = -1
  var fullNents: Int64 = -1
  /// `err=` of `dma_map_sg_err`.
  var err: Int64 = 0
  /// `enum dma_data_direction` (0 BIDIRECTIONAL, 1 TO_DEVICE, 2 FROM_DEVICE, 3 NONE); -1 when not traced.
  var dir: Int8 = -1
  /// `phys_addrs=` was traced (its values, `sg_phys()` of each mapped, or for
  /// `dma_unmap_sg` unmapped, entry, are in the caller's `phys` array, so
  /// that this struct holds no reference and copies as plain bytes).
  var hasPhysAddrs = false
  /// `[TRUNCATED]`: the arrays hold only the first 128 entries.
  var truncated = false
  /// `virt_addr=%p` of `dma_alloc`/`dma_free` and `_pages` (6.13 on): the CPU
  /// address, as `%p` prints it (hashed unless `no_hash_pointers`; the same
  /// pointer hashes alike within a boot).
  var virtAddr: UInt64 = 0
  var hasVirtAddr = false

  var direction: DMADirection? { dir >= 0 ? DMADirection(kernelValue: UInt64(dir)) : nil }

  mutating func reset() {
    dir = -1
    hasPhysAddrs = false
    nents = -1
    fullNents = -1
    truncated = false
    err = 0
    hasVirtAddr = false
  }
}

/// One `[dma_addr, dma_addr + size)` of a `dma:` event.
package struct DMARange: Sendable, Hashable {
  package var address: UInt64
  package var size: UInt64
  package init(address: UInt64, size: UInt64) {
    self.address = address
    self.size = size
  }
}

extension TraceLineParser {
  static let maxRanges = 4096
  /// The largest page order accepted (MAX_PAGE_ORDER is 10 on most
  /// configurations; larger values are malformed input, not allocations).
  static let maxOrder = 20

  /// Parses the payload of a known event. Nil: the line is malformed.
  static func payload(
    _ p: Line, _ e: Prefix, _ f: inout EventFields, ranges: inout [DMARange], phys: inout [UInt64],
    afterFailedToParse: Bool = false, perfTrimmed: Bool = false
  ) -> StaticString? {
    // `perf script -F comm,tid,cpu,time,event` (no `trace`): the name without its fields.
    guard e.payload < p.count else { return "no fields after the event name ('perf script -F' needs 'trace')" }
    // Each of these recurses once at most (the flags), whatever the line holds.
    if e.perf, !perfTrimmed, let end = perfPayloadEnd(p, e.payload) {
      return payload(
        Line(rebasing: p[0..<end]), e, &f, ranges: &ranges, phys: &phys, afterFailedToParse: afterFailedToParse,
        perfTrimmed: true)
    }
    if !perfTrimmed, p.count > 0, p[p.count - 1] == ASCII.rbracket, let end = debugRecordStart(p, e.payload) {
      return payload(
        Line(rebasing: p[0..<end]), e, &f, ranges: &ranges, phys: &phys, afterFailedToParse: afterFailedToParse,
        perfTrimmed: true)
    }
    if !afterFailedToParse, p.byte(e.payload) == ASCII.lbracket, let fields = Self.failedToParse(p, e.payload) {
      // libtraceevent could not parse the print fmt: the fields follow, as `-R` prints them.
      var copy = e
      copy.payload = fields
      return payload(p, copy, &f, ranges: &ranges, phys: &phys, afterFailedToParse: true, perfTrimmed: true)
    }
    var i = e.payload
    f.raw = false
    f.failedToParse = afterFailedToParse
    switch e.type {
    case .map, .unmap, .ioPageFault, .addDeviceToGroup, .removeDeviceFromGroup, .attachDeviceToDomain,
      .detachDeviceFromDomain:
      var k = i
      if !p.expect("IOMMU:", &k) {
        f.raw = true
        return rawIOMMU(p, i, e.type, &f)
      }
    default: break
    }
    switch e.type {
    case .map:
      guard p.expect("IOMMU:", &i) else { return "map: no 'IOMMU:'" }
      p.skipSpaces(&i)
      guard p.expect("iova=", &i), let iova = p.hex(&i) else { return "map: bad iova=" }
      p.skipSpaces(&i)
      if p.byte(i) == ASCII.dash {
        i += 1
        p.skipSpaces(&i)
        guard p.hex(&i) != nil else { return "map: bad iova range end" }
        p.skipSpaces(&i)
        f.newFormat = true
      } else {
        f.newFormat = false
      }
      guard p.expect("paddr=", &i), let paddr = p.hex(&i) else { return "map: bad paddr=" }
      p.skipSpaces(&i)
      guard p.expect("size=", &i), let size = p.decimal(&i), p.atEnd(i) else { return "map: bad size=" }
      f.iova = iova
      f.paddr = paddr
      f.size = size
    case .unmap:
      guard p.expect("IOMMU:", &i) else { return "unmap: no 'IOMMU:'" }
      p.skipSpaces(&i)
      guard p.expect("iova=", &i), let iova = p.hex(&i) else { return "unmap: bad iova=" }
      p.skipSpaces(&i)
      if p.byte(i) == ASCII.dash {
        i += 1
        p.skipSpaces(&i)
        guard p.hex(&i) != nil else { return "unmap: bad iova range end" }
        p.skipSpaces(&i)
        f.newFormat = true
      } else {
        f.newFormat = false
      }
      guard p.expect("size=", &i), let size = p.decimal(&i) else { return "unmap: bad size=" }
      p.skipSpaces(&i)
      guard p.expect("unmapped_size=", &i), let unmapped = p.decimal(&i), p.atEnd(i) else {
        return "unmap: bad unmapped_size="
      }
      f.iova = iova
      f.size = size
      f.unmapped = unmapped
    case .ioPageFault:
      guard p.expect("IOMMU:", &i) else { return "io_page_fault: no 'IOMMU:'" }
      var tokens: [(Int, Int)] = []
      while true {
        p.skipSpaces(&i)
        guard i < p.count else { return "io_page_fault: no iova=" }
        var k = i
        if p.expect("iova=", &k) { break }
        let end = p.tokenEnd(i)
        tokens.append((i, end))
        guard tokens.count <= 2 else { return "io_page_fault: no iova=" }
        i = end
      }
      guard let last = tokens.last else { return "io_page_fault: no device" }
      f.devStart = last.0
      f.devEnd = last.1
      if tokens.count == 2 {
        f.drvStart = tokens[0].0
        f.drvEnd = tokens[0].1
      } else {
        f.drvStart = 0
        f.drvEnd = 0
      }
      guard p.expect("iova=", &i), let iova = p.hex(&i) else { return "io_page_fault: bad iova=" }
      p.skipSpaces(&i)
      guard p.expect("flags=", &i), let flags = p.hex(&i), p.atEnd(i) else { return "io_page_fault: bad flags=" }
      f.iova = iova
      f.flags = flags
    case .addDeviceToGroup, .removeDeviceFromGroup:
      guard p.expect("IOMMU:", &i) else { return "group event: no 'IOMMU:'" }
      p.skipSpaces(&i)
      guard p.expect("groupID=", &i), let g = p.signedDecimal(&i) else { return "group event: bad groupID=" }
      p.skipSpaces(&i)
      guard p.expect("device=", &i) else { return "group event: no device=" }
      let end = p.tokenEnd(i)
      guard end > i, p.atEnd(end) else { return "group event: bad device=" }
      f.group = g
      f.devStart = i
      f.devEnd = end
    case .attachDeviceToDomain, .detachDeviceFromDomain:
      guard p.expect("IOMMU:", &i) else { return "attach event: no 'IOMMU:'" }
      p.skipSpaces(&i)
      guard p.expect("device=", &i) else { return "attach event: no device=" }
      let end = p.tokenEnd(i)
      guard end > i, p.atEnd(end) else { return "attach event: bad device=" }
      f.devStart = i
      f.devEnd = end
    case .mmPageAlloc, .mmPageFree, .mmPageFreeBatched:
      return kmem(p, i, e.type, &f)
    case .other:
      break
    case .cacheTagFlushRange, .cacheTagFlushRangeNP, .cacheTagFlushAll:
      return cacheTag(p, i, e.type, &f)
    default:
      return dma(p, i, e.type, &f, &ranges, &phys)
    }
    return nil
  }

  /// An iommu event as `trace-cmd report -R` prints it: each field of the
  /// event's format as `name=value` (libtraceevent `tep_print_fields()`), no `IOMMU:`:
  /// ` iova=0x0000000000001000 paddr=0x0000000012345000 size=4096`,
  /// ` iova=0x... size=4096 unmapped_size=4096`, ` device=... driver=... iova=0x... flags=0x1`,
  /// ` groupID=1 device=...`, ` device=...`.
  private static func rawIOMMU(_ p: Line, _ start: Int, _ type: TraceEventType, _ f: inout EventFields)
    -> StaticString?
  {
    var i = start
    var have: UInt32 = 0
    f.drvStart = 0
    f.drvEnd = 0
    f.newFormat = false
    while true {
      p.skipSpaces(&i)
      guard i < p.count else { break }
      let end = p.tokenEnd(i)
      var k = i
      if p.expect("iova=", &k) {
        guard let v = p.hexOrDecimal(&k), k == end else { return "iommu -R: bad iova=" }
        f.iova = v
        have |= 1
      } else if p.expect("paddr=", &k) {
        guard let v = p.hexOrDecimal(&k), k == end else { return "iommu -R: bad paddr=" }
        f.paddr = v
        have |= 2
      } else if p.expect("size=", &k) {
        guard let v = p.hexOrDecimal(&k), k == end else { return "iommu -R: bad size=" }
        f.size = v
        have |= 4
      } else if p.expect("unmapped_size=", &k) {
        guard let v = p.hexOrDecimal(&k), k == end else { return "iommu -R: bad unmapped_size=" }
        f.unmapped = v
        have |= 8
      } else if p.expect("device=", &k) {
        guard end > k else { return "iommu -R: bad device=" }
        f.devStart = k
        f.devEnd = end
        have |= 16
      } else if p.expect("driver=", &k) {
        f.drvStart = k
        f.drvEnd = end
      } else if p.expect("flags=", &k) {
        guard let v = p.hexOrDecimal(&k), k == end else { return "iommu -R: bad flags=" }
        f.flags = v
        have |= 32
      } else if p.expect("groupID=", &k) || p.expect("gid=", &k) {
        // `gid` is the field's name in the format (-R, options/fields); `groupID=` the print fmt's label.
        var g: Int64?
        if p.byte(k + 1) == ASCII.x, let h = p.hexOrDecimal(&k) {
          g = Int64(Int32(truncatingIfNeeded: h))
        } else {
          g = p.signedDecimal(&k)
        }
        guard let v = g, k == end else { return "iommu -R: bad groupID=" }
        f.group = v
        have |= 64
      }
      i = end
    }
    let need: UInt32
    switch type {
    case .map: need = 1 | 2 | 4
    case .unmap: need = 1 | 4 | 8
    case .ioPageFault: need = 1 | 16 | 32
    case .addDeviceToGroup, .removeDeviceFromGroup: need = 16 | 64
    default: need = 16
    }
    return have & need == need ? nil : "iommu: neither 'IOMMU:' nor trace-cmd -R fields"
  }

  /// `intel_iommu:cache_tag_flush_range` / `_range_np` and `cache_tag_flush_all`
  /// (drivers/iommu/intel/trace.h), as TP_printk prints them:
  ///
  /// ```
  /// %s %s[%d] type %s did %d [0x%lx-0x%lx] addr 0x%lx pages 0x%lx mask 0x%lx   flush_range: iommu dev[pasid] ... [start-end]
  /// %s/%s type %s did %d pasid %d ref %d                                     flush_all: iommu/dev
  /// ```
  ///
  /// or as `trace-cmd report -R` prints the fields (`iommu=` `dev=` ... `start=` `end=`).
  /// `f.iova` is the start, `f.size` the inclusive end (`gather->end`); `f.devStart..f.devEnd` the device.
  private static func cacheTag(_ p: Line, _ start: Int, _ type: TraceEventType, _ f: inout EventFields)
    -> StaticString?
  {
    var i = start
    p.skipSpaces(&i)
    var k = i
    if p.expect("iommu=", &k) {
      // -R: name=value fields.
      f.raw = true
      var have: UInt32 = 0
      while i < p.count {
        let end = p.tokenEnd(i)
        k = i
        if p.expect("dev=", &k), end > k {
          f.devStart = k
          f.devEnd = end
          have |= 1
        } else if p.expect("start=", &k) {
          guard let v = p.hexOrDecimal(&k), k == end else { return "cache_tag: bad start=" }
          f.iova = v
          have |= 2
        } else if p.expect("end=", &k) {
          guard let v = p.hexOrDecimal(&k), k == end else { return "cache_tag: bad end=" }
          f.size = v
          have |= 4
        }
        i = end
        p.skipSpaces(&i)
      }
      let need: UInt32 = type == .cacheTagFlushAll ? 1 : 7
      return have & need == need ? nil : "cache_tag: missing dev=, start= or end="
    }
    if type == .cacheTagFlushAll {
      // `iommu/dev`: the device follows the first '/'.
      let end = p.tokenEnd(i)
      var s = i
      while s < end, p[s] != ASCII.slash { s += 1 }
      guard s + 1 < end else { return "cache_tag_flush_all: no iommu/device" }
      f.devStart = s + 1
      f.devEnd = end
      return nil
    }
    // `iommu dev[pasid]`: the device is the second token up to its last '['.
    i = p.tokenEnd(i)
    p.skipSpaces(&i)
    let end = p.tokenEnd(i)
    var b = end - 1
    while b > i, p[b] != ASCII.lbracket { b -= 1 }
    guard b > i, p[end - 1] == ASCII.rbracket else { return "cache_tag_flush_range: no device[pasid]" }
    f.devStart = i
    f.devEnd = b
    // The `[0x...-0x...]` range.
    i = end
    while i < p.count, p[i] != ASCII.lbracket { i += 1 }
    guard i < p.count else { return "cache_tag_flush_range: no [start-end]" }
    i += 1
    guard let s = p.hex(&i), p.byte(i) == ASCII.dash else { return "cache_tag_flush_range: bad [start-end]" }
    i += 1
    guard let e = p.hex(&i), p.byte(i) == ASCII.rbracket else { return "cache_tag_flush_range: bad [start-end]" }
    f.iova = s
    f.size = e
    return nil
  }

  /// `page=%p pfn=0x%lx order=%d [migratetype=%d gfp_flags=%s]` (`pfn=%lu` on old kernels,
  /// `cold=%d` on old `mm_page_free_batched`).
  private static func kmem(_ p: Line, _ start: Int, _ type: TraceEventType, _ f: inout EventFields) -> StaticString? {
    if kmemFast(p, start, type, &f) { return nil }
    var i = start
    var havePFN = false
    var haveOrder = false
    var sawPage = false
    f.pageIsNull = false
    f.gfpStart = 0
    f.gfpEnd = 0
    while true {
      p.skipSpaces(&i)
      guard i < p.count else { break }
      let end = p.tokenEnd(i)
      var k = i
      let c = p[i]
      if c != UInt8(ascii: "p") && c != UInt8(ascii: "o") && c != UInt8(ascii: "g") {
        i = end
        continue
      }
      if p.expect("page=", &k) {
        sawPage = true
        if end > k, end - k <= 16, p[k] == ASCII.lparen || p[k] == ASCII.zero {
          f.pageIsNull = p.equals(k, end, "(null)") || p.equals(k, end, "(nil)") || p.equals(k, end, "0000000000000000")
        }
      } else if p.expect("pfn=", &k) {
        guard let v = p.hexOrDecimal(&k), k == end else { return "kmem: bad pfn=" }
        f.pfn = v
        havePFN = true
      } else if p.expect("order=", &k) {
        // `order=0x0 (0)` with `options/fields` (kernel/trace/trace_output.c `print_fields()`).
        var v: Int64?
        if p.byte(k + 1) == ASCII.x, let h = p.hexOrDecimal(&k), h <= UInt64(maxOrder) {
          v = Int64(h)
        } else {
          v = p.signedDecimal(&k)
        }
        guard let v, k == end, v >= 0, v <= Int64(maxOrder) else { return "kmem: bad order=" }
        f.order = Int(v)
        haveOrder = true
      } else if p.expect("gfp_flags=", &k) {
        f.gfpStart = k
        f.gfpEnd = end
      }
      i = end
    }
    guard havePFN else { return "kmem: no pfn=" }
    // `trace-cmd report -R` has no `page=` and prints the failed allocation's pfn as -1UL.
    if !sawPage {
      f.raw = true
      if type == .mmPageAlloc, f.pfn == UInt64.max {
        f.pageIsNull = true
        f.pfn = 0
      }
    }
    if !haveOrder {
      guard type == .mmPageFreeBatched else { return "kmem: no order=" }
      f.order = 0
    }
    return nil
  }

  /// The kernel's own layout in one pass, single spaces:
  /// `page=X pfn=0x.. order=N[ migratetype=N gfp_flags=F]`. False: the general loop decides.
  @inline(__always)
  private static func kmemFast(_ p: Line, _ start: Int, _ type: TraceEventType, _ f: inout EventFields) -> Bool {
    var i = start
    guard p.expect("page=", &i) else { return false }
    let pageStart = i
    guard let base = p.baseAddress else { return false }
    // The `page=` token and the `gfp_flags=` token (to the end) found with `memchr`.
    if let hit = memchr(base + i, Int32(ASCII.space), p.count - i) {
      i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    } else {
      i = p.count
    }
    let pageEnd = i
    guard p.expect(" pfn=", &i), let pfn = p.hexOrDecimal(&i), p.expect(" order=", &i), let order = p.decimal(&i),
      order <= UInt64(maxOrder)
    else { return false }
    var gfpStart = 0
    var gfpEnd = 0
    if i < p.count {
      guard type == .mmPageAlloc, p.expect(" migratetype=", &i), p.signedDecimal(&i) != nil,
        p.expect(" gfp_flags=", &i)
      else { return false }
      gfpStart = i
      gfpEnd = p.count
      guard memchr(base + i, Int32(ASCII.space), p.count - i) == nil,
        memchr(base + i, Int32(ASCII.tab), p.count - i) == nil
      else { return false }
    }
    f.pageIsNull = false
    if pageEnd > pageStart, pageEnd - pageStart <= 16, p[pageStart] == ASCII.lparen || p[pageStart] == ASCII.zero {
      f.pageIsNull =
        p.equals(pageStart, pageEnd, "(null)") || p.equals(pageStart, pageEnd, "(nil)")
        || p.equals(pageStart, pageEnd, "0000000000000000")
    }
    f.pfn = pfn
    f.order = Int(order)
    f.gfpStart = gfpStart
    f.gfpEnd = gfpEnd
    return true
  }

  /// The `dma:` events of `include/trace/events/dma.h`, Linux 6.12 to 7.0:
  ///
  /// ```
  /// <device> dir=%s dma_addr=%llx size=%zu phys_addr=%llx attrs=%s        dma_map_page/_resource (6.12), dma_map_phys (6.18)
  /// <device> dir=%s dma_addr=%llx size=%zu attrs=%s                       dma_unmap_page/_resource/_phys
  /// <device> dma_addr=%llx size=%zu phys_addr=%llx flags=%s attrs=%s      dma_alloc (6.12; dma_free without flags)
  /// <device> dir=%s dma_addr=%llx size=%zu virt_addr=%p flags=%s attrs=%s dma_alloc, _alloc_pages (6.13 on)
  /// <device> dir=%s dma_addr=%llx size=%zu phys_addrs=%s flags=%s attrs=%s dma_alloc_sgt (dma_free_sgt without flags)
  /// <device> dir=%s [nents=%d/%d ents=%d/%d[ [TRUNCATED]]] dma_addrs=%s sizes=%s phys_addrs=%s attrs=%s  dma_map_sg
  /// <device> dir=%s phys_addrs=%s attrs=%s                                dma_unmap_sg (sg_phys() of each entry)
  /// <device> dir=%s dma_addrs=%s err=%d attrs=%s                          dma_map_sg_err (the array holds phys addresses)
  /// <device> dir=%s dma_addr=%llx size=%zu / dma_addrs=%s sizes=%s       dma_sync_single_*, dma_sync_sg_*
  /// ```
  ///
  /// Arrays are `__print_array()`: `{0x1000,0x2000}` in the kernel's text,
  /// `{4096,8192}` in trace-cmd's (libtraceevent prints elements in decimal).
  /// `dir=` is a name, or its number (`trace-cmd report -R`).
  private static func dma(
    _ p: Line, _ start: Int, _ type: TraceEventType, _ f: inout EventFields, _ ranges: inout [DMARange],
    _ phys: inout [UInt64]
  ) -> StaticString? {
    ranges.removeAll(keepingCapacity: true)
    phys.removeAll(keepingCapacity: true)
    f.dma.reset()
    var i = start
    p.skipSpaces(&i)
    let devEnd = p.tokenEnd(i)
    guard devEnd > i else { return "dma: no device" }
    // `trace-cmd report -R`: `device=<name>` first.
    var k0 = i
    if p.expect("device=", &k0), devEnd > k0 {
      f.raw = true
      f.hasPhys = false
      return dmaFields(p, i, type, &f, &ranges, &phys)
    }
    var hasEquals = false
    for k in i..<devEnd where p[k] == ASCII.equals {
      hasEquals = true
      break
    }
    guard !hasEquals else { return "dma: no device" }
    f.devStart = i
    f.devEnd = devEnd
    f.hasPhys = false
    i = devEnd
    if dmaSingle(p, i, &f, &ranges) { return nil }
    var address: UInt64?
    var size: UInt64?
    var addresses: (Int, Int)?
    var sizes: (Int, Int)?
    while true {
      p.skipSpaces(&i)
      guard i < p.count else { break }
      let end = p.tokenEnd(i)
      var k = i
      // Only tokens starting with these letters are read (`attrs=` and `flags=` are not).
      let c = p[i]
      if c != UInt8(ascii: "d") && c != UInt8(ascii: "s") && c != UInt8(ascii: "p") && c != UInt8(ascii: "n")
        && c != ASCII.lbracket && c != UInt8(ascii: "e") && c != UInt8(ascii: "v")
      {
        i = end
        continue
      }
      if p.expect("dma_addr=", &k) {
        guard let v = p.hex(&k), k == end else { return "dma: bad dma_addr=" }
        address = v
      } else if p.expect("size=", &k) {
        guard let v = p.decimal(&k), k == end else { return "dma: bad size=" }
        size = v
      } else if p.expect("phys_addr=", &k) {
        guard let v = p.hex(&k), k == end else { return "dma: bad phys_addr=" }
        f.phys = v
        f.hasPhys = true
      } else if p.expect("dma_addrs=", &k) {
        addresses = (k, end)
      } else if p.expect("sizes=", &k) {
        sizes = (k, end)
      } else if p.expect("phys_addrs=", &k) {
        guard array(p, k, end, into: &phys) else { return "dma: bad phys_addrs= array" }
        f.dma.hasPhysAddrs = true
      } else if p.expect("dir=", &k) {
        f.dma.dir = direction(p, k, end)
      } else if p.expect("nents=", &k) {
        guard let a = p.signedDecimal(&k), p.byte(k) == ASCII.slash else { return "dma: bad nents=" }
        k += 1
        guard let b = p.signedDecimal(&k), k == end else { return "dma: bad nents=" }
        f.dma.nents = a
        f.dma.fullNents = b
      } else if p.expect("[TRUNCATED]", &k) {
        f.dma.truncated = true
      } else if p.expect("err=", &k) {
        guard let v = p.signedDecimal(&k), k == end else { return "dma: bad err=" }
        f.dma.err = v
      } else if p.expect("virt_addr=", &k) {
        // `%p` before the hash key is ready prints `(____ptrval____)`: no address, not an error.
        if let v = p.hex(&k), k == end {
          f.dma.virtAddr = v
          f.dma.hasVirtAddr = true
        }
      }
      i = end
    }
    if let a = address, let s = size {
      ranges.append(DMARange(address: a, size: s))
      return nil
    }
    if let (a0, a1) = addresses, let (s0, s1) = sizes {
      var ai = a0
      var si = s0
      guard p.byte(ai) == ASCII.lbrace, p.byte(si) == ASCII.lbrace else { return "dma: bad array" }
      ai += 1
      si += 1
      while ai < a1, si < s1, p[ai] != ASCII.rbrace, p[si] != ASCII.rbrace {
        guard let a = p.hexOrDecimal(&ai), let s = p.hexOrDecimal(&si) else { return "dma: bad array element" }
        if ranges.count < maxRanges { ranges.append(DMARange(address: a, size: s)) }
        if p.byte(ai) == ASCII.comma { ai += 1 }
        if p.byte(si) == ASCII.comma { si += 1 }
      }
      return nil
    }
    // The events that trace no DMA range: dma_unmap_sg (6.12 on: physical
    // addresses only) and dma_map_sg_err (whose `dma_addrs=` prints the
    // physical addresses).
    switch type {
    case .dmaUnmapSG:
      return f.dma.hasPhysAddrs ? nil : "dma: no phys_addrs= in dma_unmap_sg"
    case .dmaMapSGErr:
      if let (a0, a1) = addresses {
        guard array(p, a0, a1, into: &phys) else { return "dma: bad array" }
        f.dma.hasPhysAddrs = true
      }
      return nil
    default:
      return "dma: no dma_addr= and size="
    }
  }

  /// `__print_array()` text `{a,b,...}` (hex with `0x`, or decimal) in `[a, b)`.
  private static func array(_ p: Line, _ a: Int, _ b: Int, into out: inout [UInt64]) -> Bool {
    out.removeAll(keepingCapacity: true)
    var k = a
    guard p.byte(k) == ASCII.lbrace else { return false }
    k += 1
    while k < b, p[k] != ASCII.rbrace {
      guard let v = p.hexOrDecimal(&k) else { return false }
      if out.count < maxRanges { out.append(v) }
      if p.byte(k) == ASCII.comma { k += 1 }
    }
    return k < b && p[k] == ASCII.rbrace
  }

  /// The kernel's layout of a single mapping's event, the common case, read
  /// in one pass: ` dir=<dir> dma_addr=<hex> size=<dec>[ phys_addr=<hex>]
  /// attrs=<flags>` to the end of the line (`dma_map_page`, `dma_map_phys`,
  /// their unmaps; `include/trace/events/dma.h`, `DECLARE_EVENT_CLASS(dma_map)`
  /// and `dma_unmap`). Sets what the token loop of `dma` would; false (and
  /// nothing set) for any other layout, which that loop then reads.
  @inline(__always)
  private static func dmaSingle(_ p: Line, _ start: Int, _ f: inout EventFields, _ ranges: inout [DMARange]) -> Bool {
    guard let base = p.baseAddress else { return false }
    var k = start
    guard p.expect(" dir=", &k) else { return false }
    let dirStart = k
    let dirEnd = p.tokenEnd(k)
    k = dirEnd
    guard p.expect(" dma_addr=", &k), let address = p.hex(&k), p.expect(" size=", &k), let size = p.decimal(&k)
    else { return false }
    var phys: UInt64?
    if p.expect(" phys_addr=", &k) {
      guard let v = p.hex(&k) else { return false }
      phys = v
    }
    guard p.expect(" attrs=", &k) else { return false }
    // `attrs=` is the last token: nothing after it for the loop to read.
    if k < p.count {
      guard memchr(base + k, Int32(ASCII.space), p.count - k) == nil,
        memchr(base + k, Int32(ASCII.tab), p.count - k) == nil
      else { return false }
    }
    f.dma.dir = direction(p, dirStart, dirEnd)
    if let phys {
      f.phys = phys
      f.hasPhys = true
    }
    ranges.append(DMARange(address: address, size: size))
    return true
  }

  /// `dir=`: `__print_symbolic()` of `enum dma_data_direction`, or the number.
  private static func direction(_ p: Line, _ a: Int, _ b: Int) -> Int8 {
    if p.equals(a, b, "BIDIRECTIONAL") { return 0 }
    if p.equals(a, b, "TO_DEVICE") { return 1 }
    if p.equals(a, b, "FROM_DEVICE") { return 2 }
    if p.equals(a, b, "NONE") { return 3 }
    var k = a
    if let v = p.decimal(&k), k == b, v <= 3 { return Int8(v) }
    return -1
  }
}
