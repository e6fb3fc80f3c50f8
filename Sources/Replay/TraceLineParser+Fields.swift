/// `dma:` events printed field by field instead of by their print fmt:
///
/// - `trace-cmd report -R` (libtraceevent `tep_print_field()`): ` name=value`
///   for each field of the format, unsigned numbers in decimal (`%llu`),
///   `unsigned long` in hex, dynamic arrays as their bytes `ARRAY[00, 10, 00, ...]`;
/// - `options/fields` (kernel/trace/trace_output.c `print_fields()`, 6.4 on):
///   numbers as `0x1000 (4096)`, dynamic arrays as their bytes `00,10,00,...`.
///
/// The field names are the format's (`dma_unmap_phys` calls its DMA address
/// `addr`, `dma_unmap_sg` its physical addresses `addrs`, the sg lengths are
/// `lengths`), and arrays are read as little-endian `u64` (`unsigned int` for
/// `lengths`), as x86 and arm64 store them.
extension TraceLineParser {
  static func dmaFields(
    _ p: Line, _ start: Int, _ type: TraceEventType, _ f: inout EventFields, _ ranges: inout [DMARange],
    _ phys: inout [UInt64]
  ) -> StaticString? {
    var i = start
    var address: UInt64?
    var size: UInt64?
    var addresses: [UInt64] = []
    var lengths: [UInt64] = []
    var haveAddresses = false
    var haveLengths = false
    while true {
      p.skipSpaces(&i)
      guard i < p.count else { break }
      var end = p.tokenEnd(i)
      var k = i
      while k < end, p[k] != ASCII.equals { k += 1 }
      guard k < end else {
        i = end
        continue
      }
      let nameStart = i
      let nameEnd = k
      k += 1
      // `ARRAY[00, 10, ...]` spans spaces.
      if p.expect("ARRAY[", &k) {
        var j = k
        while j < p.count, p[j] != ASCII.rbracket { j += 1 }
        guard j < p.count else { return "dma fields: unterminated ARRAY[" }
        end = j + 1
      }
      k = nameEnd + 1
      func named(_ s: StaticString) -> Bool { p.equals(nameStart, nameEnd, s) }
      if named("device") {
        guard end > k else { return "dma fields: bad device=" }
        f.devStart = k
        f.devEnd = end
      } else if named("dma_addr") || (named("addr") && type != .dmaUnmapSG) {
        guard let v = addressField(p, &k, end, type, failed: f.failedToParse) else {
          return "dma fields: bad dma_addr="
        }
        address = v
      } else if named("size") {
        guard let v = p.hexOrDecimal(&k) else { return "dma fields: bad size=" }
        size = v
      } else if named("phys_addr") {
        guard let v = addressField(p, &k, end, type, failed: f.failedToParse) else {
          return "dma fields: bad phys_addr="
        }
        f.phys = v
        f.hasPhys = true
      } else if named("virt_addr") {
        if let v = p.hexOrDecimal(&k) {
          f.dma.virtAddr = v
          f.dma.hasVirtAddr = true
        }
      } else if named("phys_addrs") || named("addrs") {
        guard bytesArray(p, k, end, width: 8, into: &phys) else { return "dma fields: bad phys_addrs=" }
        f.dma.hasPhysAddrs = true
      } else if named("dma_addrs") {
        guard bytesArray(p, k, end, width: 8, into: &addresses) else { return "dma fields: bad dma_addrs=" }
        haveAddresses = true
      } else if named("lengths") || named("sizes") {
        guard bytesArray(p, k, end, width: 4, into: &lengths) else { return "dma fields: bad lengths=" }
        haveLengths = true
      } else if named("dir") {
        guard let v = p.hexOrDecimal(&k) else { return "dma fields: bad dir=" }
        f.dma.dir = v <= 3 ? Int8(v) : -1
      } else if named("full_nents") {
        guard let v = p.hexOrDecimal(&k), v <= UInt64(Int32.max) else { return "dma fields: bad full_nents=" }
        f.dma.fullNents = Int64(v)
        f.dma.nents = min(Int64(v), 128)
      } else if named("truncated") {
        f.dma.truncated = p.hexOrDecimal(&k).map { $0 != 0 } ?? false
      } else if named("err") {
        var v: Int64?
        if p.byte(k + 1) == ASCII.x, let h = p.hexOrDecimal(&k) {
          v = Int64(Int32(truncatingIfNeeded: h))
        } else {
          v = p.signedDecimal(&k)
        }
        guard let v else { return "dma fields: bad err=" }
        f.dma.err = v
      }
      i = end
    }
    guard f.devEnd > f.devStart else { return "dma fields: no device=" }
    if let a = address, let s = size {
      ranges.append(DMARange(address: a, size: s))
      return nil
    }
    if haveAddresses, haveLengths {
      for (a, s) in zip(addresses, lengths) where ranges.count < maxRanges {
        ranges.append(DMARange(address: a, size: s))
      }
      return nil
    }
    switch type {
    case .dmaUnmapSG: return f.dma.hasPhysAddrs ? nil : "dma: no phys_addrs= in dma_unmap_sg"
    case .dmaMapSGErr: return nil
    default: return "dma: no dma_addr= and size="
    }
  }

