import KernelTypes

/// trace-cmd's binary `trace.dat` (file format versions 6 and 7), read
/// directly: the event formats stored in the file, the saved command lines,
/// and each CPU's ring-buffer pages, merged by timestamp as `trace-cmd
/// report` merges them. Each event becomes the text line `trace-cmd report`
/// prints for it (as far as replay reads it), so the text parser and the
/// engine see one format.
///
/// The layout is trace-cmd's `Documentation/trace-cmd/trace-cmd.dat.v6.5.txt`
/// and `trace-cmd.dat.v7.5.txt` (rostedt/trace-cmd 3ce2092, read by
/// `lib/trace-cmd/trace-input.c`); a page is libtraceevent's
/// `kbuffer_load_subbuffer()` and each entry `translate_data()`
/// (`src/kbuffer-parse.c`, rostedt/libtraceevent bd47bd5), the kernel's
/// `struct ring_buffer_event`. Every offset and length read from the file is
/// checked against its size; a file that does not parse gives a message,
/// never a trap.
package struct TraceDat {
  /// The file starts `\x17\x08\x44tracing`.
  package static func isTraceDat(_ b: UnsafeRawBufferPointer) -> Bool {
    let magic: [UInt8] = [0x17, 0x08, 0x44, 0x74, 0x72, 0x61, 0x63, 0x69, 0x6E, 0x67]
    guard b.count >= magic.count else { return false }
    for k in 0..<magic.count where b[k] != magic[k] { return false }
    return true
  }

  /// Why a trace.dat could not be read.
  package struct Failure: Error, Sendable, CustomStringConvertible {
    package var message: String
    package var description: String { message }
  }

  struct Field {
    var name: String
    var offset: Int
    var size: Int
    var signed: Bool
    /// `__data_loc`: the value is `offset | length << 16` of the data.
    var dynamic: Bool
  }

  struct Format {
    var system: String
    var name: String
    var fields: [String: Field] = [:]
    /// `__print_flags(REC->gfp_flags, ...)`'s table, for `mm_page_alloc`.
    var gfpTable: [(String, UInt64)]?
  }

  let data: UnsafeRawBufferPointer
  package private(set) var version = 0
  private(set) var bigEndian = false
  private(set) var longSize = 8
  private(set) var pageSize = 4096
  private(set) var formats: [Int: Format] = [:]
  private(set) var comms: [Int32: String] = [:]
  /// Each buffer (the top instance first): its name, page size and per-CPU `(cpu, offset, size)`.
  private(set) var buffers: [(name: String, pageSize: Int, cpus: [(cpu: Int, offset: Int, size: Int)])] = []
  private(set) var commitSize = 8
  /// The UNAME option (5): `"%s %s %s %s"` of `uname()`'s sysname, nodename,
  /// release and machine, as trace-cmd record's `add_uname()` writes it.
  package private(set) var uname: String?

  /// The kernel release in a UNAME option (its third word), or nil when it
  /// is missing or not a plausible `UTS_RELEASE` (printable, at most 64
  /// bytes, `__NEW_UTS_LEN`).
  package static func release(fromUname uname: String) -> String? {
    let words = uname.split(separator: " ", omittingEmptySubsequences: true)
    guard words.count >= 3 else { return nil }
    return plausibleRelease(String(words[2]))
  }

  /// `text` when it can be a `UTS_RELEASE`: 1 to 64 printable ASCII bytes, no spaces.
  package static func plausibleRelease(_ text: String) -> String? {
    let u = text.utf8
    guard (1...64).contains(u.count), u.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
    return text
  }

  /// The traced kernel's release, from the UNAME option.
  package var release: String? { uname.flatMap(Self.release(fromUname:)) }

  private mutating func readUname(_ body: Reader, size: Int) throws(Failure) {
    guard size > 0, size <= 4096 else { return }
    var b = body
    let s = try b.bytes(size)
    uname = String(s.prefix { $0 != "\0" })
  }

  /// Parses the headers of the file in `data` (which must stay valid while this value is used).
  package init(_ data: UnsafeRawBufferPointer) throws(Failure) {
    self.data = data
    var r = Reader(data: data, at: 10, big: false)
    let v = try r.cString()
    guard let ver = Int(v), ver == 6 || ver == 7 else {
      throw Failure(message: "trace.dat file version '\(v)' is not supported (versions 6 and 7 are)")
    }
    version = ver
    let endian = try r.u8()
    bigEndian = endian == 1
    r.big = bigEndian
    longSize = Int(try r.u8())
    pageSize = Int(try r.u32())
    guard pageSize >= 64, pageSize <= 1 << 24 else { throw Failure(message: "trace.dat: bad page size \(pageSize)") }
    if ver == 6 {
      try readHeaderInfo(&r)
      try readFtraceFormats(&r)
      try readEventFormats(&r)
      let kallsyms = Int(try r.u32())
      try r.skip(kallsyms)
      let printk = Int(try r.u32())
      try r.skip(printk)
      try readCmdlines(&r, size: try r.u64())
      let cpus = Int(try r.u32())
      guard cpus <= 65_536 else { throw Failure(message: "trace.dat: \(cpus) CPUs") }
      var label = try r.bytes(10)
      if label == "options  \0" {
        while true {
          let id = try r.u16()
          if id == 0 { break }
          let size = Int(try r.u32())
          if id == 3 { try readBufferOption(Reader(data: data, at: r.at, big: bigEndian), v6CPUs: cpus) }
          if id == 5 { try readUname(Reader(data: data, at: r.at, big: bigEndian), size: size) }
          try r.skip(size)
        }
        label = try r.bytes(10)
      }
      guard label == "flyrecord\0" else {
        throw Failure(message: "trace.dat holds a latency trace ('\(label.prefix(7))'), not per-CPU ring-buffer data")
      }
      var list: [(cpu: Int, offset: Int, size: Int)] = []
      for c in 0..<cpus {
        let off = try r.u64()
        let size = try r.u64()
        list.append((c, off, size))
      }
      buffers.insert(("", pageSize, list), at: 0)
    } else {
      let compression = try r.cString()
      _ = try r.cString()
      guard compression == "none" else {
        throw Failure(
          message: "trace.dat is compressed (\(compression)); iommusan reads only uncompressed files: convert it with "
            + "'trace-cmd convert --compression none -i FILE -o FILE.raw.dat' (or replay 'trace-cmd report -i FILE' text)"
        )
      }
      var next = try r.u64()
      var sections = 0
      var headerInfo: Int?
      var eventFormats: Int?
      var cmdlines: Int?
      while next != 0 {
        sections += 1
        guard sections <= 1024 else { throw Failure(message: "trace.dat: too many options sections") }
        var s = Reader(data: data, at: next, big: bigEndian)
        let (id, _, size) = try s.sectionHeader(expect: 0)
        let end = s.at &+ size
        next = 0
        while s.at < end {
          let opt = try s.u16()
          let osize = Int(try s.u32())
          let body = Reader(data: data, at: s.at, big: bigEndian)
          switch opt {
          case 0:
            var b = body
            next = try b.u64()
          case 3: try readBufferOption(body, v6CPUs: nil)
          case 5: try readUname(body, size: osize)
          case 16:
            var b = body
            headerInfo = try b.u64()
          case 18:
            var b = body
            eventFormats = try b.u64()
          case 21:
            var b = body
            cmdlines = try b.u64()
          default: break
          }
          try s.skip(osize)
          if opt == 0 { break }
        }
        _ = id
      }
      if let h = headerInfo {
        var s = Reader(data: data, at: h, big: bigEndian)
        _ = try s.sectionHeader(expect: 16)
        try readHeaderInfo(&s)
      }
      guard let ef = eventFormats else { throw Failure(message: "trace.dat: no EVENT_FORMATS section") }
      var s = Reader(data: data, at: ef, big: bigEndian)
      _ = try s.sectionHeader(expect: 18)
      try readEventFormats(&s)
      if let c = cmdlines {
        var s = Reader(data: data, at: c, big: bigEndian)
        let (_, _, size) = try s.sectionHeader(expect: 21)
        try readCmdlines(&s, size: size)
      }
    }
  }

  // MARK: - Headers

  private mutating func readHeaderInfo(_ r: inout Reader) throws(Failure) {
    guard try r.bytes(12) == "header_page\0" else { throw Failure(message: "trace.dat: no header_page") }
    let size = try r.u64()
    let text = try r.bytes(size)
    // `field: local_t commit; offset:8; size:8;`: the page header's commit word.
    if let f = Self.parseFields(text)["commit"] { commitSize = f.size == 4 ? 4 : 8 }
    guard try r.bytes(13) == "header_event\0" else { throw Failure(message: "trace.dat: no header_event") }
    try r.skip(try r.u64())
  }

  private mutating func readFtraceFormats(_ r: inout Reader) throws(Failure) {
    let count = Int(try r.u32())
    for _ in 0..<min(count, 100_000) { try r.skip(try r.u64()) }
  }

  private mutating func readEventFormats(_ r: inout Reader) throws(Failure) {
    let systems = Int(try r.u32())
    guard systems <= 100_000 else { throw Failure(message: "trace.dat: \(systems) event systems") }
    for _ in 0..<systems {
      let system = try r.cString()
      let count = Int(try r.u32())
      guard count <= 1_000_000 else { throw Failure(message: "trace.dat: \(count) events in \(system)") }
      for _ in 0..<count {
        let text = try r.bytes(try r.u64())
        var name = ""
        var id = -1
        for line in text.split(separator: "\n") {
          if line.hasPrefix("name: ") { name = String(line.dropFirst(6)) }
          if line.hasPrefix("ID: ") { id = Int(line.dropFirst(4)) ?? -1 }
        }
        guard id >= 0 else { continue }
        var f = Format(system: system, name: name, fields: Self.parseFields(text))
        if name == "mm_page_alloc", let p = text.firstRange(of: "__print_flags(REC->gfp_flags") {
          f.gfpTable = FlagTable.parse(text[p.upperBound...])
        }
        formats[id] = f
      }
    }
  }

  /// `field:unsigned long pfn;\toffset:8;\tsize:8;\tsigned:0;` lines.
  static func parseFields(_ text: String) -> [String: Field] {
    var out: [String: Field] = [:]
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: ";")
      guard parts.count >= 3, let decl = parts.first, let colon = decl.firstIndex(of: ":") else { continue }
      let declaration = decl[decl.index(after: colon)...].trimmingSpaces
      guard declaration.hasPrefix("field") || decl.trimmingSpaces.hasPrefix("field") else { continue }
      var nameText = Substring(declaration.split(separator: " ").last ?? "")
      if let b = nameText.firstIndex(of: "[") { nameText = nameText[..<b] }
      var offset = -1
      var size = -1
      var signed = false
      for p in parts.dropFirst() {
        let kv = p.trimmingSpaces
        if kv.hasPrefix("offset:") { offset = Int(kv.dropFirst(7)) ?? -1 }
        if kv.hasPrefix("size:") { size = Int(kv.dropFirst(5)) ?? -1 }
        if kv.hasPrefix("signed:") { signed = kv.dropFirst(7) == "1" }
      }
      guard offset >= 0, size >= 0, !nameText.isEmpty else { continue }
      out[String(nameText)] = Field(
        name: String(nameText), offset: offset, size: size, signed: signed,
        dynamic: declaration.firstRange(of: "__data_loc") != nil)
    }
    return out
  }

  private mutating func readCmdlines(_ r: inout Reader, size: Int) throws(Failure) {
    let text = try r.bytes(size)
    for line in text.split(separator: "\n") {
      guard let sp = line.firstIndex(of: " "), let pid = Int32(line[..<sp]) else { continue }
      comms[pid] = String(line[line.index(after: sp)...])
    }
  }

  /// BUFFER (option 3): an instance's per-CPU data. Version 6 gives the
  /// offset of the instance's own `flyrecord\0` label and per-CPU list
  /// (`tracecmd_buffer_instance_handle()`); version 7 the per-CPU list after
  /// the name, clock and page size (`handle_buffer_option()`).
  private mutating func readBufferOption(_ body: Reader, v6CPUs: Int?) throws(Failure) {
    var b = body
    let offset = try b.u64()
    let name = try b.cString()
    if let cpus = v6CPUs {
      var r = Reader(data: data, at: offset, big: bigEndian)
      guard try r.bytes(10) == "flyrecord\0" else { return }
      var list: [(cpu: Int, offset: Int, size: Int)] = []
      for c in 0..<cpus { list.append((c, try r.u64(), try r.u64())) }
      buffers.append((name, pageSize, list))
      return
    }
    _ = try b.cString()
    let page = Int(try b.u32())
    let count = Int(try b.u32())
    guard page >= 64, page <= 1 << 24, count <= 65_536 else { throw Failure(message: "trace.dat: bad BUFFER option") }
    var list: [(cpu: Int, offset: Int, size: Int)] = []
    for _ in 0..<count {
      let cpu = Int(try b.u32())
      list.append((cpu, try b.u64(), try b.u64()))
    }
    if name.isEmpty { buffers.insert((name, page, list), at: 0) } else { buffers.append((name, page, list)) }
  }
}

