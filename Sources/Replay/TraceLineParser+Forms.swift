#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The less common text forms of an event line, reached only when the
/// `<comm>-<pid> [<cpu>] <flags> <time>: <event>:` prefix of `classify` did
/// not parse (the slow path):
///
/// - `options/latency-format` (`trace_print_lat_context()`, kernel/trace/trace_output.c):
///   `%8.8s-%-7d %3d` comm, pid, CPU, then the irq-info flags and
///   `lat_print_timestamp()`'s ` %4lldus%c: ` (a mark `+!#*@$` or a space;
///   microseconds from the buffer's start, `time_start`, which `echo > trace` resets),
///   or with `options/verbose` `%16s %7d %3d %d %08x %08lx [%08llx] %ld.%03ldms (+%ld.%03ldms): `
///   (whose `[%08llx]` is the absolute time in microseconds, read as the timestamp);
/// - `options/context-info` off (`print_trace_fmt()` prints no context): `event: payload`;
/// - `perf script -F` subsets (`-F time,event,trace`, `-F comm,tid,time,event,trace`,
///   `-F cpu,time,event,trace`, `-F tid,event,trace`, `-F event,trace`, with `period`);
/// - the lines that are no event: `options/stacktrace` and `options/userstacktrace`
///   (`<stack trace>`, ` => func`), `perf script -g` callchain lines (`\t ffffffff81.. sym+0x41 (dso)`);
/// - outputs that hold no event fields, refused with the option to turn off:
///   `options/raw` (`pid cpu ts type: N`, `trace_raw_output()`), `options/hex`,
///   `options/bin`, `perf.data`, and `perf script -F` without `event`.
extension TraceLineParser {
  /// Which text form an event line was in (the summary's `format`).
  enum Form: UInt8 {
    case plain
    /// `options/latency-format`.
    case latency
    /// `options/context-info` off: no comm, pid, CPU or timestamp.
    case noContext
    /// A `perf script -F` subset without the `[cpu]` column or with `period`.
    case perfFields
  }

  /// The other forms of a line `classify` found no prefix in. `prefixFailed`:
  /// a `[cpu]` prefix was found but the rest failed, so only the forms that
  /// look like that prefix (stack trace entries, perf's `period`, verbose
  /// latency) are tried. Nil: none of them; the caller's reason stands.
  static func otherForms(_ p: Line, _ i: Int, _ e: inout Prefix, prefixFailed: Bool) -> Kind? {
    let n = p.count
    if let refusal = refusal(p, i) { return refusal }
    // ` => func` (options/stacktrace, userstacktrace) and `<stack trace>` entries.
    var k = i
    if p.expect("=>", &k) { return .header }
    // `perf script --show-task-events` and friends: `PERF_RECORD_FORK(1:1):(0:0)`, `PERF_RECORD_COMM: ...`.
    // `--show-lost-events`: `PERF_RECORD_LOST lost %llu` (perf's perf_event__fprintf_lost()), a loss like ftrace's.
    if let at = find(p, "PERF_RECORD_LOST") {
      var k = at
      while k < p.count, !p.equals(k, min(k + 5, p.count), "lost ") { k += 1 }
      k += 5
      if k < p.count, let n = p.saturatingDecimal(&k) { return .lost(cpu: bracketCPU(p) ?? 0, count: n) }
      return .lost(cpu: bracketCPU(p) ?? 0, count: nil)
    }
    if contains(p, "PERF_RECORD_") { return .header }
    // The function tracer's entries beside the events (`trace_fn_trace()`: `func <-parent` with
    // `options/print-parent`): trace entries, not events.
    if prefixFailed, contains(p, " <-") { return .header }
    // `trace-cmd report --debug` and `-V`: sub-buffer starts, plugin registrations.
    if contains(p, "[SUBBUFFER START]") || p.expect("registering plugin:", &k) || p.expect("overriding event (", &k)
      || p.expect("removing override handler for event (", &k)
    {
      return .header
    }
    if endsWithStackMarker(p) { return .header }
    // `perf script -F trace` (or a payload cut from its event): fields without a name.
    if !prefixFailed, isBarePayload(p, i) {
      return .malformed(
        "an event payload without its event name: 'perf script -F' needs 'event' (-F comm,tid,cpu,time,event,trace)")
    }
    // Tokens up to the event name.
    var tokens: [(Int, Int)] = []
    var t = i
    var event: (Int, Int, Int, Int)?  // token start, token end, name start, name end
    var instance = false
    while t < n, tokens.count < 24 {
      let end = p.tokenEnd(t)
      if let name = eventName(p, t, end) {
        // `NAME: ` first is trace-cmd's instance prefix when an event name follows.
        if tokens.isEmpty, !instance, TraceEventType.from(p, name.0, name.1) == .other, hasLaterEventName(p, end) {
          instance = true
          t = end
          p.skipSpaces(&t)
          continue
        }
        event = (t, end, name.0, name.1)
        break
      }
      tokens.append((t, end))
      t = end
      p.skipSpaces(&t)
    }
    guard let (tokenStart, tokenEnd, nameStart, nameEnd) = event else {
      // `perf script -g`: `\t    ffffffff815e2d91 __traceiter_mm_page_alloc+0x41 ([kernel.kallsyms])`.
      if i > 0, let first = tokens.first, tokens.count >= 2, isHex(p, first.0, first.1) { return .header }
      return nil
    }
    let type = TraceEventType.from(p, nameStart, nameEnd)
    let system = nameStart > tokenStart  // `system:event:`, as perf prints it
    // The context tokens fill a fresh prefix; `e` is set only on success.
    var ctx = Prefix()
    ctx.form = .noContext
    guard context(p, tokens, &ctx, prefixFailed: prefixFailed) else { return nil }
    if tokens.isEmpty {
      // No context at all: `options/context-info` off, or `perf script -F event,trace`.
      // An unknown name must look like an event (`lower_case_with_underscore`) or have a system.
      guard type != .other || system || looksLikeEvent(p, nameStart, nameEnd) else { return nil }
    }
    var payload = tokenEnd
    p.skipSpaces(&payload)
    ctx.nameStart = nameStart
    ctx.nameEnd = nameEnd
    ctx.type = type
    ctx.payload = payload
    ctx.perf = ctx.form == .perfFields || (tokens.isEmpty && system)
    if tokens.isEmpty { ctx.form = ctx.perf ? .perfFields : .noContext }
    e = ctx
    return .event
  }

