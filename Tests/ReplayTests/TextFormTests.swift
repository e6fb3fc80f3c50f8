import Foundation
import KernelTypes
import Replay
import Testing

/// The text forms a kernel developer captures besides the plain trace
/// (Fixtures/traces/formats, real captures on this project's Linux 6.18
/// machine, each trimmed to its first events): tracefs options
/// (`latency-format`, `verbose`, `context-info`, `irq-info`, `record-tgid`,
/// `fields`, `stacktrace`), `trace-cmd report` variants (`-l`, `-t`,
/// `--ts-diff`, `-R`, an instance's `NAME:` prefix), `perf script -F`
/// subsets and callchains. Each gives the events of the plain form, or is
/// refused with the option to turn off.
@Suite struct TextFormTests {
  static func records(_ name: String) throws -> [TraceRecord] {
    let text = try String(
      contentsOf: InputFormatTests.formats.appendingPathComponent("formats/" + name), encoding: .utf8)
    return text.split(separator: "\n").compactMap { TraceLine.parse(String($0)).record }
  }

  static func summary(_ name: String) throws -> ReplaySummary {
    try InputFormatTests.replayFile("formats/" + name).summary
  }

  /// What every form prints of an event: its name and fields (the mask named, as in the text).
  static func payload(_ r: TraceRecord) -> String {
    var copy = r
    copy.comm = ""
    copy.pid = 0
    copy.tgid = nil
    copy.cpu = 0
    copy.flags = nil
    copy.timestamp = .zero
    let key = InputFormatTests.key(copy)
    return String(key.split(separator: " ", maxSplits: 4).last ?? "")
  }

  /// The pid, CPU and timestamp (microseconds, rounded as trace-cmd rounds) and the payload.
  static func context(_ r: TraceRecord) -> String {
    let ns = r.timestamp.nanoseconds
    return "\(r.pid) \(r.cpu) \((ns + 500) / 1000) \(payload(r))"
  }

  @Test func tracefsOptionsGiveThePlainEvents() throws {
    let plain = try Self.records("kmem-6.18.plain.trace")
    #expect(plain.count == 120)
    for name in ["latency", "latency-verbose", "tgid", "no-irq-info"] {
      let other = try Self.records("kmem-6.18.\(name).trace")
      #expect(other.map(Self.context) == plain.map(Self.context), "\(name)")
    }
    for name in ["no-context", "fields"] {
      let other = try Self.records("kmem-6.18.\(name).trace")
      #expect(other.map(Self.payload) == plain.map(Self.payload), "\(name)")
    }
    // The latency format's comm is `%8.8s`; verbose prints it whole.
    #expect(try Self.records("kmem-6.18.latency-verbose.trace").map(\.comm) == plain.map(\.comm))
    #expect(try Self.records("kmem-6.18.tgid.trace").allSatisfy { $0.tgid == nil || $0.tgid! >= 0 })
    let formats = [
      "plain": "ftrace", "latency": "ftrace-latency", "latency-verbose": "ftrace-latency",
      "no-context": "ftrace-no-context", "fields": "trace-cmd-raw", "tgid": "ftrace", "no-irq-info": "ftrace",
    ]
    for (name, format) in formats {
      let s = try Self.summary("kmem-6.18.\(name).trace")
      #expect(s.format == format, "\(name)")
      #expect(s.malformedLines == 0, "\(name)")
      #expect(s.events == 120, "\(name)")
    }
  }

  /// The latency format counts from the buffer's start; verbose latency's `[%08llx]` is the
  /// absolute time in microseconds, which replay takes (the plain trace's timestamp).
  @Test func verboseLatencyTakesTheAbsoluteTime() {
    let r = TraceLine.parse(
      "            bash    5202   1 0 00000000 00000000 [309a6ca47] 18.044ms (+0.055ms): "
        + "mm_page_free: page=000000001b2e3319 pfn=0x1486c8 order=0"
    ).record
    #expect(r?.timestamp.description == "13046.827591")
    #expect(r?.cpu == 1 && r?.pid == 5202 && r?.comm == "bash")
    let relative = TraceLine.parse(
      "    bash-5694      0..... 18044us+: mm_page_free: page=000000001b2e3319 pfn=0x1486c8 order=0"
    ).record
    #expect(relative?.timestamp.description == "0.018044")
  }