/// `__print_flags(REC->x, "|", {(unsigned long)(EXPR), "NAME"}, ...)`: the
/// names and values, each EXPR evaluated (numbers, casts, `|`, `&`, `~`,
/// `<<`, `>>` and parentheses, as in the gfp table of `mm_page_alloc`).
enum FlagTable {
  static func parse(_ text: Substring) -> [(String, UInt64)] {
    var out: [(String, UInt64)] = []
    var rest = text
    while let open = rest.firstIndex(of: "{") {
      rest = rest[rest.index(after: open)...]
      guard let close = rest.firstIndex(of: "}") else { break }
      let entry = rest[..<close]
      rest = rest[rest.index(after: close)...]
      guard let q1 = entry.firstIndex(of: "\""), let comma = entry[..<q1].lastIndex(of: ",") else { continue }
      let nameEnd = entry[entry.index(after: q1)...].firstIndex(of: "\"") ?? entry.endIndex
      let name = String(entry[entry.index(after: q1)..<nameEnd])
      var e = Expr(Array(entry[..<comma].utf8))
      if let v = e.parse() { out.append((name, v)) }
      if out.count > 256 { break }
    }
    return out
  }

  struct Expr {
    var s: [UInt8]
    var i = 0
    var depth = 0
    init(_ s: [UInt8]) { self.s = s }

