#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

extension TraceLineParser {
  /// The prefix as kernel/trace/trace_output.c `trace_print_context()` prints
  /// it (`%16s-%-7d [%03d] <flags> %5lu.%06lu: <event>: `), read in one
  /// forward pass anchored on the first `[` of the line (found with
  /// `memchr`): `[<cpu>]`, before it spaces, `-<pid>`, after it an optional
  /// flags column, the timestamp and the event name. Anything unusual (a
  /// `(tgid)` column, `perf script`'s `<comm> <tid>`, a `[` inside the comm,
  /// over-long numbers) returns false, and the general search
  /// (`tryPrefix` on every `[`) decides. When it returns true, `e` holds
  /// exactly what `tryPrefix` would have set for that `[`, which is the
  /// first one the general search tries, so the result is the same.
  @inline(__always)
  static func fastPrefix(_ p: Line, lineStart i: Int, _ e: inout Prefix) -> Bool {
    guard let base = p.baseAddress else { return false }
    let n = p.count
    guard i < n, let hit = memchr(base + i, Int32(ASCII.lbracket), n - i) else { return false }
    let b = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
    // `[<cpu>]`: 1 to 5 digits.
    var k = b + 1
    var cpu = 0
    while k < n, k - b <= 5, ASCII.isDigit(base[k]) {
      cpu = cpu &* 10 &+ Int(base[k] &- 0x30)
      k += 1
    }
    guard k > b + 1, k < n, base[k] == ASCII.rbracket, cpu <= maxCPU else { return false }
    // Backwards: spaces, then `-<pid>` (1 to 9 digits).
    var j = b - 1
    guard j > i, ASCII.isSpace(base[j]) else { return false }
    while j > i, ASCII.isSpace(base[j]) { j -= 1 }
    var d = j
    while d > i, ASCII.isDigit(base[d]) { d -= 1 }
    guard d < j, j - d <= 9, base[d] == ASCII.dash else { return false }
    var pid: Int32 = 0
    for q in (d + 1)...j { pid = pid &* 10 &+ Int32(base[q] &- 0x30) }
    // `] `, spaces, optional flags (3 to 7 non-space bytes not ending in ':').
    k += 1
    guard k < n, ASCII.isSpace(base[k]) else { return false }
    k += 1
    while k < n, ASCII.isSpace(base[k]) { k += 1 }
    var t = k
    while t < n, !ASCII.isSpace(base[t]) { t += 1 }
    guard t > k else { return false }
    var flagsStart = 0
    var flagsEnd = 0
    if base[t - 1] != ASCII.colon {
      guard t - k >= 3, t - k <= 7 else { return false }
      flagsStart = k
      flagsEnd = t
      k = t
      while k < n, ASCII.isSpace(base[k]) { k += 1 }
    }
    // `<secs>[.<frac>]:` as one token (the byte after the ':' is a space or
    // the end): at most 18 digits before the dot (no overflow).
    var whole: UInt64 = 0
    var q = k
    // Up to seven digits in one word (`%5lu`); more, digit by digit.
    if n - k >= 8, case (let count, let value) = ASCII.decimalPrefix8(base + k), count < 8 {
      whole = value
      q = k + count
    } else {
      while q < n, ASCII.isDigit(base[q]) {
        whole = whole &* 10 &+ UInt64(base[q] &- 0x30)
        q &+= 1
      }
    }
    guard q > k, q - k <= 18, q < n else { return false }
    let ts: TraceTimestamp
    if base[q] == ASCII.colon {
      ts = TraceTimestamp(whole: whole)
    } else {
      guard base[q] == ASCII.dot else { return false }
      q &+= 1
      let s = q
      var fraction: UInt32 = 0
      // `%06lu`: six digits in one word; nine (or more), digit by digit.
      if n - s >= 8, case (let count, let value) = ASCII.decimalPrefix8(base + s), count < 8 {
        fraction = UInt32(value)
        q = s + count
      } else {
        let capped = min(n, s &+ 9)
        while q < capped, ASCII.isDigit(base[q]) {
          fraction = fraction &* 10 &+ UInt32(base[q] &- 0x30)
          q &+= 1
        }
        while q < n, ASCII.isDigit(base[q]) { q &+= 1 }
      }
      guard q > s, q < n, base[q] == ASCII.colon else { return false }
      ts = TraceTimestamp(whole: whole, fraction: fraction, digits: UInt8(min(q - s, 9)))
    }
    k = q &+ 1
    guard k == n || ASCII.isSpace(base[k]) else { return false }
    // `<event>:`, or `<system>:<event>:`.
    while k < n, ASCII.isSpace(base[k]) { k += 1 }
    var nameStart = k
    var type: TraceEventType?
    if let (known, colon) = TraceEventType.frequent(base, k, n) {
      // A frequent name, matched whole with its ':'.
      type = known
      k = colon
    } else {
      while k < n, ASCII.isWord(base[k]) { k += 1 }
      guard k > nameStart, k < n, base[k] == ASCII.colon else { return false }
    }
    var nameEnd = k
    k += 1
    if k < n, ASCII.isWord(base[k]) {
      let s = k
      while k < n, ASCII.isWord(base[k]) { k += 1 }
      guard k < n, base[k] == ASCII.colon else { return false }
      nameStart = s
      nameEnd = k
      k += 1
      type = nil
    }
    while k < n, ASCII.isSpace(base[k]) { k += 1 }
    e.commStart = i
    e.commEnd = d
    e.perf = false
    e.form = .plain
    e.pid = pid
    e.tgid = -1
    e.cpu = cpu
    e.flagsStart = flagsStart
    e.flagsEnd = flagsEnd
    e.ts = ts
    e.nameStart = nameStart
    e.nameEnd = nameEnd
    e.type = type ?? TraceEventType.from(p, nameStart, nameEnd)
    e.payload = k
    return true
  }
}

extension TraceEventType {
  /// The frequent event name at `k` (followed by its `:`) and the index of
  /// that `:`; nil for any other name (the caller scans it). A match is
  /// exactly what `from` would return for the name up to the `:`. The names
  /// most traces are made of, by first byte (no table: a switch and `memcmp`).
  @inline(__always)
  static func frequent(_ base: UnsafePointer<UInt8>, _ k: Int, _ n: Int) -> (TraceEventType, Int)? {
    guard k < n else { return nil }
    @inline(__always) func at(_ name: StaticString) -> Int? {
      let length = name.utf8CodeUnitCount
      guard n - k >= length, memcmp(base + k, name.utf8Start, length) == 0 else { return nil }
      return k + length - 1
    }
    switch base[k] {
    case UInt8(ascii: "m"):
      if let c = at("mm_page_alloc:") { return (.mmPageAlloc, c) }
      if let c = at("mm_page_free:") { return (.mmPageFree, c) }
      if let c = at("map:") { return (.map, c) }
    case UInt8(ascii: "u"):
      if let c = at("unmap:") { return (.unmap, c) }
    case UInt8(ascii: "d"):
      if let c = at("dma_map_page:") { return (.dmaMapPage, c) }
      if let c = at("dma_unmap_page:") { return (.dmaUnmapPage, c) }
      if let c = at("dma_map_phys:") { return (.dmaMapPhys, c) }
      if let c = at("dma_unmap_phys:") { return (.dmaUnmapPhys, c) }
      if let c = at("dma_map_sg:") { return (.dmaMapSG, c) }
      if let c = at("dma_unmap_sg:") { return (.dmaUnmapSG, c) }
    default: break
    }
    return nil
  }
}
