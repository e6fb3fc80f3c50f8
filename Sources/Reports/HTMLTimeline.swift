import KernelTypes
import MemoryModel

/// One subject's story as lanes and steps for the HTML report: the page
/// histories its reports carry (merged, oldest first), or, where a report
/// has none (a replayed trace), the events its facts name: its live
/// mappings, the trace lines of its details (`map line`, `unmap line`,
/// `page free line`, ...), where the page was freed and allocated again.
/// The time axis is the order of events, not a clock.
package struct HTMLTimeline: Sendable {
  /// Lanes come in this order: tasks, devices, IOMMU caches, domains, the
  /// page allocator, then anything a trace names without an actor.
  package enum LaneKind: Int, Sendable, Hashable, Comparable {
    case task, device, cache, domain, allocator, trace
    package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// The `data-lane` attribute's prefix.
    package var name: String {
      switch self {
      case .task: "task"
      case .device: "device"
      case .cache: "cache"
      case .domain: "domain"
      case .allocator: "allocator"
      case .trace: "trace"
      }
    }
  }

  package struct Lane: Sendable, Hashable {
    package var kind: LaneKind
    package var label: String
  }

  /// A shape on one lane. The step's first mark is its event; the others
  /// are who else took part (the calling task, the cache a walk filled).
  package struct Mark: Sendable, Hashable {
    package var lane: Int
    /// The event class: `alloc`, `realloc`, `free`, `map`, `unmap`, `dma`,
    /// `fill`, `hit`, `call`, `report`, `trace`.
    package var event: String
    /// Up to three short lines drawn under the shape.
    package var lines: [String]
  }

  /// One event at one moment.
  package struct Step: Sendable, Hashable {
    /// `FILE:LINE` of the statement or trace line, if known.
    package var location: String?
    package var event: String
    package var text: String
    /// The statement's (or trace line's) text, where a report quotes it.
    package var statement: String?
    package var marks: [Mark]
    package var isReport: Bool { event == "report" }
  }

  /// A device's window on the page: from a map of a domain it is attached
  /// to (as the reports' live mappings say) until its unmap, or to the end.
  /// On a cache lane (`isCache`): from an IOTLB fill to the invalidation
  /// that followed its last hit, or to that hit when none is recorded.
  package struct Reach: Sendable, Hashable {
    package var lane: Int
    package var from: Int
    /// The step of the unmap (or last hit); nil when the mapping is still live at the end.
    package var to: Int?
    package var iova: UInt64?
    package var isCache = false
    /// A cache entry's bar ends at an invalidation (not at its last use).
    package var invalidated = false
  }

  /// Steps drawn per subject; earlier ones are counted, not drawn.
  package static let maximumSteps = 64

  package private(set) var lanes: [Lane] = []
  package private(set) var steps: [Step] = []
  package private(set) var reaches: [Reach] = []
  /// Events older than the steps drawn.
  package private(set) var earlierNotDrawn = 0

  /// The timeline of the reports about one subject, in report order.
  /// `tasks` are task names that get a lane even where none of their events
  /// touches the page (an `explore` finding's tasks).
  package init(reports: [Report], tasks: [String] = []) {
    let histories = reports.map(\.history).filter { !$0.isEmpty }
    var events = histories.isEmpty ? Self.facts(of: reports) : Self.merge(histories)
    if !histories.isEmpty { events = Self.withTraceFacts(events, reports: reports) }
    // A trace's history ends before its report: place each report after it.
    if !histories.isEmpty && !events.contains(where: { $0.event == "report" }) {
      for r in reports {
        events.append(
          PageHistoryEvent(
            event: "report", file: r.statement?.file, line: r.statement?.line, text: r.kind.rawValue, task: r.task))
      }
    }
    if events.count > Self.maximumSteps {
      earlierNotDrawn = events.count - Self.maximumSteps
      events.removeFirst(earlierNotDrawn)
    }
    var raw: [(location: String?, event: String, text: String, marks: [(Lane, String, [String])])] = []
    var freed = false
    for e in events {
      let location = e.file.map { f in e.line.map { "\(f):\($0)" } ?? f }
      raw.append((location, e.event, e.text, Self.marks(e, freed: &freed)))
    }
    // The devices attached to each domain that still maps the page.
    var attached: [String: [String]] = [:]
    for r in reports {
      for m in r.mappings {
        for a in m.attachments where !(attached[m.domain] ?? []).contains(a.device) {
          attached[m.domain, default: []].append(a.device)
        }
      }
    }
    // Lanes sorted by kind, then by first appearance.
    var seen: [Lane: Int] = [:]
    var order: [Lane] = []
    func see(_ lane: Lane) {
      guard seen[lane] == nil else { return }
      seen[lane] = order.count
      order.append(lane)
    }
    var spans: [(lane: Lane, from: Int, to: Int?, iova: UInt64?)] = []
    for (i, r) in raw.enumerated() {
      for m in r.marks { see(m.0) }
      let e = events[i]
      // A DMA-API map (a trace's `dma_*` line) reaches the page until the device's DMA-API unmap.
      if EventClass(e.event) == .dmaAPI, let m = r.marks.first, m.0.kind == .device, m.1 == "map" {
        let end = raw.indices.dropFirst(i + 1).first { j in
          raw[j].marks.first.map { $0.0 == m.0 && $0.1 == "unmap" } == true
        }
        spans.append((m.0, i, end, e.iova))
      }
      guard e.event == "map", let d = e.domain, let devices = attached[d] else { continue }
      let unmap = events[(i + 1)...].firstIndex { $0.event == "unmap" && $0.domain == d && $0.iova == e.iova }
      for dev in devices {
        let lane = Lane(kind: .device, label: dev)
        see(lane)
        spans.append((lane, i, unmap.map { $0 - events.startIndex }, e.iova))
      }
    }
    // The tasks that did not touch the page, after those that did.
    for name in tasks {
      let comm = EmulatedTask(pid: 0, tgid: 0, comm: name).comm
      if !order.contains(where: { $0.kind == .task && $0.label.hasPrefix(comm + "/") }) {
        see(Lane(kind: .task, label: comm))
      }
    }
    lanes = order.enumerated().sorted { ($0.element.kind, $0.offset) < ($1.element.kind, $1.offset) }.map(\.element)
    var index: [Lane: Int] = [:]
    for (i, l) in lanes.enumerated() { index[l] = i }
    var quoted: [String: String] = [:]
    for r in reports {
      if let s = r.statement { quoted["\(s.file):\(s.line)"] = s.text }
    }
    reaches = spans.map { Reach(lane: index[$0.lane] ?? 0, from: $0.from, to: $0.to, iova: $0.iova) }
    // A cache entry's life as the page saw it: a fill, then the hits that used it.
    for (i, r) in raw.enumerated() {
      guard let fill = r.marks.first(where: { $0.1 == "fill" }) else { continue }
      var last: Int?
      for j in (i + 1)..<raw.count {
        if raw[j].marks.contains(where: { $0.0 == fill.0 && $0.1 == "fill" }) { break }
        if raw[j].marks.contains(where: { $0.0 == fill.0 && $0.1 == "hit" }) && events[j].iova == events[i].iova {
          last = j
        }
      }
      // The entry lasts until the next invalidation on its lane, if one came after its last use.
      let flushed = raw.indices.dropFirst((last ?? i) + 1).first { j in
        raw[j].marks.contains { $0.0 == fill.0 && $0.1 == "inval" }
      }
      if let to = flushed ?? last {
        reaches.append(
          Reach(
            lane: index[fill.0] ?? 0, from: i, to: to, iova: events[i].iova, isCache: true,
            invalidated: flushed != nil))
      }
    }
    steps = raw.map { r in
      Step(
        location: r.location, event: r.event, text: r.text, statement: r.location.flatMap { quoted[$0] },
        marks: r.marks.map { Mark(lane: index[$0.0] ?? 0, event: $0.1, lines: $0.2) })
    }
  }

  /// What an event is, whoever recorded it: the sanitizer's history
  /// (`alloc`, `map`, `dma`, ...), a trace's (`mm_page_alloc`,
  /// `dma_map_page`, `io_page_fault`, ...), a report's facts (`dma-api`,
  /// `fault`), or an IOTLB/ATC/walk-cache invalidation (any name with
  /// `inval`). Unknown kinds are drawn on a `trace` lane under their name.
  package enum EventClass: Sendable, Hashable {
    case alloc, free, map, unmap, access, dmaAPI, fault, invalidation, report, other

    package init(_ event: String) {
      switch event {
      case "alloc", "mm_page_alloc": self = .alloc
      case "free", "mm_page_free", "mm_page_free_batched": self = .free
      case "map": self = .map
      case "unmap": self = .unmap
      case "dma": self = .access
      case "fault", "io_page_fault": self = .fault
      case "report": self = .report
      case "dma-api": self = .dmaAPI
      default:
        if event.hasPrefix("dma_") {
          self = .dmaAPI
        } else if event.lowercased().contains("inval") {
          self = .invalidation
        } else {
          self = .other
        }
      }
    }
  }

  /// The marks of one event: its lane and shape, then the other actors.
  private static func marks(_ e: PageHistoryEvent, freed: inout Bool) -> [(Lane, String, [String])] {
    let taskLane = e.task.map { Lane(kind: .task, label: $0.comm.isEmpty ? "pid \($0.pid)" : "\($0.comm)/\($0.pid)") }
    let iova = e.iova.map { "iova " + $0.hexAlt } ?? ""
    let allocator = Lane(kind: .allocator, label: "page allocator")
    var marks: [(Lane, String, [String])] = []
    switch EventClass(e.event) {
    case .alloc:
      marks.append((allocator, freed ? "realloc" : "alloc", [freed ? "realloc" : "alloc"]))
      if let taskLane { marks.append((taskLane, "call", [])) }
    case .free:
      freed = true
      marks.append((allocator, "free", ["free"]))
      if let taskLane { marks.append((taskLane, "call", [])) }
    case .map, .unmap:
      let lane =
        taskLane ?? e.domain.map { Lane(kind: .domain, label: "domain \($0)") } ?? Lane(kind: .trace, label: "IOMMU")
      marks.append((lane, e.event, [e.event, e.domain ?? "", iova]))
    case .access:
      let device = Lane(kind: .device, label: e.device ?? "device")
      let access = e.isWrite.map { $0 ? "write" : "read" } ?? "dma"
      marks.append((device, "dma", [access, iova]))
      switch e.path {
      case "walk", "walk-cache":
        marks.append((Lane(kind: .cache, label: "\(e.iommu ?? "IOMMU") IOTLB"), "fill", ["fill"]))
      case "iotlb": marks.append((Lane(kind: .cache, label: "\(e.iommu ?? "IOMMU") IOTLB"), "hit", ["hit"]))
      case "atc": marks.append((Lane(kind: .cache, label: "\(e.device ?? "device") ATC"), "hit", ["hit"]))
      default: break
      }
    case .dmaAPI:
      // A DMA-API call is the device's: its map or unmap (a trace's `dma_*` event, or a report's fact).
      let lane = e.device.map { Lane(kind: .device, label: $0) } ?? Lane(kind: .trace, label: "DMA API")
      let name = e.event == "dma-api" ? e.text.split(separator: " ").prefix(2).joined(separator: " ") : e.event
      let undoes = ["unmap", "free", "release"].contains { name.contains($0) }
      marks.append((lane, undoes ? "unmap" : "map", [name, iova]))
    case .fault:
      let lane = e.device.map { Lane(kind: .device, label: $0) } ?? Lane(kind: .trace, label: "IOMMU")
      marks.append((lane, "dma", [e.event == "fault" ? "fault" : e.event, iova]))
    case .invalidation:
      // On the cache it flushes: a device's ATC, or the unit's IOTLB and walk caches.
      let isATC = e.path == "atc" || e.text.contains("ATC") || (e.iommu == nil && e.device != nil)
      let lane = Lane(kind: .cache, label: isATC ? "\(e.device ?? "device") ATC" : "\(e.iommu ?? "IOMMU") IOTLB")
      let lower = e.event.lowercased() + " " + e.text.lowercased()
      let phase = lower.contains("complet") || lower.contains("done") ? "inval done" : "inval"
      marks.append((lane, "inval", [phase, e.path ?? "", iova]))
      if let taskLane { marks.append((taskLane, "call", [])) }
    case .report:
      marks.append((taskLane ?? Lane(kind: .trace, label: "report"), "report", [e.text]))
      // The device a report without history names (an IOVA's, an ATS timeout's) takes part.
      if let d = e.device { marks.append((Lane(kind: .device, label: d), "call", [])) }
    case .other:
      marks.append((taskLane ?? Lane(kind: .trace, label: "trace"), "trace", [e.event]))
    }
    return marks
  }

  /// A trace's history holds the events keyed by its page; the DMA-API
  /// lines a report names (`dma map line`, `dma release line`: a
  /// `dma_alloc` has no physical address) are added at their line.
  static func withTraceFacts(_ events: [PageHistoryEvent], reports: [Report]) -> [PageHistoryEvent] {
    guard let file = events.first?.file, events.allSatisfy({ $0.ts != nil && $0.line != nil && $0.file == file })
    else { return events }
    let have = Set(events.compactMap(\.line))
    let extra = facts(of: reports).filter { e in
      e.event != "report" && e.file == file && e.line.map { !have.contains($0) } == true
    }
    guard !extra.isEmpty else { return events }
    let all = events.map { ($0.line ?? 0, 0, $0) } + extra.map { ($0.line ?? 0, 1, $0) }
    return all.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map(\.element.2)
  }

  /// Joins history tails taken at different moments: each later tail is
  /// appended after its longest overlap with what came before.
  package static func merge(_ lists: [[PageHistoryEvent]]) -> [PageHistoryEvent] {
    var out: [PageHistoryEvent] = []
    for l in lists {
      var overlap = 0
      for k in stride(from: min(out.count, l.count), through: 1, by: -1)
      where out[(out.count - k)...].elementsEqual(l[..<k]) {
        overlap = k
        break
      }
      out += l[overlap...]
    }
    return out
  }

  /// Events named by reports that carry no history, in line order.
  package static func facts(of reports: [Report]) -> [PageHistoryEvent] {
    var events: [(line: Int, order: Int, event: PageHistoryEvent)] = []
    func add(_ e: PageHistoryEvent) { events.append((e.line ?? 0, events.count, e)) }
    var reportLines: Set<String> = []
    for r in reports {
      if let s = r.statement { reportLines.insert("\(s.file):\(s.line)") }
    }
    var seen: Set<PageHistoryEvent> = []
    for r in reports {
      let file = r.statement?.file
      for m in r.mappings {
        let e = PageHistoryEvent(
          event: "map", file: m.file, line: m.line,
          text: "mapped in \(m.domain) at iova \(m.iova), size \(m.size.hexAlt)", domain: m.domain,
          iova: m.iova.rawValue)
        if seen.insert(e).inserted { add(e) }
      }
      if let f = r.freedAt {
        let e = PageHistoryEvent(
          event: "free", file: f.file, line: f.line, text: "freed \(f.description)", task: f.task)
        if seen.insert(e).inserted { add(e) }
      }
      if let a = r.reallocatedAt, r.freedAt != nil {
        let e = PageHistoryEvent(
          event: "alloc", file: a.file, line: a.line, text: "allocated again \(a.description)", task: a.task)
        if seen.insert(e).inserted { add(e) }
      }
      for d in r.details where d.key.hasSuffix(" line") {
        guard case .int(let n) = d.value, let line = Int(exactly: n), line > 0 else { continue }
        let name = String(d.key.dropLast(5))
        guard let file, !reportLines.contains("\(file):\(line)") else { continue }
        let e = traceEvent(name, line: line, file: file, report: r)
        if seen.insert(e).inserted { add(e) }
      }
      let e = PageHistoryEvent(
        event: "report", file: r.statement?.file, line: r.statement?.line, text: r.kind.rawValue, task: r.task,
        device: r.device)
      if seen.insert(e).inserted { add(e) }
    }
    return events.sorted { ($0.line, $0.order) < ($1.line, $1.order) }.map(\.event)
  }

  /// An event a report's details place on a trace line (`map line 12`,
  /// with `map ts` and `map pid` beside it).
  private static func traceEvent(_ name: String, line: Int, file: String, report r: Report) -> PageHistoryEvent {
    func detail(_ key: String) -> DetailValue? { r.details.first { $0.key == "\(name) \(key)" }?.value }
    var text = name
    if case .string(let ts) = detail("ts") { text += " at ts \(ts)" }
    if case .string(let event) = detail("event") { text += " (\(event))" }
    var task: EmulatedTask?
    if case .int(let pid) = detail("pid"), let p = Int(exactly: pid) {
      task = EmulatedTask(pid: p, tgid: p, comm: "")
    }
    let event: String =
      if name.hasPrefix("dma") { "dma-api" } else if name.hasSuffix("unmap") { "unmap" } else if name.hasSuffix("map") {
        "map"
      } else if name.contains("free") { "free" } else if name.contains("alloc") { "alloc" } else if name == "fault" {
        "fault"
      } else { name }
    let device = event == "dma-api" || event == "fault" ? r.device : nil
    let domain = event == "map" || event == "unmap" ? r.domain : nil
    return PageHistoryEvent(
      event: event, file: file, line: line, text: text, task: event == "free" ? nil : task, device: device,
      domain: domain, iova: domain == nil ? nil : r.iova?.rawValue)
  }
}