    mutating func parse() -> UInt64? {
      let v = orExpr()
      skip()
      return i == s.count ? v : nil
    }
    mutating func skip() { while i < s.count, s[i] == 0x20 || s[i] == 0x09 { i += 1 } }
    mutating func eat(_ c: UInt8) -> Bool {
      skip()
      if i < s.count, s[i] == c {
        i += 1
        return true
      }
      return false
    }
    mutating func orExpr() -> UInt64? {
      guard var v = andExpr() else { return nil }
      while true {
        skip()
        guard i < s.count, s[i] == UInt8(ascii: "|") else { return v }
        i += 1
        guard let r = andExpr() else { return nil }
        v |= r
      }
    }
    mutating func andExpr() -> UInt64? {
      guard var v = shiftExpr() else { return nil }
      while true {
        skip()
        guard i < s.count, s[i] == UInt8(ascii: "&") else { return v }
        i += 1
        guard let r = shiftExpr() else { return nil }
        v &= r
      }
    }
    mutating func shiftExpr() -> UInt64? {
      guard var v = unary() else { return nil }
      while true {
        skip()
        guard i + 1 < s.count, s[i] == s[i + 1], s[i] == UInt8(ascii: "<") || s[i] == UInt8(ascii: ">") else {
          return v
        }
        let left = s[i] == UInt8(ascii: "<")
        i += 2
        guard let r = unary() else { return nil }
        let n = r & 63
        v = left ? v << n : v >> n
      }
    }
    mutating func unary() -> UInt64? {
      depth += 1
      defer { depth -= 1 }
      guard depth < 200 else { return nil }
      skip()
      guard i < s.count else { return nil }
      if s[i] == UInt8(ascii: "~") {
        i += 1
        return unary().map { ~$0 }
      }
      if s[i] == UInt8(ascii: "(") {
        // A cast `( gfp_t)` / `(unsigned long)`: only words inside.
        var k = i + 1
        var words = false
        while k < s.count, ASCII.isWord(s[k]) || s[k] == 0x20 {
          if s[k] != 0x20 { words = true }
          k += 1
        }
        if words, k < s.count, s[k] == UInt8(ascii: ")"), !ASCII.isDigit(s[i + 1]) {
          var first = i + 1
          while first < k, s[first] == 0x20 { first += 1 }
          if first < k, !ASCII.isDigit(s[first]) {
            i = k + 1
            return unary()
          }
        }
        i += 1
        guard let v = orExpr(), eat(UInt8(ascii: ")")) else { return nil }
        return v
      }
      guard ASCII.isDigit(s[i]) else { return nil }
      var v: UInt64 = 0
      if s[i] == ASCII.zero, i + 1 < s.count, s[i + 1] | 0x20 == ASCII.x {
        i += 2
        while i < s.count, let d = ASCII.hexValue(s[i]) {
          guard v >> 60 == 0 else { return nil }
          v = v << 4 | d
          i += 1
        }
      } else {
        while i < s.count, ASCII.isDigit(s[i]) {
          let (m, o1) = v.multipliedReportingOverflow(by: 10)
          let (a, o2) = m.addingReportingOverflow(UInt64(s[i] &- 0x30))
          guard !o1, !o2 else { return nil }
          v = a
          i += 1
        }
      }
      while i < s.count, s[i] | 0x20 == UInt8(ascii: "u") || s[i] | 0x20 == UInt8(ascii: "l") { i += 1 }
      return v
    }
  }
}