  /// Reads the context tokens of a latency or `perf script -F` line. False: not one of them.
  private static func context(_ p: Line, _ tokens: [(Int, Int)], _ c: inout Prefix, prefixFailed: Bool) -> Bool {
    guard !tokens.isEmpty else { return true }
    var last = tokens.count - 1
    var verbose = false
    var period = false
    // The timestamp token: the last one, or before a lone `:` (latency mark ' '),
    // `(+0.055ms):` (verbose latency) or perf's `period` column.
    if p.equals(tokens[last].0, tokens[last].1, ":") {
      last -= 1
    } else if p[tokens[last].0] == ASCII.lparen, p[tokens[last].1 - 1] == ASCII.colon {
      verbose = true
      last -= 1
    } else if isDigits(p, tokens[last].0, tokens[last].1), last > 0, p[tokens[last - 1].1 - 1] == ASCII.colon {
      period = true
      last -= 1
    } else if p.byte(tokens[last].0) == ASCII.lparen, p.byte(tokens[last].0 + 1) == UInt8(ascii: "+"),
      p[tokens[last].1 - 1] == ASCII.rparen, last > 0
    {
      // `trace-cmd report --ts-diff`: `(+44)` between the timestamp and the event.
      period = true
      last -= 1
    }
    guard last >= 0 else { return false }
    var (ts, unit) = timeToken(p, tokens[last].0, tokens[last].1)
    if ts == nil, verbose, isDigits(p, tokens[last].0, tokens[last].1) {
      // Verbose latency with a clock not in nanoseconds (`counter`, `x86-tsc`): `[%016llx] %lld (+%lld): `.
      var k = tokens[last].0
      ts = p.decimal(&k).map { TraceTimestamp(whole: $0) }
    }
    var before = tokens[0..<last]
    if ts == nil, !prefixFailed, !verbose, !period {
      // `perf script -F tid,event,trace` and other subsets without `time`.
      ts = .zero
      before = tokens[...]
    }
    guard let ts else { return false }
    c.ts = ts
    // `perf script -F +misc`: the mode (`K`, `U`, `H`, `G`...) between `[cpu]` and the time.
    if let l = before.last, before.count >= 2, l.1 - l.0 <= 2, p[before[before.count - 2].0] == ASCII.lbracket,
      (l.0..<l.1).allSatisfy({ (p[$0] | 0x20) &- 0x61 < 26 })
    {
      before.removeLast()
      period = true
    }
    if prefixFailed && !verbose && !period { return false }
    if verbose || unit == .milliseconds {
      // `%16s %7d %3d %d %08x %08lx [%08llx]` before `%ld.%03ldms`.
      guard before.count >= 7 else { return false }
      let m = before.count
      var k = before[m - 6].0
      guard let pid = p.decimal(&k), k == before[m - 6].1, pid <= UInt64(Int32.max) else { return false }
      k = before[m - 5].0
      guard let cpu = p.decimal(&k), k == before[m - 5].1, cpu <= UInt64(maxCPU) else { return false }
      c.pid = Int32(pid)
      c.cpu = Int(cpu)
      c.commStart = before[0].0
      c.commEnd = before[m - 7].1
      // `[%08llx]` is the absolute time (`ns2usecs(iter->ts)`, or the raw `iter->ts`), where the
      // `ms` column counts from the buffer's start (`time_start`): the plain trace's timestamp.
      let (a, b) = before[m - 1]
      if b - a >= 3, p[a] == ASCII.lbracket, p[b - 1] == ASCII.rbracket {
        k = a + 1
        if let v = p.hex(&k), k == b - 1 {
          c.ts =
            unit == .milliseconds
            ? TraceTimestamp(whole: v / 1_000_000, fraction: UInt32(v % 1_000_000), digits: 6)
            : TraceTimestamp(whole: v)
        }
      }
      c.form = .latency
      return true
    }
    if unit == .microseconds || (!before.isEmpty && isLatencyCPU(p, before[before.count - 1])) {
      // `comm-pid  cpu+flags` (`%8.8s-%-7d %3d` and the flags).
      guard before.count >= 2, isLatencyCPU(p, before[before.count - 1]) else { return false }
      let (a, b) = before[before.count - 1]
      var k = a
      guard let cpu = p.decimal(&k), cpu <= UInt64(maxCPU) else { return false }
      c.cpu = Int(cpu)
      c.flagsStart = k
      c.flagsEnd = b
      guard commPid(p, before[0].0, before[before.count - 2].1, &c) else { return false }
      c.form = .latency
      return true
    }
    // `perf script -F` subsets: `[comm] [tid|pid/tid] [[cpu]] time:`, or
    // the ftrace prefix `comm-pid [(tgid)] [cpu] [flags]` (with --ts-diff).
    var rest = before[...]
    if let l = rest.last, rest.count >= 2, p[l.0] != ASCII.lbracket, l.1 - l.0 >= 3, l.1 - l.0 <= 7,
      p[rest[rest.count - 2].0] == ASCII.lbracket
    {
      c.flagsStart = l.0
      c.flagsEnd = l.1
      rest = rest.dropLast()
    }
    if let l = rest.last, p[l.0] == ASCII.lbracket {
      var k = l.0 + 1
      guard let cpu = p.decimal(&k), k == l.1 - 1, p[k] == ASCII.rbracket, cpu <= UInt64(maxCPU) else { return false }
      c.cpu = Int(cpu)
      rest = rest.dropLast()
    }
    if let l = rest.last, p[l.0] == ASCII.lparen, p[l.1 - 1] == ASCII.rparen, rest.count >= 2 {
      var k = l.0 + 1
      if let tgid = p.decimal(&k), k == l.1 - 1, tgid <= UInt64(Int32.max) { c.tgid = Int32(tgid) }
      rest = rest.dropLast()
    }
    if let f = rest.first, let l = rest.last, p[l.1 - 1] != ASCII.rbracket, commPid(p, f.0, l.1, &c) {
      c.form = .plain
      return true
    }
    if let l = rest.last {
      var k = l.0
      guard let first = p.decimal(&k), first <= UInt64(Int32.max) else {
        // `comm-pid` with no CPU column (a trace_pipe prefix missing `[cpu]`) is not read.
        return false
      }
      if k < l.1, p[k] == ASCII.slash {
        k += 1
        guard let tid = p.decimal(&k), k == l.1, tid <= UInt64(Int32.max) else { return false }
        c.tgid = Int32(first)
        c.pid = Int32(tid)
      } else {
        guard k == l.1 else { return false }
        c.pid = Int32(first)
      }
      rest = rest.dropLast()
    }
    if let f = rest.first, let l = rest.last {
      c.commStart = f.0
      c.commEnd = l.1
    }
    c.form = .perfFields
    return true
  }