  /// The latency format's header names the kernel (`# nop latency trace v1.1.5 on 6.18.44-fc-v1272`),
  /// which the reports then print, as with trace.dat's uname and perf's `# os release`.
  @Test func latencyHeaderNamesTheKernel() throws {
    var release: String?
    _ = try TraceReplay.replay(
      path: InputFormatTests.formats.appendingPathComponent("formats/kmem-6.18.latency.trace").path,
      options: ReplayOptions(traceName: "latency"), kernelRelease: { release = $0 }, report: { _ in })
    #expect(release == "6.18.44-fc-v1272")
  }

  @Test func stackTraceEntriesAreSkippedNotMalformed() throws {
    for name in ["stacktrace", "stacktrace-latency"] {
      let s = try Self.summary("kmem-6.18.\(name).trace")
      #expect(s.events == 25, "\(name)")
      #expect(s.malformedLines == 0, "\(name)")
      #expect(s.headerLines > 300, "\(name)")
    }
    #expect(TraceLine.parse(" => trace_event_raw_event_mm_page_alloc+0xb7/0x110 <ffffffff815e4517>").kind == .header)
    #expect(TraceLine.parse("  bash-5694    [000] ..... 13075.721314: <user stack trace>").kind == .header)
    // current_tracer=function beside the events.
    #expect(TraceLine.parse("  bash-5694    [000] ..... 13075.721315: do_sys_open <-__x64_sys_openat").kind == .header)
  }

  @Test func rawHexAndBinaryOutputsAreRefusedWithTheOption() throws {
    for (name, option) in [("raw", "options/raw"), ("hex", "options/hex")] {
      let s = try Self.summary("kmem-6.18.\(name).trace")
      #expect(s.events == 0)
      #expect(s.malformedLines == 20)
      #expect(s.malformed.first?.reason.contains("echo 0 > \(option)") == true, "\(name)")
      #expect(s.exitStatus == 2)
    }
    if case .malformed(let reason) = TraceLine.parse("\u{0}\u{1}\u{2}binary").kind {
      #expect(reason.contains("options/bin"))
    } else {
      Issue.record("binary data is refused")
    }
    // `perf script -F comm,tid,cpu,time,event` prints no fields.
    if case .malformed(let reason) = TraceLine.parse(
      "            perf 20681 [001] 13256.040959:             kmem:mm_page_alloc: "
    ).kind {
      #expect(reason.contains("needs 'trace'"))
    } else {
      Issue.record("an event without its fields is refused")
    }
    // `perf trace` (captured on this machine) leaves out zero fields: refused.
    if case .malformed(let reason) = TraceLine.parse(
      "     0.000 ls/1298 kmem:mm_page_alloc(pfn: 2028592, gfp_flags: 4459968)"
    ).kind {
      #expect(reason.contains("perf script"))
    } else {
      Issue.record("perf trace output is refused")
    }
    if case .malformed(let reason) = TraceLine.parse("PERFILE2h\u{0}\u{0}").kind {
      #expect(reason.contains("perf script -i"))
    } else {
      Issue.record("perf.data is refused")
    }
  }