/// Bounds-checked reading of the file's numbers and strings.
struct Reader {
  let data: UnsafeRawBufferPointer
  var at: Int
  var big: Bool

  private func fail(_ what: String) -> TraceDat.Failure {
    TraceDat.Failure(message: "trace.dat: truncated or corrupt at offset \(at) (\(what))")
  }

  mutating func need(_ n: Int) throws(TraceDat.Failure) {
    guard at >= 0, n >= 0, n <= data.count - at else { throw fail("\(n) bytes") }
  }

  mutating func u8() throws(TraceDat.Failure) -> UInt8 {
    try need(1)
    at += 1
    return data[at - 1]
  }

  mutating func number(_ n: Int) throws(TraceDat.Failure) -> UInt64 {
    try need(n)
    let v = Self.number(data, at, n, big)
    at += n
    return v
  }

  static func number(_ data: UnsafeRawBufferPointer, _ at: Int, _ n: Int, _ big: Bool) -> UInt64 {
    var v: UInt64 = 0
    for k in 0..<n {
      let b = UInt64(data[at + (big ? k : n - 1 - k)])
      v = v << 8 | b
    }
    return v
  }

  mutating func u16() throws(TraceDat.Failure) -> UInt16 { UInt16(try number(2)) }
  mutating func u32() throws(TraceDat.Failure) -> UInt32 { UInt32(try number(4)) }
  /// A 64-bit size or offset, which must fit in the file.
  mutating func u64() throws(TraceDat.Failure) -> Int {
    let v = try number(8)
    guard v <= UInt64(data.count) else { throw fail("offset or size \(v) past the end") }
    return Int(v)
  }