  private enum TimeUnit { case seconds, microseconds, milliseconds }

  /// `secs[.frac]:`, `NNNNus[mark]:` / `NNNNus` (latency), `N.NNNms` (verbose latency), a raw counter.
  private static func timeToken(_ p: Line, _ a: Int, _ b0: Int) -> (TraceTimestamp?, TimeUnit) {
    var b = b0
    if b > a, p[b - 1] == ASCII.colon { b -= 1 }
    if b > a, "+!#*@$".utf8.contains(p[b - 1]) { b -= 1 }
    if b - a > 2, p[b - 2] == UInt8(ascii: "u"), p[b - 1] == UInt8(ascii: "s") {
      var k = a
      guard let us = p.decimal(&k), k == b - 2 else { return (nil, .seconds) }
      return (TraceTimestamp(whole: us / 1_000_000, fraction: UInt32(us % 1_000_000), digits: 6), .microseconds)
    }
    if b - a > 2, p[b - 2] == UInt8(ascii: "m"), p[b - 1] == UInt8(ascii: "s") {
      var k = a
      guard let ms = p.decimal(&k), p.byte(k) == ASCII.dot else { return (nil, .seconds) }
      k += 1
      let s = k
      guard let frac = p.decimal(&k), k == b - 2, k - s == 3 else { return (nil, .seconds) }
      let us = ms.multipliedReportingOverflow(by: 1000)
      guard !us.overflow else { return (nil, .seconds) }
      let total = us.partialValue.addingReportingOverflow(frac)
      guard !total.overflow else { return (nil, .seconds) }
      let v = total.partialValue
      return (TraceTimestamp(whole: v / 1_000_000, fraction: UInt32(v % 1_000_000), digits: 6), .milliseconds)
    }
    guard b0 > a, p[b0 - 1] == ASCII.colon, b == b0 - 1 else { return (nil, .seconds) }
    return (timestamp(p, a, b), .seconds)
  }