  @Test func traceCmdReportVariantsGiveTheSameEvents() throws {
    let plain = try Self.records("kmem-instance.report.txt")
    #expect(plain.count == 120)
    for name in [
      "report-l", "report-t", "report-ts-diff", "report-R", "report-R-t", "report-raw-ts", "report-debug", "report-V",
      "report-R-l",
    ] {
      let other = try Self.records("kmem-instance.\(name).txt")
      #expect(other.map(Self.context) == plain.map(Self.context), "\(name)")
      let s = try Self.summary("kmem-instance.\(name).txt")
      #expect(s.malformedLines == 0 && s.events == 120, "\(name)")
    }
    #expect(try Self.summary("kmem-instance.report-l.txt").format == "ftrace-latency")
    // `--debug` ends each event with its record (` [77124:0x3c:24]`), which an iommu payload must not keep.
    let map = TraceLine.parse(
      "  kworker-77 [000] 30.000130: map:                  IOMMU: iova=0x00000000ffff0000 - 0x00000000ffff1000 "
        + "paddr=0x0000000080000000 size=4096 [77124:0x3c:24]")
    #expect(map.record?.fields == .map(iova: 0xffff_0000, paddr: 0x8000_0000, size: 4096, rangeFormat: true))
    #expect(try Self.summary("kmem-instance.report-R.txt").format == "trace-cmd-raw")
  }