  mutating func skip(_ n: Int) throws(TraceDat.Failure) {
    try need(n)
    at += n
  }

  mutating func bytes(_ n: Int) throws(TraceDat.Failure) -> String {
    try need(n)
    let s = String(decoding: UnsafeRawBufferPointer(rebasing: data[at..<(at + n)]), as: UTF8.self)
    at += n
    return s
  }

  mutating func cString() throws(TraceDat.Failure) -> String {
    var k = at
    while k < data.count, data[k] != 0 { k += 1 }
    guard k < data.count else { throw fail("string") }
    let s = String(decoding: UnsafeRawBufferPointer(rebasing: data[at..<k]), as: UTF8.self)
    at = k + 1
    return s
  }

  /// A version 7 section header: id, flags, description string id, size.
  mutating func sectionHeader(expect id: UInt16) throws(TraceDat.Failure) -> (UInt16, UInt16, Int) {
    let sid = try u16()
    let flags = try u16()
    _ = try u32()
    let size = try u64()
    guard sid == id else { throw fail("section \(sid) where \(id) was expected") }
    guard flags & 1 == 0 else {
      throw TraceDat.Failure(
        message: "trace.dat: section \(sid) is compressed; convert the file with "
          + "'trace-cmd convert --compression none -i FILE -o FILE.raw.dat'")
    }
    return (sid, flags, size)
  }
}

extension Substring {
  var trimmingSpaces: Substring {
    var s = self
    while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
    while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
    return s
  }
}

extension StringProtocol {
  /// Where `needle` starts, without Foundation.
  func firstRange(of needle: String) -> Range<Index>? {
    let n = Array(needle.utf8)
    guard let f = n.first else { return nil }
    var i = startIndex
    while i < endIndex {
      if utf8[i] == f {
        var j = i
        var k = 0
        while k < n.count, j < endIndex, utf8[j] == n[k] {
          j = utf8.index(after: j)
          k += 1
        }
        if k == n.count { return i..<j }
      }
      i = utf8.index(after: i)
    }
    return nil
  }
}
