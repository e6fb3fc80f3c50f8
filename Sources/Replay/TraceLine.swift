import KernelTypes

/// One parsed trace line, with strings: the public, allocation-happy view of
/// the hot parser, for tests and tools.
package struct TraceLine: Sendable, Hashable {
  package enum Kind: Sendable, Hashable {
    case blank
    case header
    case lostEvents(cpu: Int, count: UInt64?)
    case event(TraceRecord)
    case malformed(reason: String)
  }

  package var kind: Kind

  /// Parses one line (without its newline).
  package static func parse(_ text: String) -> TraceLine {
    var copy = text
    return copy.withUTF8 { parse(bytes: $0) }
  }

  /// Parses one line with the general prefix search only (no
  /// `TraceLineParser.fastPrefix`): tests compare the two.
  package static func parseGeneral(_ text: String) -> TraceLine {
    var copy = text
    return copy.withUTF8 { parse(bytes: $0, fast: false) }
  }

  static func parse(bytes raw: Line, fast: Bool = true) -> TraceLine {
    var p = raw
    if p.count > 0, p[p.count - 1] == ASCII.cr { p = Line(rebasing: p[0..<(p.count - 1)]) }
    var pre = TraceLineParser.Prefix()
    switch TraceLineParser.classify(p, &pre, fast: fast) {
    case .blank: return TraceLine(kind: .blank)
    case .header: return TraceLine(kind: .header)
    case .lost(let cpu, let count): return TraceLine(kind: .lostEvents(cpu: cpu, count: count))
    case .malformed(let reason): return TraceLine(kind: .malformed(reason: reason.description))
    case .event:
      var f = EventFields()
      var ranges: [DMARange] = []
      var phys: [UInt64] = []
      if pre.type != .other, let reason = TraceLineParser.payload(p, pre, &f, ranges: &ranges, phys: &phys) {
        return TraceLine(kind: .malformed(reason: reason.description))
      }
      var commEnd = pre.commEnd
      while commEnd > pre.commStart, ASCII.isSpace(p[commEnd - 1]) { commEnd -= 1 }
      let fields: TraceEventFields
      switch pre.type {
      case .map: fields = .map(iova: f.iova, paddr: f.paddr, size: f.size, rangeFormat: f.newFormat)
      case .unmap: fields = .unmap(iova: f.iova, size: f.size, unmappedSize: f.unmapped, rangeFormat: f.newFormat)
      case .ioPageFault:
        fields = .ioPageFault(
          driver: p.string(f.drvStart, f.drvEnd), device: p.string(f.devStart, f.devEnd), iova: f.iova, flags: f.flags)
      case .addDeviceToGroup, .removeDeviceFromGroup:
        fields = .group(id: f.group, device: p.string(f.devStart, f.devEnd))
      case .attachDeviceToDomain, .detachDeviceFromDomain: fields = .device(p.string(f.devStart, f.devEnd))
      case .mmPageAlloc:
        fields = .pageAlloc(pfn: f.pfn, order: f.order, gfpFlags: p.string(f.gfpStart, f.gfpEnd), failed: f.pageIsNull)
      case .mmPageFree, .mmPageFreeBatched: fields = .pageFree(pfn: f.pfn, order: f.order)
      case .other: fields = .other
      case .cacheTagFlushRange, .cacheTagFlushRangeNP, .cacheTagFlushAll:
        fields = .iotlbFlush(
          device: p.string(f.devStart, f.devEnd), start: f.iova, last: pre.type == .cacheTagFlushAll ? nil : f.size)
      default: fields = .dma(device: p.string(f.devStart, f.devEnd), ranges: ranges, phys: f.hasPhys ? f.phys : nil)
      }
      return TraceLine(
        kind: .event(
          TraceRecord(
            comm: p.string(pre.commStart, commEnd), pid: Int(pre.pid), tgid: pre.tgid >= 0 ? Int(pre.tgid) : nil,
            cpu: pre.cpu, flags: pre.flagsEnd > pre.flagsStart ? p.string(pre.flagsStart, pre.flagsEnd) : nil,
            timestamp: pre.ts, eventName: p.string(pre.nameStart, pre.nameEnd), type: pre.type, fields: fields,
            dmaDirection: f.dma.direction, physAddrs: phys)))
    }
  }

  /// The event, when the line is one.
  package var record: TraceRecord? {
    if case .event(let r) = kind { return r }
    return nil
  }
}

/// The prefix and payload of an event line.
package struct TraceRecord: Sendable, Hashable {
  package var comm: String
  package var pid: Int
  /// The `(tgid)` column, when the trace has it (`options/record-tgid`).
  package var tgid: Int?
  package var cpu: Int
  /// The irq-info flags column (`d..1.`), when printed.
  package var flags: String?
  package var timestamp: TraceTimestamp
  package var eventName: String
  package var type: TraceEventType
  package var fields: TraceEventFields
  /// `dir=` of a `dma:` event (nil when absent or `NONE`).
  package var dmaDirection: DMADirection? = nil
  /// `phys_addrs=` of a `dma:` sg event.
  package var physAddrs: [UInt64] = []
}

/// What replay reads from each event's payload.
package enum TraceEventFields: Sendable, Hashable {
  /// `rangeFormat`: the newer `iova=A - B` form.
  case map(iova: UInt64, paddr: UInt64, size: UInt64, rangeFormat: Bool)
  case unmap(iova: UInt64, size: UInt64, unmappedSize: UInt64, rangeFormat: Bool)
  case ioPageFault(driver: String, device: String, iova: UInt64, flags: UInt64)
  case group(id: Int64, device: String)
  case device(String)
  /// `failed`: `page=(null)`, an allocation that returned nothing.
  case pageAlloc(pfn: UInt64, order: Int, gfpFlags: String, failed: Bool)
  case pageFree(pfn: UInt64, order: Int)
  case dma(device: String, ranges: [DMARange], phys: UInt64?)
  /// `intel_iommu:cache_tag_flush_range[_np]` (`[start-last]`, inclusive) or `_all` (no range).
  case iotlbFlush(device: String, start: UInt64, last: UInt64?)
  case other
}