  /// A DMA or physical address field. `0x...` (options/fields) is hex; so is a value with a hex
  /// letter. Digits alone: libtraceevent 1.6 on prints a field of an event whose print fmt it
  /// parsed with that fmt's conversion (`dma_addr=%llx`: hex without `0x`, as `trace-cmd report -R`
  /// of trace-cmd 3.1 prints `dma_addr=ffff0000`), and in its default `%llu` otherwise: after
  /// `[FAILED TO PARSE]`, and in `dma_alloc_sgt`/`dma_free_sgt`, whose `__print_array(...,
  /// sizeof(u64))` it cannot parse (so `-R` prints `dma_addr=3523215360` there).
  private static func addressField(_ p: Line, _ k: inout Int, _ end: Int, _ type: TraceEventType, failed: Bool)
    -> UInt64?
  {
    if p.byte(k + 1) == ASCII.x || p.byte(k + 1) == ASCII.upperX { return p.hexOrDecimal(&k) }
    var letters = false
    for j in k..<end where !ASCII.isDigit(p[j]) {
      letters = true
      break
    }
    if letters || !(failed || type == .dmaAllocSGT || type == .dmaFreeSGT) { return p.hex(&k) }
    return p.decimal(&k)
  }

  /// `[FAILED TO PARSE]` at `i`: where the fields after it start.
  static func failedToParse(_ p: Line, _ i: Int) -> Int? {
    var k = i
    guard p.expect("[FAILED TO PARSE]", &k) else { return nil }
    p.skipSpaces(&k)
    return k
  }

  /// The bytes of a dynamic array (`ARRAY[00, 10]` or `00,10`), as
  /// little-endian elements of `width` bytes, in `[a, b)`.
  static func bytesArray(_ p: Line, _ a: Int, _ b: Int, width: Int, into out: inout [UInt64]) -> Bool {
    out.removeAll(keepingCapacity: true)
    var k = a
    var end = b
    if p.expect("ARRAY[", &k) {
      guard end > k, p[end - 1] == ASCII.rbracket else { return false }
      end -= 1
    } else if p.byte(k) == ASCII.lbrace {
      // `{0x1000,0x2000}`: the print fmt's `__print_array()`, as the text trace prints it.
      k += 1
      while k < end, p[k] != ASCII.rbrace {
        guard let v = p.hexOrDecimal(&k) else { return false }
        if out.count < maxRanges { out.append(v) }
        if p.byte(k) == ASCII.comma { k += 1 }
      }
      return k < end
    }
    var value: UInt64 = 0
    var index = 0
    while k < end {
      while k < end, p[k] == ASCII.comma || ASCII.isSpace(p[k]) { k += 1 }
      guard k < end else { break }
      guard k + 1 < end, let hi = ASCII.hexValue(p[k]), let lo = ASCII.hexValue(p[k + 1]) else { return false }
      value |= (hi << 4 | lo) << UInt64(8 * index)
      index += 1
      k += 2
      if index == width {
        if out.count < maxRanges { out.append(value) }
        value = 0
        index = 0
      }
    }
    return index == 0
  }
}
