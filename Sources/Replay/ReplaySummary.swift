import KernelTypes
import Reports

/// Everything counted over one replay, for the closing summary.
package struct ReplaySummary: Sendable, Hashable {
  package var file: String
  package var pageSize: UInt64
  /// `ftrace` (tracefs `trace` with its header), `trace_pipe` (no header),
  /// `trace-cmd` (`cpus=N` first), or `empty`.
  package var format: String
  package var lines = 0
  package var bytes: UInt64 = 0
  /// Why the input could not be read at all (a trace.dat that does not parse or is compressed).
  package var inputError: String?
  package var events = 0
  /// Event lines by event name, `other` for events replay does not read.
  package var eventCounts: [String: Int] = [:]
  package var headerLines = 0
  package var blankLines = 0
  /// `CPU:N [LOST EVENTS]` markers, the events they say were lost (when they
  /// say), and the first marker's line.
  package var lostEventMarkers = 0
  package var lostEvents: UInt64 = 0
  package var firstLostEventsLine: Int?
  package var malformedLines = 0
  /// The first malformed lines, with why.
  package var malformed: [MalformedLine] = []
  package var reports = 0
  package var reportsByKind: [String: Int] = [:]
  /// Unmaps (some of) whose range no traced map covered: mappings made
  /// before tracing started, or lost events. Never reported as bugs.
  package var unmatchedUnmaps = 0
  /// Unmaps whose address space had to be guessed.
  package var ambiguousAttributions = 0
  /// Maps that overlapped a live unattributed mapping and were given a new address space.
  package var overlappingMaps = 0
  /// Unmaps that removed more than was asked (`unmapped_size > size`).
  package var largerUnmaps = 0
  package var zeroSizeEvents = 0
  package var failedAllocations = 0
  /// `mm_page_free_batched` lines repeating the `mm_page_free` just before them.
  package var duplicateFrees = 0
  /// io_page_faults: on a live mapping, on an IOVA no traced event touched,
  /// and after a traced unmap (reported).
  package var faultsOnLiveMappings = 0
  package var faultsUnknownIOVA = 0
  package var faultsAfterUnmap = 0
  package var liveMappings = 0
  package var liveMappedBytes: UInt64 = 0
  package var mappedPages = 0
  /// Address spaces told apart: by device (dma events), by IOMMU group, unattributed.
  package var deviceSpaces = 0
  package var groupSpaces = 0
  package var unattributedSpaces = 0
  package var devices: [String] = []
  /// The DMA-API accounting (`dma:` events): maps (and those without a
  /// physical address, which count no page), unmaps, unmaps of addresses no
  /// traced map covered (not reported), maps over a live entry at the same
  /// address (an unmap lost), and what is live at the end.
  package var dmaAPIMaps = 0
  package var dmaAPIMapsWithoutPhys = 0
  package var dmaAPIUnmaps = 0
  package var dmaAPIUnmatchedUnmaps = 0
  package var dmaAPIRemapsOverLive = 0
  /// `dma_sync_*` events `check_sync()` ran on, and those whose range no traced map held (not reported).
  package var dmaAPISyncs = 0
  package var dmaAPIUnmatchedSyncs = 0
  package var dmaAPILiveMappings = 0
  package var dmaAPILivePages = 0
  /// Page reports (freed- and allocated-while-mapped) by the accounting that saw the page mapped.
  package var pageReportsByIOMMU = 0
  package var pageReportsByDMAAPI = 0
  package var pageReportsByBoth = 0
  /// Mapped pages of freed or allocated blocks past the first
  /// `TraceReplayer.pageReportsPerEvent` of one event: counted, not reported.
  package var pageReportsNotPrinted = 0

  package init(file: String, pageSize: UInt64, format: String = "empty") {
    self.file = file
    self.pageSize = pageSize
    self.format = format
  }

  /// 0: nothing reported; 1: reports; 2: the input was not a trace (no
  /// event line was recognised: empty, header-only or malformed input).
  package var exitStatus: Int32 {
    if events == 0 { return 2 }
    return reports > 0 ? 1 : 0
  }

  private func sizeName(_ v: UInt64) -> String {
    v >= 1024 && v % 1024 == 0 ? "\(v / 1024)K" : "\(v)"
  }

  /// Event counts, map/unmap/kmem/dma first in a fixed order, then the rest by name.
  package var orderedEventCounts: [(String, Int)] {
    let order = TraceEventType.allCases.map(\.name)
    var out: [(String, Int)] = []
    for name in order { if let n = eventCounts[name], n > 0 { out.append((name, n)) } }
    return out
  }

  /// The summary as `iommusan:` text lines.
  package var textLines: [String] {
    var out: [String] = []
    let events = orderedEventCounts.map { "\($0.0) x\($0.1)" }.joined(separator: ", ")
    let kinds = reportsByKind.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ")
    out.append(
      "iommusan: \(KernelText.sanitize(file)): \(Plural.count(lines, "line")), \(Plural.count(self.events, "event"))"
        + (events.isEmpty ? "" : " (\(events))") + ", \(Plural.count(reports, "report"))"
        + (kinds.isEmpty ? "" : " (\(kinds))")
        + ", \(malformedLines) malformed")
    out.append(
      "iommusan: replay: format \(format), page size \(sizeName(pageSize)), \(Plural.count(headerLines, "header line")), "
        + "\(Plural.count(liveMappings, "live IOMMU mapping")) at the end (\(Plural.count(liveMappedBytes, "byte")), "
        + "\(Plural.count(mappedPages, "page")))")
    out.append(
      "iommusan: replay: address spaces: \(deviceSpaces) by device, \(groupSpaces) by IOMMU group, "
        + "\(unattributedSpaces) unattributed; \(Plural.count(ambiguousAttributions, "ambiguous attribution"))")
    if unmatchedUnmaps > 0 {
      out.append(
        "iommusan: replay: \(Plural.count(unmatchedUnmaps, "unmap")) of IOVAs no traced map covered "
          + "(mapped before tracing started, or events lost); not reported")
    }
    if lostEventMarkers > 0 {
      out.append(
        "iommusan: replay: \(Plural.count(lostEventMarkers, "[LOST EVENTS] marker")) "
          + "(\(Plural.count(lostEvents, "event")) counted lost), "
          + "first at line \(firstLostEventsLine ?? 0): reports after it may be false positives")
    }
    let faults = faultsAfterUnmap + faultsOnLiveMappings + faultsUnknownIOVA
    if faults > 0 {
      out.append(
        "iommusan: replay: io_page_faults: \(faultsAfterUnmap) after a traced unmap, "
          + "\(faultsOnLiveMappings) on live mappings, \(faultsUnknownIOVA) on IOVAs no traced event touched")
    }
    if dmaAPIMaps + dmaAPIUnmaps > 0 || pageReportsByIOMMU + pageReportsByDMAAPI + pageReportsByBoth > 0 {
      let iommuMaps = eventCounts[TraceEventType.map.name] ?? 0
      out.append(
        "iommusan: replay: accountings: IOMMU mappings from \(Plural.count(iommuMaps, "iommu:map event")); "
          + "DMA-API mappings from \(Plural.count(dmaAPIMaps, "dma map event")) "
          + "(\(dmaAPIMapsWithoutPhys) without a physical address), \(Plural.count(dmaAPIUnmaps, "unmap")) "
          + "(\(dmaAPIUnmatchedUnmaps) of addresses no traced map covered; not reported), "
          + "\(dmaAPILiveMappings) live at the end (\(Plural.count(dmaAPILivePages, "page"))); page reports: "
          + "\(pageReportsByIOMMU) by IOMMU mappings, \(pageReportsByDMAAPI) by DMA-API mappings, "
          + "\(pageReportsByBoth) by both")
    }
    var other: [String] = []
    if dmaAPISyncs > 0 {
      other.append(
        "\(Plural.count(dmaAPISyncs, "dma sync")) (\(dmaAPIUnmatchedSyncs) of ranges no traced map held; not reported)")
    }
    if dmaAPIRemapsOverLive > 0 {
      other.append(
        "\(Plural.count(dmaAPIRemapsOverLive, "dma map")) at the address of a live DMA-API entry of the same device (both kept, as debug.c "
          + "does: the same buffer mapped twice, or an unmap lost)")
    }
    if largerUnmaps > 0 { other.append("\(Plural.count(largerUnmaps, "unmap")) larger than requested") }
    if overlappingMaps > 0 {
      other.append("\(Plural.count(overlappingMaps, "map")) over a live unattributed IOVA (new address space)")
    }
    if failedAllocations > 0 { other.append(Plural.count(failedAllocations, "failed allocation")) }
    if pageReportsNotPrinted > 0 {
      other.append(
        "\(Plural.count(pageReportsNotPrinted, "mapped page")) of freed or allocated blocks not reported (at most "
          + "\(TraceReplayer.pageReportsPerEvent) page reports an event)")
    }
    if duplicateFrees > 0 { other.append("\(duplicateFrees) mm_page_free_batched repeating mm_page_free") }
    if zeroSizeEvents > 0 {
      other.append(Plural.count(zeroSizeEvents, "zero-size map or unmap", "zero-size maps or unmaps"))
    }
    if !other.isEmpty { out.append("iommusan: replay: " + other.joined(separator: ", ")) }
    if malformedLines > 0 {
      let listed = malformed.map { "\($0.line) (\($0.reason))" }.joined(separator: ", ")
      out.append("iommusan: replay: \(Plural.count(malformedLines, "malformed line")) skipped, first: \(listed)")
    }
    return out
  }

  /// The summary as a JSON record `{"summary":{...}}` (no `kind` key).
  package var json: JSONValue {
    let byEvent = JSONValue.object(orderedEventCounts.map { JSONMember($0.0, .int(Int64($0.1))) })
    let byKind = JSONValue.object(
      reportsByKind.sorted { $0.key < $1.key }.map { JSONMember($0.key, .int(Int64($0.value))) })
    var m: [JSONMember] = [
      JSONMember("file", .string(file)),
      JSONMember("format", .string(format)),
      JSONMember("page_size", .uint(pageSize)),
      JSONMember("lines", .int(Int64(lines))),
      JSONMember("bytes", .uint(bytes)),
      JSONMember("events", .int(Int64(events))),
      JSONMember("by_event", byEvent),
      JSONMember("reports", .int(Int64(reports))),
      JSONMember("by_kind", byKind),
      JSONMember("header_lines", .int(Int64(headerLines))),
      JSONMember("lost_event_markers", .int(Int64(lostEventMarkers))),
      JSONMember("lost_events", .uint(lostEvents)),
    ]
    if let l = firstLostEventsLine { m.append(JSONMember("first_lost_events_line", .int(Int64(l)))) }
    m += [
      JSONMember("unmatched_unmaps", .int(Int64(unmatchedUnmaps))),
      JSONMember("ambiguous_attributions", .int(Int64(ambiguousAttributions))),
      JSONMember("overlapping_maps", .int(Int64(overlappingMaps))),
      JSONMember("larger_unmaps", .int(Int64(largerUnmaps))),
      JSONMember("failed_allocations", .int(Int64(failedAllocations))),
      JSONMember("duplicate_frees", .int(Int64(duplicateFrees))),
      JSONMember("zero_size_events", .int(Int64(zeroSizeEvents))),
      JSONMember(
        "faults",
        .object([
          JSONMember("after_unmap", .int(Int64(faultsAfterUnmap))),
          JSONMember("on_live_mapping", .int(Int64(faultsOnLiveMappings))),
          JSONMember("unknown_iova", .int(Int64(faultsUnknownIOVA))),
        ])),
      JSONMember(
        "dma_api",
        .object([
          JSONMember("maps", .int(Int64(dmaAPIMaps))),
          JSONMember("maps_without_phys", .int(Int64(dmaAPIMapsWithoutPhys))),
          JSONMember("unmaps", .int(Int64(dmaAPIUnmaps))),
          JSONMember("unmatched_unmaps", .int(Int64(dmaAPIUnmatchedUnmaps))),
          JSONMember("remaps_over_live", .int(Int64(dmaAPIRemapsOverLive))),
          JSONMember("syncs", .int(Int64(dmaAPISyncs))),
          JSONMember("unmatched_syncs", .int(Int64(dmaAPIUnmatchedSyncs))),
          JSONMember("live_mappings", .int(Int64(dmaAPILiveMappings))),
          JSONMember("live_pages", .int(Int64(dmaAPILivePages))),
        ])),
      JSONMember(
        "page_reports_by_accounting",
        .object(
          [
            JSONMember("iommu", .int(Int64(pageReportsByIOMMU))),
            JSONMember("dma_api", .int(Int64(pageReportsByDMAAPI))),
            JSONMember("both", .int(Int64(pageReportsByBoth))),
          ] + (pageReportsNotPrinted > 0 ? [JSONMember("not_reported", .int(Int64(pageReportsNotPrinted)))] : []))),
      JSONMember(
        "address_spaces",
        .object([
          JSONMember("device", .int(Int64(deviceSpaces))),
          JSONMember("group", .int(Int64(groupSpaces))),
          JSONMember("unattributed", .int(Int64(unattributedSpaces))),
        ])),
      JSONMember("devices", .array(devices.map { .string($0) })),
      JSONMember("live_mappings", .int(Int64(liveMappings))),
      JSONMember("live_mapped_bytes", .uint(liveMappedBytes)),
      JSONMember("mapped_pages", .int(Int64(mappedPages))),
      JSONMember("malformed_lines", .int(Int64(malformedLines))),
      JSONMember(
        "malformed",
        .array(
          malformed.map {
            .object([JSONMember("line", .int(Int64($0.line))), JSONMember("reason", .string($0.reason))])
          })),
      JSONMember("exit_status", .int(Int64(exitStatus))),
    ]
    return .object([JSONMember("summary", .object(m))])
  }
}

/// A line replay skipped, and why.
package struct MalformedLine: Sendable, Hashable {
  package var line: Int
  package var reason: String
  package init(line: Int, reason: String) {
    self.line = line
    self.reason = reason
  }
}
