import KernelTypes

/// The events of a trace.dat, as the text lines replay parses.
extension TraceDat {
  /// One CPU's ring-buffer pages.
  struct Cursor {
    var buffer: String
    var cpu: Int
    var start: Int
    var end: Int
    var pageSize: Int
    /// The page being read (its offset in the file), and the next entry's offset in it.
    var page: Int
    var next = 0
    var commit = 0
    var ts: UInt64 = 0
    /// The pending event: its data range and timestamp.
    var data = 0
    var size = 0
    var eventTS: UInt64 = 0
    var valid = false
    var lost: UInt64?
    var lostUnknown = false
  }

  static let missingEvents: UInt64 = 1 << 31
  static let missingStored: UInt64 = 1 << 30
  static let commitMask: UInt64 = (1 << 27) - 1
  /// Absolute timestamps lack the top 5 bits, taken from the page's (`TS_MSB`).
  static let tsMSB: UInt64 = 0xf8 << 56

  /// Calls `line` with each event in timestamp order (as `trace-cmd report`
  /// merges CPUs: the earliest first, the lower CPU on a tie), and with
  /// `CPU:N [LOST M EVENTS]` where a page says events were lost.
  package func forEachLine(_ line: (UnsafeBufferPointer<UInt8>) -> Void) {
    var cursors: [Cursor] = []
    for b in buffers {
      for c in b.cpus where c.size > 0 {
        var cur = Cursor(
          buffer: b.name, cpu: c.cpu, start: c.offset, end: min(data.count, c.offset &+ c.size), pageSize: b.pageSize,
          page: c.offset)
        cur.commit = -1
        advance(&cur)
        if cur.valid { cursors.append(cur) }
      }
    }
    var text: [UInt8] = []
    text.reserveCapacity(512)
    while true {
      var best = -1
      for k in cursors.indices where cursors[k].valid {
        if best < 0 || cursors[k].eventTS < cursors[best].eventTS { best = k }
      }
      guard best >= 0 else { break }
      var c = cursors[best]
      if c.lost != nil || c.lostUnknown {
        text.removeAll(keepingCapacity: true)
        text.append(contentsOf: "CPU:\(c.cpu) [LOST ".utf8)
        if let n = c.lost { text.append(contentsOf: "\(n) ".utf8) }
        text.append(contentsOf: "EVENTS]".utf8)
        text.withUnsafeBufferPointer { line($0) }
        c.lost = nil
        c.lostUnknown = false
      }
      text.removeAll(keepingCapacity: true)
      render(c, into: &text)
      text.withUnsafeBufferPointer { line($0) }
      advance(&c)
      cursors[best] = c
    }
  }

  private func read(_ at: Int, _ n: Int) -> UInt64 { Reader.number(data, at, n, bigEndian) }

  /// Moves to the next data entry of the cursor (loading pages as needed).
  private func advance(_ c: inout Cursor) {
    c.valid = false
    var steps = 0
    while true {
      steps += 1
      if c.commit < 0 || c.next >= c.commit {
        // Load the next page.
        if c.commit >= 0 { c.page += c.pageSize }
        let header = 8 + commitSize
        guard c.page >= c.start, c.page <= c.end - header else { return }
        c.ts = read(c.page, 8)
        let flags = read(c.page + 8, commitSize)
        c.commit = Int(flags & Self.commitMask)
        if c.commit > c.pageSize - header || c.page + header + c.commit > c.end { c.commit = 0 }
        if flags & Self.missingEvents != 0 {
          let at = c.page + header + c.commit
          if flags & Self.missingStored != 0, at + commitSize <= c.end {
            c.lost = read(at, commitSize)
          } else {
            c.lostUnknown = true
          }
        }
        c.next = 0
        continue
      }
      let base = c.page + 8 + commitSize
      let at = base + c.next
      guard at + 4 <= base + c.commit else {
        c.next = c.commit
        continue
      }
      let word = UInt32(read(at, 4))
      let typeLen = bigEndian ? word >> 27 : word & 31
      let delta = UInt64(bigEndian ? word & ((1 << 27) - 1) : word >> 5)
      var p = at + 4
      switch typeLen {
      case 29:  // padding
        guard p + 4 <= base + c.commit else {
          c.next = c.commit
          continue
        }
        let length = Int(read(p, 4))
        c.next = p - base + max(length, 0)
        if length == 0 { c.next = c.commit }
        c.ts &+= delta
        continue
      case 30, 31:  // time extend, absolute time stamp
        guard p + 4 <= base + c.commit else {
          c.next = c.commit
          continue
        }
        let extend = read(p, 4) << 27 &+ delta
        if typeLen == 31 { c.ts = extend | (c.ts & Self.tsMSB) } else { c.ts &+= extend }
        c.next = p + 4 - base
        continue
      case 0:
        guard p + 4 <= base + c.commit else {
          c.next = c.commit
          continue
        }
        let length = Int(read(p, 4)) - 4
        p += 4
        c.ts &+= delta
        c.data = p
        c.size = max(0, length)
        c.next = p - base + ((max(0, length) + 3) & ~3)
      default:
        c.ts &+= delta
        c.data = p
        c.size = Int(typeLen) * 4
        c.next = p - base + c.size
      }
      guard c.data + c.size <= base + c.commit, c.size >= 8 else {
        if steps > 1 << 20 { return }
        continue
      }
      c.eventTS = c.ts
      c.valid = true
      return
    }
  }