  /// The latency format's `%3d` CPU followed by the flags (`1.....`, `0dNh2.`).
  private static func isLatencyCPU(_ p: Line, _ t: (Int, Int)) -> Bool {
    var k = t.0
    guard p.decimal(&k) != nil else { return false }
    // `trace-cmd report -R -l` prints the flags as a number: `0-0x0`, `1-0x81`.
    var x = k
    if p.expect("-0x", &x), x < t.1, isHex(p, x, t.1), t.1 - x <= 8 { return true }
    guard t.1 - k >= 3, t.1 - k <= 7 else { return false }
    // The first flag is irqs-off: `d`, `D`, `X`, `b`, `B` or `.` (trace_print_lat_fmt()).
    return "dDXbB.".utf8.contains(p[k])
  }

  /// `comm-pid` in `[a, b)` (the comm may hold spaces and dashes; the pid follows the last dash).
  private static func commPid(_ p: Line, _ a: Int, _ b: Int, _ c: inout Prefix) -> Bool {
    var d = b - 1
    while d > a, ASCII.isDigit(p[d]) { d -= 1 }
    guard d < b - 1, p[d] == ASCII.dash else { return false }
    var k = d + 1
    guard let pid = p.decimal(&k), k == b, pid <= UInt64(Int32.max) else { return false }
    c.pid = Int32(pid)
    c.commStart = a
    c.commEnd = d
    return true
  }

  private static func contains(_ p: Line, _ s: StaticString) -> Bool { find(p, s) != nil }

  /// Where `s` first occurs in the line.
  private static func find(_ p: Line, _ s: StaticString) -> Int? {
    let n = s.utf8CodeUnitCount
    guard n > 0, p.count >= n, let base = p.baseAddress else { return nil }
    let first = Int32(s.utf8Start[0])
    var a = 0
    while a <= p.count - n, let hit = memchr(base + a, first, p.count - n + 1 - a) {
      a = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
      if p.equals(a, a + n, s) { return a }
      a += 1
    }
    return nil
  }

  /// The first `[<cpu>]` of the line.
  private static func bracketCPU(_ p: Line) -> Int? {
    guard let b = p.firstIndex(of: ASCII.lbracket) else { return nil }
    var k = b + 1
    guard let cpu = p.decimal(&k), p.byte(k) == ASCII.rbracket, cpu <= UInt64(maxCPU) else { return nil }
    return Int(cpu)
  }

