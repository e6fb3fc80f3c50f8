import Foundation
import KernelTypes
import MemoryModel
import Reports
import Testing

@Suite struct JSONLinesTests {
  static let reportKeys = [
    "kind", "source", "headline", "file", "line", "column", "statement", "pid", "tgid", "comm", "cpu", "pfn",
    "phys", "iova", "domain", "device", "pasid", "count", "details", "kernel_log", "warning", "guilty", "call_trace",
    "page_owner",
  ]

  func parse(_ line: String) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
    return try #require(object as? [String: Any])
  }

  @Test(arguments: ReportKind.allCases)
  func everyReportIsOneValidASCIILineWithKeysInOrder(kind: ReportKind) throws {
    let report = GoldenReports.report(kind)
    let rendered = JSONLinesRenderer().render(report)
    #expect(rendered.hasSuffix("\n"))
    let line = String(rendered.dropLast())
    #expect(!line.contains("\n"))
    #expect(line.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f })
    let object = try parse(line)
    #expect(object["kind"] as? String == kind.rawValue)
    #expect(object["source"] as? String == kind.source.rawValue)
    let keys = JSONLinesRenderer().json(report).members.map(\.key)
    let expectedOrder = Self.reportKeys.filter { keys.contains($0) }
    #expect(keys == expectedOrder)
    #expect(Set(keys) == Set(object.keys))
    let guilty = report.callTrace.first { $0.isGuilty }!.function
    #expect(object["guilty"] as? String == guilty)
  }

  @Test func valuesAndTypes() throws {
    let object = try parse(JSONLinesRenderer().line(GoldenReports.freedWhileMapped))
    #expect(object["pfn"] as? Int == 0x80010)
    #expect(object["phys"] as? String == "0x80010000")
    #expect(object["iova"] as? String == "0xfffff000")
    #expect(object["count"] as? Int == 1)
    #expect(object["line"] as? Int == 14)
    #expect(object["column"] as? Int == 1)
    #expect(object["statement"] as? String == "free_pages hmb")
    let details = try #require(object["details"] as? [String: Any])
    #expect(details["order"] as? Int == 0)
    #expect(details["mapped at"] as? String == "Fixtures/acme-nvme-hmb.fixture:9:1")
    let warning = try #require(object["warning"] as? [String: Any])
    #expect(warning["function"] as? String == "__iommu_debug_check_unmapped")
    #expect(warning["line"] as? Int == 91)
    let trace = try #require(object["call_trace"] as? [String])
    #expect(trace.first?.hasPrefix("__iommu_debug_check_unmapped+0x") == true)
    #expect(trace.contains { $0.hasPrefix("acme_nvme_free_host_mem+0x") && $0.hasSuffix(" [acme_nvme]") })
    let owner = try #require(object["page_owner"] as? [String: Any])
    #expect(owner["state"] as? String == "allocated")
    #expect(owner["gfp_mask"] as? String == "0xcc0")
    #expect(owner["free_pid"] as? Int == 1042)
    #expect((owner["alloc_stack"] as? [String])?.first?.hasPrefix("post_alloc_hook+0x") == true)
    let hex = try parse(JSONLinesRenderer().line(GoldenReports.addressOverflow))
    #expect((hex["details"] as? [String: Any])?["size"] as? String == "0x2000")
    #expect(hex["pfn"] == nil)
    #expect(hex["page_owner"] == nil)
  }

  @Test func absentFactsAreOmitted() {
    let report = Report(
      kind: .mappingLeak, headline: "h", warningSite: WarningSite(file: "f.c", line: 1, function: "f"),
      callTrace: [], statement: nil, task: EmulatedTask(pid: 1, tgid: 2, comm: "c", cpu: 3))
    #expect(
      JSONLinesRenderer().line(report)
        == #"{"kind":"mapping-leak","source":"emulator","headline":"h","pid":1,"tgid":2,"comm":"c","cpu":3,"warning":{"file":"f.c","line":1,"function":"f"},"guilty":"f","call_trace":[]}"#
    )
  }

  @Test func escaping() throws {
    #expect(JSONText.quote("") == #""""#)
    #expect(JSONText.quote("a\"b\\c/d") == #""a\"b\\c/d""#)
    #expect(JSONText.quote("\u{8}\u{c}\n\r\t") == #""\b\f\n\r\t""#)
    #expect(JSONText.quote("\u{0}\u{1f}\u{7f}") == #""\u0000\u001f\u007f""#)
    #expect(JSONText.quote("é\u{2028}") == #""\u00e9\u2028""#)
    #expect(JSONText.quote("😀") == #""\ud83d\ude00""#)
    #expect(JSONText.escape("x\"y") == #"x\"y"#)
    let evil = "a\nb\r\u{0}\u{1b}[31m\u{7f}\u{85}\u{2028}\u{202e}\t\"\\ é 😀 e\u{301}"
    let decoded = try JSONSerialization.jsonObject(with: Data(JSONText.quote(evil).utf8), options: .fragmentsAllowed)
    #expect(decoded as? String == evil)
  }

  @Test func hostileReportRoundTrips() throws {
    let evil = "x\n\"\\\u{0}😀"
    let report = Report(
      kind: .dmaUseAfterFree, headline: evil, warningSite: WarningSite(file: evil, line: 0, function: evil),
      callTrace: [StackFrame(evil, module: evil, isGuilty: true)],
      statement: StatementLocation(file: evil, line: -5, column: 0, text: evil),
      task: EmulatedTask(pid: -1, tgid: 0, comm: evil), pfn: PFN(.max), phys: PhysicalAddress(.max),
      iova: IOVA(.max), domain: evil, device: evil, pasid: .max, count: .min,
      details: [Detail(evil, .string(evil)), Detail(evil, .int(.min))])
    let line = JSONLinesRenderer().line(report)
    #expect(line.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f })
    let object = try parse(line)
    #expect(object["headline"] as? String == evil)
    #expect(object["statement"] as? String == evil)
    #expect((object["pfn"] as? NSNumber)?.uint64Value == .max)
    #expect(object["iova"] as? String == "0xffffffffffffffff")
    #expect(object["count"] as? Int == Int(Int64.min))
    #expect(object["pasid"] as? Int == Int(UInt32.max))
  }

  @Test func genericRecords() throws {
    let summary = JSONLinesRenderer.record([
      "summary": ["fixtures": 12, "passed": 11, "failed": 1, "reports": ["freed-while-mapped": 2]],
      "ok": false, "ratio": 0.5, "none": nil,
    ])
    #expect(
      summary
        == #"{"summary":{"fixtures":12,"passed":11,"failed":1,"reports":{"freed-while-mapped":2}},"ok":false,"ratio":0.5,"none":null}"#
    )
    let event = JSONLinesRenderer.record([
      JSONMember("event", "map"), JSONMember("iova", .hex(0x1000)), JSONMember("size", JSONValue(UInt64(4096))),
      JSONMember("names", JSONValue(["a", "b"])),
    ])
    #expect(event == #"{"event":"map","iova":"0x1000","size":4096,"names":["a","b"]}"#)
    let embedded = JSONLinesRenderer.record(["report": JSONLinesRenderer().json(GoldenReports.mappingLeak)])
    let object = try parse(embedded)
    #expect((object["report"] as? [String: Any])?["kind"] as? String == "mapping-leak")
    #expect(JSONValue.double(.nan).serialized == "null")
    #expect(JSONValue.double(-.infinity).serialized == "null")
    #expect(JSONValue.double(1).serialized == "1.0")
    #expect(JSONValue.double(-0.0).serialized == "0")
    #expect(JSONValue.double(1e-7).serialized == "1e-07")
    for d in [1e-7, 1.0, 123.456, 1e300, -2.5e-300] {
      let parsed = try JSONSerialization.jsonObject(
        with: Data(JSONValue.double(d).serialized.utf8), options: .fragmentsAllowed)
      #expect((parsed as? NSNumber)?.doubleValue == d)
    }
    let v: JSONValue = ["a": 1]
    #expect(v["a"] == .int(1))
    #expect(v["b"] == nil)
  }
}