  /// The value of a numeric field of the event at `d` (`size` bytes).
  private func field(_ f: Field?, _ d: Int, _ size: Int) -> UInt64? {
    guard let f, !f.dynamic, f.size >= 1, f.size <= 8, f.offset + f.size <= size else { return nil }
    return read(d + f.offset, f.size)
  }

  /// The bytes of a `__data_loc` field (a string without its NUL, or an array).
  private func dynamic(_ f: Field?, _ d: Int, _ size: Int) -> Range<Int>? {
    guard let f, f.dynamic, f.size == 4, f.offset + 4 <= size else { return nil }
    let loc = read(d + f.offset, 4)
    let off = Int(loc & 0xffff)
    let len = Int(loc >> 16)
    guard off + len <= size else { return nil }
    return (d + off)..<(d + off + len)
  }

  private func appendString(_ r: Range<Int>?, _ out: inout [UInt8]) {
    guard let r else { return }
    for k in r {
      let b = data[k]
      if b == 0 { break }
      out.append(b == 0x0A ? 0x20 : b)
    }
  }

  /// The line `trace-cmd report` prints for the event (`comm-pid [cpu] secs.usec: name: payload`).
  private func render(_ c: Cursor, into out: inout [UInt8]) {
    let d = c.data
    let size = c.size
    let type = Int(read(d, 2))
    let pid = Int32(truncatingIfNeeded: read(d + 4, 4))
    let format = formats[type]
    if !c.buffer.isEmpty { out.append(contentsOf: (c.buffer + ": ").utf8) }
    let comm = pid == 0 ? "<idle>" : comms[pid] ?? "<...>"
    out.append(contentsOf: comm.utf8)
    // `%6.1000d`: microseconds, rounded (libtraceevent `print_event_time()`).
    let micro = c.eventTS / 1000 + (c.eventTS % 1000 >= 500 ? 1 : 0)
    out.append(contentsOf: "-\(pid) [\(pad3(c.cpu))] \(micro / 1_000_000).".utf8)
    let usec = String(micro % 1_000_000)
    out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: max(0, 6 - usec.utf8.count)))
    out.append(contentsOf: usec.utf8)
    out.append(contentsOf: ": ".utf8)
    guard let format else {
      out.append(contentsOf: "unknown_event_\(type):".utf8)
      return
    }
    out.append(contentsOf: format.name.utf8)
    out.append(contentsOf: ": ".utf8)
    let f = format.fields
    func hex(_ v: UInt64, _ width: Int = 0) -> String {
      let s = String(v, radix: 16)
      return String(repeating: "0", count: max(0, width - s.count)) + s
    }
    func u(_ name: String) -> UInt64 { field(f[name], d, size) ?? 0 }
    switch format.system {
    case "kmem" where format.name.hasPrefix("mm_page_"):
      let pfnField = f["pfn"]
      let raw = u("pfn")
      let allOnes: UInt64 = (pfnField?.size ?? 8) >= 8 ? .max : (1 << (8 * UInt64(pfnField?.size ?? 8))) - 1
      let failed = format.name == "mm_page_alloc" && raw == allOnes
      out.append(contentsOf: (failed ? "page=(null) pfn=0x0" : "page=0x\(hex(raw)) pfn=0x\(hex(raw))").utf8)
      if format.name == "mm_page_free_batched" {
        out.append(contentsOf: " order=0".utf8)
      } else {
        out.append(contentsOf: " order=\(Int32(truncatingIfNeeded: u("order")))".utf8)
      }
      if format.name == "mm_page_alloc" {
        let mt = Int32(truncatingIfNeeded: u("migratetype"))
        let gfp = u("gfp_flags")
        out.append(
          contentsOf:
            " migratetype=\(mt) gfp_flags=\(GFPFlags.traceText(gfp, table: format.gfpTable ?? GFPFlags.traceOrder))"
            .utf8)
      }
    case "iommu":
      switch format.name {
      case "map":
        let iova = u("iova")
        let sz = u("size")
        out.append(
          contentsOf:
            "IOMMU: iova=0x\(hex(iova, 16)) - 0x\(hex(iova &+ sz, 16)) paddr=0x\(hex(u("paddr"), 16)) size=\(sz)"
            .utf8)
      case "unmap":
        let iova = u("iova")
        let sz = u("size")
        out.append(
          contentsOf:
            "IOMMU: iova=0x\(hex(iova, 16)) - 0x\(hex(iova &+ sz, 16)) size=\(sz) unmapped_size=\(u("unmapped_size"))"
            .utf8)
      case "io_page_fault":
        out.append(contentsOf: "IOMMU:".utf8)
        appendString(dynamic(f["driver"], d, size), &out)
        out.append(0x20)
        appendString(dynamic(f["device"], d, size), &out)
        out.append(contentsOf: " iova=0x\(hex(u("iova"), 16)) flags=0x\(hex(u("flags"), 4))".utf8)
      case "add_device_to_group", "remove_device_from_group":
        out.append(contentsOf: "IOMMU: groupID=\(Int32(truncatingIfNeeded: u("gid"))) device=".utf8)
        appendString(dynamic(f["device"], d, size), &out)
      default:
        out.append(contentsOf: "IOMMU: device=".utf8)
        appendString(dynamic(f["device"], d, size), &out)
      }
    case "dma":
      appendString(dynamic(f["device"], d, size), &out)
      if f["dir"] != nil {
        let names = ["BIDIRECTIONAL", "TO_DEVICE", "FROM_DEVICE", "NONE"]
        let dir = u("dir")
        out.append(contentsOf: " dir=\(dir < 4 ? names[Int(dir)] : "0x" + hex(dir))".utf8)
      }
      if let full = f["full_nents"] {
        // dma_map_sg (6.14 on): `nents=%d/%d ents=%d/%d%s`, min(full, 128) traced, ` [TRUNCATED]`.
        let nents = Int32(truncatingIfNeeded: field(full, d, size) ?? 0)
        let ents = Int32(truncatingIfNeeded: u("full_ents"))
        out.append(contentsOf: " nents=\(min(nents, 128))/\(nents) ents=\(min(ents, 128))/\(ents)".utf8)
        if u("truncated") != 0 { out.append(contentsOf: " [TRUNCATED]".utf8) }
      }
      // dma_unmap_phys (6.18) calls its DMA address `addr`; the print fmt says `dma_addr=`.
      if let a = f["dma_addr"] ?? f["addr"] { out.append(contentsOf: " dma_addr=\(hex(field(a, d, size) ?? 0))".utf8) }
      if f["size"] != nil { out.append(contentsOf: " size=\(u("size"))".utf8) }
      if f["phys_addr"] != nil { out.append(contentsOf: " phys_addr=\(hex(u("phys_addr")))".utf8) }
      // `%p`: trace-cmd prints the pointer the ring buffer holds, unhashed.
      if f["virt_addr"] != nil { out.append(contentsOf: " virt_addr=\(hex(u("virt_addr")))".utf8) }
      for (name, label) in [
        ("dma_addrs", "dma_addrs"), ("lengths", "sizes"), ("sizes", "sizes"),
        ("phys_addrs", "phys_addrs"), ("addrs", "phys_addrs"),
      ] {
        guard let fd = f[name], let r = dynamic(fd, d, size) else { continue }
        let el = name == "lengths" || name == "sizes" ? 4 : 8
        out.append(contentsOf: " \(label)={".utf8)
        var k = r.lowerBound
        var first = true
        while k + el <= r.upperBound {
          if !first { out.append(ASCII.comma) }
          first = false
          out.append(contentsOf: "0x\(hex(read(k, el)))".utf8)
          k += el
        }
        out.append(ASCII.rbrace)
      }
      if f["err"] != nil { out.append(contentsOf: " err=\(Int32(truncatingIfNeeded: u("err")))".utf8) }
    default:
      break
    }
  }

  private func pad3(_ n: Int) -> String {
    let s = String(n)
    return String(repeating: "0", count: max(0, 3 - s.count)) + s
  }
}