  /// Where the payload of a `perf script` line ends: before the `ip`, `sym`
  /// and `dso` columns that `-F ...,ip,sym,dso` prints after the event's
  /// fields (` ffffffff815e2d91 __traceiter_mm_page_alloc+0x41 ([kernel.kallsyms])`).
  /// Nil: nothing follows the fields. The fields all hold `=`; the columns do not.
  static func perfPayloadEnd(_ p: Line, _ start: Int) -> Int? {
    var b = p.count
    var cut: Int?
    var tokens = 0
    while b > start, tokens < 4 {
      while b > start, ASCII.isSpace(p[b - 1]) { b -= 1 }
      var a = b
      // A `(dso)` may hold spaces.
      if a > start, p[a - 1] == ASCII.rparen {
        while a > start, p[a - 1] != ASCII.lparen { a -= 1 }
        guard a > start else { return nil }
        a -= 1
      } else {
        while a > start, !ASCII.isSpace(p[a - 1]) { a -= 1 }
      }
      guard a < b else { break }
      var hasEquals = false
      for k in a..<b where p[k] == ASCII.equals || p[k] == ASCII.colon {
        hasEquals = true
        break
      }
      if hasEquals { break }
      tokens += 1
      if isHex(p, a, b) { cut = a }
      b = a
    }
    guard let cut else { return nil }
    var e = cut
    while e > start, ASCII.isSpace(p[e - 1]) { e -= 1 }
    return e
  }

  /// A line that is an iommu, kmem or dma payload alone: `IOMMU: ...`, `page=...`, `<device> dir=...`.
  private static func isBarePayload(_ p: Line, _ i: Int) -> Bool {
    var k = i
    if p.expect("IOMMU:", &k) || p.expect("page=", &k) { return true }
    let end = p.tokenEnd(i)
    for j in i..<end where p[j] == ASCII.equals { return false }
    k = end
    p.skipSpaces(&k)
    return p.expect("dir=", &k)
  }

  /// `trace-cmd report --debug` ends each event with its record's offset, size and length,
  /// ` [77124:0x3c:24]`: where the payload ends before it, or nil.
  static func debugRecordStart(_ p: Line, _ start: Int) -> Int? {
    var a = p.count - 1
    while a > start, p[a] != ASCII.lbracket, !ASCII.isSpace(p[a]) { a -= 1 }
    guard a > start, p[a] == ASCII.lbracket, ASCII.isSpace(p[a - 1]) else { return nil }
    var k = a + 1
    guard p.decimal(&k) != nil, p.byte(k) == ASCII.colon else { return nil }
    k += 1
    guard p.hexOrDecimal(&k) != nil, p.byte(k) == ASCII.colon else { return nil }
    k += 1
    guard p.decimal(&k) != nil, k == p.count - 1 else { return nil }
    var e = a
    while e > start, ASCII.isSpace(p[e - 1]) { e -= 1 }
    return e
  }

  /// `<tracer> latency trace v1.1.5 on <release>` from `k`: where the release starts, or nil.
  static func latencyHeaderRelease(_ p: Line, _ k: Int) -> Int? {
    guard let at = find(Line(rebasing: p[k...]), " latency trace v") else { return nil }
    var j = k + at + 16
    while j < p.count, !ASCII.isSpace(p[j]) { j += 1 }
    guard p.expect(" on ", &j), j < p.count else { return nil }
    return j
  }

  /// Whether a token after `from` is an event name.
  private static func hasLaterEventName(_ p: Line, _ from: Int) -> Bool {
    var t = from
    p.skipSpaces(&t)
    var count = 0
    while t < p.count, count < 24 {
      let end = p.tokenEnd(t)
      if eventName(p, t, end) != nil { return true }
      count += 1
      t = end
      p.skipSpaces(&t)
    }
    return false
  }

