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
  /// On a cache lane (`isCache`): from an IOTLB fill to the last hit that
  /// used it (invalidations are not recorded, so not to the flush).
  package struct Reach: Sendable, Hashable {
    package var lane: Int
    package var from: Int
    /// The step of the unmap (or last hit); nil when the mapping is still live at the end.
    package var to: Int?
    package var iova: UInt64?
    package var isCache = false
  }

  /// Steps drawn per subject; earlier ones are counted, not drawn.
  package static let maximumSteps = 64

  package private(set) var lanes: [Lane] = []
  package private(set) var steps: [Step] = []
  package private(set) var reaches: [Reach] = []
  /// Events older than the steps drawn.
  package private(set) var earlierNotDrawn = 0

  /// The timeline of the reports about one subject, in report order.
  package init(reports: [Report]) {
    let histories = reports.map(\.history).filter { !$0.isEmpty }
    var events = histories.isEmpty ? Self.facts(of: reports) : Self.merge(histories)
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
      guard e.event == "map", let d = e.domain, let devices = attached[d] else { continue }
      let unmap = events[(i + 1)...].firstIndex { $0.event == "unmap" && $0.domain == d && $0.iova == e.iova }
      for dev in devices {
        let lane = Lane(kind: .device, label: dev)
        see(lane)
        spans.append((lane, i, unmap.map { $0 - events.startIndex }, e.iova))
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
      if let last {
        reaches.append(Reach(lane: index[fill.0] ?? 0, from: i, to: last, iova: events[i].iova, isCache: true))
      }
    }
    steps = raw.map { r in
      Step(
        location: r.location, event: r.event, text: r.text, statement: r.location.flatMap { quoted[$0] },
        marks: r.marks.map { Mark(lane: index[$0.0] ?? 0, event: $0.1, lines: $0.2) })
    }
  }

  /// The marks of one event: its lane and shape, then the other actors.
  private static func marks(_ e: PageHistoryEvent, freed: inout Bool) -> [(Lane, String, [String])] {
    let taskLane = e.task.map { Lane(kind: .task, label: $0.comm.isEmpty ? "pid \($0.pid)" : "\($0.comm)/\($0.pid)") }
    let iova = e.iova.map { "iova " + $0.hexAlt } ?? ""
    let allocator = Lane(kind: .allocator, label: "page allocator")
    var marks: [(Lane, String, [String])] = []
    switch e.event {
    case "alloc":
      marks.append((allocator, freed ? "realloc" : "alloc", [freed ? "realloc" : "alloc"]))
      if let taskLane { marks.append((taskLane, "call", [])) }
    case "free":
      freed = true
      marks.append((allocator, "free", ["free"]))
      if let taskLane { marks.append((taskLane, "call", [])) }
    case "map", "unmap":
      let lane =
        taskLane ?? e.domain.map { Lane(kind: .domain, label: "domain \($0)") } ?? Lane(kind: .trace, label: "IOMMU")
      marks.append((lane, e.event, [e.event, e.domain ?? "", iova]))
    case "dma":
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
    case "dma-api", "fault":
      let lane = e.device.map { Lane(kind: .device, label: $0) } ?? Lane(kind: .trace, label: "DMA API")
      marks.append(
        (lane, e.event == "fault" ? "dma" : "map", [e.text.split(separator: " ").prefix(2).joined(separator: " ")]))
    case "invalidation":
      let label = e.cache.map { $0.hasPrefix("ATC") ? "\(e.device ?? "device") ATC" : "\(e.iommu ?? "IOMMU") IOTLB" }
      marks.append((Lane(kind: .cache, label: label ?? "IOTLB"), "inval", ["inval", e.state ?? ""]))
    case "report":
      marks.append((taskLane ?? Lane(kind: .trace, label: "report"), "report", [e.text]))
    default:
      marks.append((taskLane ?? Lane(kind: .trace, label: "trace"), "trace", [e.event]))
    }
    return marks
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
        event: "report", file: r.statement?.file, line: r.statement?.line, text: r.kind.rawValue, task: r.task)
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