  @Test func perfScriptFieldSubsetsGiveTheSameEvents() throws {
    let full = try Self.records("kmem-perf.default.txt")
    #expect(full.count == 100)
    // (file, has pid, has cpu, has time)
    let subsets: [(String, Bool, Bool, Bool)] = [
      ("F-time-event-trace", false, false, true), ("F-comm-tid-time", true, false, true),
      ("F-tid-event-trace", true, false, false), ("F-period", true, true, true), ("F-ip-sym-dso", true, true, true),
      ("F-event-trace", false, false, false), ("F-cpu-time", false, true, true), ("ns", true, true, true),
      ("F-misc", true, true, true),
    ]
    // perf prints microseconds truncated (`--ns` prints them all).
    func key(_ r: TraceRecord, _ pid: Bool, _ cpu: Bool, _ time: Bool) -> String {
      "\(pid ? r.pid : 0) \(cpu ? r.cpu : 0) \(time ? r.timestamp.nanoseconds / 1000 : 0) \(Self.payload(r))"
    }
    for (name, pid, cpu, time) in subsets {
      let other = try Self.records("kmem-perf.\(name).txt")
      #expect(other.map { key($0, pid, cpu, time) } == full.map { key($0, pid, cpu, time) }, "\(name)")
      let s = try Self.summary("kmem-perf.\(name).txt")
      #expect(s.malformedLines == 0 && s.events == 100 && s.format == "perf-script", "\(name)")
    }
    // `perf script --show-lost-events`.
    #expect(
      TraceLine.parse("            perf     0 [001]     0.000000: PERF_RECORD_LOST lost 17").kind
        == .lostEvents(cpu: 1, count: 17))
    let lost = try Self.summary("kmem-perf.lost-events.txt")
    #expect(lost.lostEventMarkers == 3 && lost.lostEvents == 63 + 223 + 77 && lost.malformedLines == 0)
    let g = try Self.summary("kmem-perf.callchain.txt")
    #expect(g.events == 20 && g.malformedLines == 0)
    #expect(g.headerLines > 300)
  }

  /// `ip`, `sym` and `dso` after the fields of an iommu or dma event (whose
  /// parsers want the line to end with the last field) are cut off.
  @Test func perfColumnsAfterTheFieldsAreCutOff() {
    let map = TraceLine.parse(
      "  kworker 20681 [001] 13256.040959:  iommu:map: IOMMU: iova=0x0000000000001000 - 0x0000000000002000 "
        + "paddr=0x0000000080000000 size=4096 ffffffff815e2d91 __traceiter_map+0x41 ([kernel.kallsyms])")
    #expect(map.record?.fields == .map(iova: 0x1000, paddr: 0x8000_0000, size: 4096, rangeFormat: true))
    let unmap = TraceLine.parse(
      "  kworker 20681 [001] 13256.040960:  dma:dma_unmap_phys: 0000:00:01.0 dir=TO_DEVICE dma_addr=1000 size=4096 "
        + "attrs= ffffffff815e2d91")
    #expect(
      unmap.record?.fields == .dma(device: "0000:00:01.0", ranges: [DMARange(address: 0x1000, size: 4096)], phys: nil))
  }

  /// `dma:` events printed field by field: `trace-cmd report -R` (decimal
  /// numbers, `ARRAY[..]` bytes) and `options/fields` (`0x1000 (4096)`,
  /// `00,10,..` bytes), with the 6.18 format's names (`addr`, `lengths`).
  @Test func dmaFieldByFieldFormsMatchThePrintFormat() {
    let text = [
      "k-12 [000] ..... 1.000001: dma_map_sg: 0000:00:01.0 dir=TO_DEVICE nents=2/2 ents=2/2 "
        + "dma_addrs={0x1000,0x3000} sizes={4096,8192} phys_addrs={0x80000000,0x80002000} attrs=",
      "k-12 [000] ..... 1.000002: dma_unmap_phys: 0000:00:01.0 dir=FROM_DEVICE dma_addr=1000 size=4096 attrs=",
      "k-12 [000] ..... 1.000003: dma_unmap_sg: 0000:00:01.0 dir=TO_DEVICE phys_addrs={0x80000000,0x80002000} attrs=",
    ]
    let raw = [
      "k-12 [000] 1.000001: dma_map_sg: device=0000:00:01.0 full_nents=2 full_ents=2 truncated=0 "
        + "phys_addrs=ARRAY[00, 00, 00, 80, 00, 00, 00, 00, 00, 20, 00, 80, 00, 00, 00, 00] "
        + "dma_addrs=ARRAY[00, 10, 00, 00, 00, 00, 00, 00, 00, 30, 00, 00, 00, 00, 00, 00] "
        + "lengths=ARRAY[00, 10, 00, 00, 00, 20, 00, 00] dir=1 attrs=0x0",
      // libtraceevent 1.7 prints `addr` with the print fmt's `%llx`.
      "k-12 [000] 1.000002: dma_unmap_phys: device=0000:00:01.0 addr=1000 size=4096 dir=2 attrs=0x0",
      "k-12 [000] 1.000003: dma_unmap_sg: device=0000:00:01.0 "
        + "addrs=ARRAY[00, 00, 00, 80, 00, 00, 00, 00, 00, 20, 00, 80, 00, 00, 00, 00] dir=1 attrs=0x0",
    ]
    let fields = [
      "k-12 [000] ..... 1.000001: dma_map_sg: device=0000:00:01.0 full_nents=0x2 (2) full_ents=0x2 (2) "
        + "truncated=0x0 (0) phys_addrs=00,00,00,80,00,00,00,00,00,20,00,80,00,00,00,00 "
        + "dma_addrs=00,10,00,00,00,00,00,00,00,30,00,00,00,00,00,00 lengths=00,10,00,00,00,20,00,00 "
        + "dir=0x1 (1) attrs=0x0 (0)",
      "k-12 [000] ..... 1.000002: dma_unmap_phys: device=0000:00:01.0 addr=0x1000 (4096) size=0x1000 (4096) "
        + "dir=0x2 (2) attrs=0x0 (0)",
      "k-12 [000] ..... 1.000003: dma_unmap_sg: device=0000:00:01.0 "
        + "addrs=00,00,00,80,00,00,00,00,00,20,00,80,00,00,00,00 dir=0x1 (1) attrs=0x0 (0)",
    ]
    func parsed(_ lines: [String]) -> [String] {
      lines.map { line in
        guard let r = TraceLine.parse(line).record else { return "not an event: \(line)" }
        return "\(r.eventName) \(r.fields) \(String(describing: r.dmaDirection)) \(r.physAddrs)"
      }
    }
    let expected = parsed(text)
    #expect(expected[0].contains("4096") && expected[0].contains("2147483648"))
    #expect(parsed(raw) == expected)
    #expect(parsed(fields) == expected)
  }

  /// Every iommu, dma and kmem page event of the 6.18 formats (`.ci/trace-forms`: rendered from
  /// each format file's print fmt; a trace.dat v6 written from the same values), in the kernel's
  /// text, the latency format, `options/fields`, `perf script -F ...,ip,sym,dso`, the trace.dat
  /// itself, and trace-cmd 3.1.6's `report` and `report -R` of that trace.dat (which prints the sg
  /// events, whose `__print_array(..., sizeof(u64))` libtraceevent cannot parse, as
  /// `[FAILED TO PARSE]` and their fields): the same events and the same reports in each.
  @Test func everyDMAEventGivesTheSameReportsInEveryForm() throws {
    let names = [
      "dma-6.18-scenario.trace", "dma-6.18-scenario.latency.trace", "dma-6.18-scenario.fields.trace",
      "dma-6.18-scenario.perf-ip-sym.txt", "dma-6.18-scenario.v6.dat", "dma-6.18-scenario.report.txt",
      "dma-6.18-scenario.report-R.txt",
    ]
    func reports(_ name: String) throws -> (ReplaySummary, [String]) {
      let (reports, summary) = try InputFormatTests.replayFile("formats/" + name)
      return (
        summary,
        reports.map {
          "\($0.kind) \($0.finding.pfn.map { String($0.rawValue, radix: 16) } ?? "-") \($0.finding.device ?? "-")"
        }.sorted()
      )
    }
    let (base, baseReports) = try reports(names[0])
    #expect(base.events == 26 && base.malformedLines == 0)
    // Two page reports, the sg unmap's direction, the fault after unmap, and
    // check_sync()'s two syncs of the address after its unmap.
    #expect(baseReports.count == 6)
    #expect(baseReports.filter { $0.hasPrefix("dmaSyncNotMapped") }.count == 2)
    #expect(base.eventCounts.count == 24)
    for name in names.dropFirst() {
      let (s, r) = try reports(name)
      #expect(s.malformedLines == 0, "\(name)")
      #expect(s.eventCounts == base.eventCounts, "\(name)")
      #expect(r == baseReports, "\(name)")
    }
    let failed = try String(
      contentsOf: InputFormatTests.formats.appendingPathComponent("formats/dma-6.18-scenario.report.txt"),
      encoding: .utf8)
    #expect(failed.contains("dma_map_sg:           [FAILED TO PARSE] device="))
    #expect(try Self.summary("dma-6.18-scenario.report.txt").format == "trace-cmd")
    #expect(try Self.summary("dma-6.18-scenario.report-R.txt").format == "trace-cmd-raw")
    #expect(try Self.summary("dma-6.18-scenario.v6.dat").format == "trace.dat v6")
  }

  /// `trace_clock` counter and x86-tsc (no fraction; the latency format's ` %4lld: ` and verbose
  /// `[%016llx] %lld (+%lld): `), captured on this machine: the same events in each form.
  @Test func clocksWithoutNanosecondsInEveryForm() throws {
    for clock in ["counter", "x86-tsc"] {
      let plain = try Self.records("kmem-6.18.clock-\(clock).trace")
      #expect(plain.count == 40)
      for form in ["-lat", "-latv"] {
        let other = try Self.records("kmem-6.18.clock-\(clock)\(form).trace")
        #expect(
          other.map { "\($0.pid) \($0.cpu) \(Self.payload($0))" }
            == plain.map { "\($0.pid) \($0.cpu) \(Self.payload($0))" }, "\(clock)\(form)")
        let s = try Self.summary("kmem-6.18.clock-\(clock)\(form).trace")
        #expect(s.malformedLines == 0 && s.format == "ftrace-latency", "\(clock)\(form)")
      }
    }
  }
}
