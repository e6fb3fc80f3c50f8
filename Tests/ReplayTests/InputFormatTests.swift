import Foundation
import KernelTypes
import Replay
import Reports
import Testing

/// The input formats replay detects by content: the same events as
/// `trace-cmd report` text, `trace-cmd report -R`, `perf script` and a
/// trace.dat give the same records and the same reports
/// (Fixtures/traces/formats: a real capture of `dd` on Linux 6.18).
@Suite struct InputFormatTests {
  static let formats = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/traces")

  static func replayFile(_ name: String) throws -> (reports: [Report], summary: ReplaySummary) {
    var reports: [Report] = []
    let summary = try TraceReplay.replay(
      path: formats.appendingPathComponent(name).path, options: ReplayOptions(traceName: name)
    ) { reports.append($0) }
    return (reports, summary)
  }

  /// An event as compared across formats: everything but the comm's padding and the flags column.
  static func key(_ r: TraceRecord) -> String {
    let comm = r.comm.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    var fields = "\(r.fields)"
    if case .pageAlloc(let pfn, let order, let gfp, let failed) = r.fields {
      // -R prints the mask as a number.
      var text = gfp
      if gfp.hasPrefix("0x"), let v = UInt64(gfp.dropFirst(2), radix: 16) { text = GFPFlags.traceText(v) }
      fields = "alloc \(pfn) \(order) \(text) \(failed)"
    }
    return "\(comm) \(r.pid) \(r.cpu) \(r.timestamp) \(r.eventName) \(fields)"
  }

  static func records(text name: String) throws -> [String] {
    let text = try String(contentsOf: formats.appendingPathComponent(name), encoding: .utf8)
    return text.split(separator: "\n").compactMap { TraceLine.parse(String($0)).record.map(key) }
  }

  @Test func traceDatTextAndRawGiveTheSameEvents() throws {
    let data = try Data(contentsOf: Self.formats.appendingPathComponent("formats/kmem-dd.v6.dat"))
    let fromDat: [String] = try data.withUnsafeBytes { raw in
      let dat = try TraceDat(raw)
      #expect(dat.version == 6)
      var out: [String] = []
      dat.forEachLine { line in
        out.append(Self.key(TraceLine.parse(String(decoding: line, as: UTF8.self)).record!))
      }
      return out
    }
    let text = try Self.records(text: "formats/kmem-dd.report.txt")
    let raw = try Self.records(text: "formats/kmem-dd.report-raw.txt")
    #expect(fromDat.count == 941)
    #expect(fromDat == text)
    #expect(raw == text)
  }

  /// A version 7 trace.dat captured on this project's machine (Linux 6.18, trace-cmd 3.1.6: tracefs
  /// instance, `trace-cmd extract`, `trace-cmd convert --compression none`, `.ci/trim-trace-dat`),
  /// and `trace-cmd report` of it: the same events, the same lost-event markers, the same summary.
  @Test func traceDatV7MatchesItsReport() throws {
    let data = try Data(contentsOf: Self.formats.appendingPathComponent("formats/kmem-io.v7.dat"))
    let fromDat: [String] = try data.withUnsafeBytes { raw in
      let dat = try TraceDat(raw)
      #expect(dat.version == 7)
      var out: [String] = []
      dat.forEachLine { line in
        if let r = TraceLine.parse(String(decoding: line, as: UTF8.self)).record { out.append(Self.key(r)) }
      }
      return out
    }
    let text = try Self.records(text: "formats/kmem-io.v7.report.txt")
    #expect(fromDat.count == 1049)
    #expect(fromDat == text)
    let dat = try Self.replayFile("formats/kmem-io.v7.dat").summary
    let report = try Self.replayFile("formats/kmem-io.v7.report.txt").summary
    #expect(dat.format == "trace.dat v7")
    #expect(report.format == "trace-cmd")
    #expect(dat.malformedLines == 0 && report.malformedLines == 0)
    #expect(dat.eventCounts == report.eventCounts)
    #expect(dat.reports == 0 && report.reports == 0)
    // `CPU:0 [3422 EVENTS DROPPED]` in the text, the ring buffer's missed-events count in the file.
    #expect(dat.lostEventMarkers == 2 && report.lostEventMarkers == 2)
    #expect(dat.lostEvents == report.lostEvents)
    #expect(report.lostEvents == 3422 + 8921)
  }