  /// `name:` or `system:name:` filling `[a, b)`, the name not starting with a digit: its range.
  private static func eventName(_ p: Line, _ a: Int, _ b: Int) -> (Int, Int)? {
    guard b - a >= 2, p[b - 1] == ASCII.colon, !ASCII.isDigit(p[a]) else { return nil }
    var k = a
    while k < b - 1, ASCII.isWord(p[k]) { k += 1 }
    guard k > a else { return nil }
    if k == b - 1 { return (a, k) }
    guard p[k] == ASCII.colon else { return nil }
    let s = k + 1
    k = s
    while k < b - 1, ASCII.isWord(p[k]) { k += 1 }
    guard k == b - 1, k > s, !ASCII.isDigit(p[s]) else { return nil }
    return (s, k)
  }

  /// A lower-case name with an underscore (`mm_page_alloc`, `sched_switch`), as event names are.
  private static func looksLikeEvent(_ p: Line, _ a: Int, _ b: Int) -> Bool {
    var underscore = false
    for k in a..<b {
      let c = p[k]
      if c == 0x5F { underscore = true } else if !(ASCII.isDigit(c) || c &- 0x61 < 26) { return false }
    }
    return underscore
  }

  private static func isDigits(_ p: Line, _ a: Int, _ b: Int) -> Bool {
    guard b > a else { return false }
    for k in a..<b where !ASCII.isDigit(p[k]) { return false }
    return true
  }

  private static func isHex(_ p: Line, _ a: Int, _ b: Int) -> Bool {
    guard b > a else { return false }
    for k in a..<b where ASCII.hexValue(p[k]) == nil { return false }
    return true
  }

  /// `<stack trace>`, `<user stack trace>` (the entries `options/stacktrace` adds).
  private static func endsWithStackMarker(_ p: Line) -> Bool {
    var b = p.count
    while b > 0, ASCII.isSpace(p[b - 1]) { b -= 1 }
    guard b >= 13, p[b - 1] == UInt8(ascii: ">") else { return false }
    return p.equals(b - 13, b, "<stack trace>") || (b >= 18 && p.equals(b - 18, b, "<user stack trace>"))
  }

  /// `perf trace -e kmem:mm_page_alloc`: `     0.000 ls/1298 kmem:mm_page_alloc(pfn: 2028592, gfp_flags: 4459968)`,
  /// which leaves out the fields that are zero (`order: 0`): refused with the capture to use instead.
  private static func perfTrace(_ p: Line, _ i: Int) -> Kind? {
    var t = i
    var count = 0
    while t < p.count, count < 6 {
      let end = p.tokenEnd(t)
      var k = t
      while k < end, ASCII.isWord(p[k]) { k += 1 }
      if k > t, k < end, p[k] == ASCII.colon {
        k += 1
        let s = k
        while k < end, ASCII.isWord(p[k]) { k += 1 }
        if k > s, k < end, p[k] == ASCII.lparen {
          return .malformed(
            "'perf trace' output (it leaves out the fields that are zero): record with 'perf record -a -e ...' and replay 'perf script' of it"
          )
        }
      }
      count += 1
      t = end
      p.skipSpaces(&t)
    }
    return nil
  }

  /// Outputs that hold no event fields: a reason naming what to turn off, or nil.
  private static func refusal(_ p: Line, _ i: Int) -> Kind? {
    var k = i
    if p.expect("PERFILE2", &k) {
      return .malformed("a perf.data file: convert it with 'perf script -i FILE > FILE.txt'")
    }
    if let base = p.baseAddress, memchr(base, 0, p.count) != nil {
      return .malformed(
        "binary data (options/bin output: echo 0 > options/bin; per_cpu/*/trace_pipe_raw pages: take the text trace, or a trace.dat with 'trace-cmd extract'; or another binary file)"
      )
    }
    // `options/raw`: `%d %d %llu ` pid, cpu, ts then `type: %d` (trace_nop_print) or the raw fields;
    // `options/hex`: `%08x %08x %016llx ` (trace_print_hex_fmt) then the same.
    var t = i
    var numbers = 0
    var hexWidths = true
    while numbers < 3 {
      let end = p.tokenEnd(t)
      guard end > t, isHex(p, t, end) else { break }
      if end - t != (numbers == 2 ? 16 : 8) { hexWidths = false }
      if !isDigits(p, t, end) && !hexWidths { return nil }
      numbers += 1
      t = end
      p.skipSpaces(&t)
    }
    guard numbers == 3 else { return perfTrace(p, i) }
    if hexWidths {
      return .malformed("options/hex output holds no event fields: echo 0 > options/hex and capture again")
    }
    return .malformed("options/raw output holds no event fields: echo 0 > options/raw and capture again")
  }
}