  @Test func summariesNameTheFormat() throws {
    let dat = try Self.replayFile("formats/kmem-dd.v6.dat").summary
    let text = try Self.replayFile("formats/kmem-dd.report.txt").summary
    let raw = try Self.replayFile("formats/kmem-dd.report-raw.txt").summary
    let perf = try Self.replayFile("formats/kmem-perf-script.txt").summary
    #expect(dat.format == "trace.dat v6")
    #expect(text.format == "trace-cmd")
    #expect(raw.format == "trace-cmd-raw")
    #expect(perf.format == "perf-script")
    for s in [dat, text, raw, perf] { #expect(s.malformedLines == 0) }
    #expect(dat.eventCounts == text.eventCounts)
    #expect(raw.eventCounts == text.eventCounts)
    #expect(perf.events == 200)
    #expect(dat.json["summary"]?["format"] == .string("trace.dat v6"))
  }

  /// The lines of a text trace in `perf script`'s shape: `comm tid [cpu] ts: system:event: payload`.
  static func perfScript(_ text: String) -> String {
    var out: [String] = []
    for line in text.split(separator: "\n") {
      guard let r = TraceLine.parse(String(line)).record, let colon = line.firstRange(of: "\(r.eventName): ") else {
        continue
      }
      let system =
        r.type.rawValue <= TraceEventType.detachDeviceFromDomain.rawValue
        ? "iommu" : r.type.rawValue <= TraceEventType.mmPageFreeBatched.rawValue ? "kmem" : "dma"
      let cpu = String(r.cpu)
      out.append(
        "\(r.comm) \(r.pid) [\(String(repeating: "0", count: max(0, 3 - cpu.count)) + cpu)] \(r.timestamp): "
          + "\(system):\(r.eventName): " + line[colon.upperBound...])
    }
    return out.joined(separator: "\n") + "\n"
  }

  /// Reports without line numbers (which differ between formats).
  static func comparable(_ reports: [Report]) -> [String] {
    reports.map { r in
      var copy = r
      copy.statement = nil
      copy.finding.details = copy.finding.details.filter { !$0.key.hasSuffix("line") }
      // The guilty frame names the trace line (`kworker+0x90/0x180 -:19`).
      // Verdicts name trace lines too.
      let text = KernelTextRenderer().render(copy).replacing(/at line \d+/, with: "at line N")
      return text.split(separator: "\n").map { line in
        guard let r = line.firstRange(of: " -:") else { return String(line) }
        return String(line[..<r.lowerBound])
      }.joined(separator: "\n")
    }
  }

  @Test func perfScriptGivesTheSameReports() throws {
    let text = try String(
      contentsOf: Self.formats.appendingPathComponent("freed-while-mapped-kmem.trace"), encoding: .utf8)
    let a = TraceReplay.replay(text: text)
    let b = TraceReplay.replay(text: Self.perfScript(text))
    #expect(!a.reports.isEmpty)
    #expect(Self.comparable(a.reports) == Self.comparable(b.reports))
    #expect(b.summary.format == "perf-script")
    #expect(b.summary.malformedLines == 0)
  }

  @Test func perfScriptPidSlashTid() {
    let line = "   kworker/u8:3   412/415  [001] 77.000001:  kmem:mm_page_free: page=0x10 pfn=0x10 order=0"
    let r = TraceLine.parse(line).record
    #expect(r?.comm == "kworker/u8:3")
    #expect(r?.pid == 415)
    #expect(r?.tgid == 412)
    #expect(r?.type == .mmPageFree)
  }

  @Test func rawIOMMUFields() {
    let map = TraceLine.parse(
      "f-1 [000] 1.000001: map: iova=0x0000000000001000 paddr=0x0000000000200000 size=4096")
    #expect(map.record?.fields == .map(iova: 0x1000, paddr: 0x200000, size: 4096, rangeFormat: false))
    let bad = TraceLine.parse("f-1 [000] 1.000001: map: iova=0x1000 size=4096")
    if case .malformed = bad.kind {} else { Issue.record("a map without paddr is malformed") }
  }

  @Test func compressedTraceDatSaysHowToConvert() {
    var bytes: [UInt8] = [0x17, 0x08, 0x44] + Array("tracing".utf8) + Array("7".utf8) + [0, 0, 8, 0, 16, 0, 0]
    bytes += Array("zstd".utf8) + [0] + Array("1.5.4".utf8) + [0] + [UInt8](repeating: 0, count: 8)
    let replayer = TraceReplayer { _ in }
    bytes.withUnsafeBytes { replayer.consumeTraceDat($0) }
    let s = replayer.finish()
    #expect(s.inputError?.contains("trace-cmd convert --compression none") == true)
    #expect(s.exitStatus == 2)
  }

  @Test func truncatedTraceDatIsAnErrorNotATrap() throws {
    let data = try Data(contentsOf: Self.formats.appendingPathComponent("formats/kmem-dd.v6.dat"))
    for cut in [11, 20, 300, 5000, data.count / 2, data.count - 7] {
      let replayer = TraceReplayer { _ in }
      data.prefix(cut).withUnsafeBytes { replayer.consumeTraceDat($0) }
      let s = replayer.finish()
      #expect(s.inputError != nil || s.events <= 941)
    }
  }
}
