import KernelTypes
import Replay
import Reports
import Testing

/// The verdict "unmap never followed by an IOTLB sync" from VT-d's
/// `intel_iommu:cache_tag_flush_*` events (drivers/iommu/intel/trace.h).
@Suite struct IOTLBSyncTests {
  static func verdict(_ t: TraceBuilder) throws -> String {
    let (reports, _) = TraceReplay.replay(text: t.text)
    let r = try #require(reports.first { $0.kind == .faultAfterUnmap })
    guard case .string(let v)? = r.details.first(where: { $0.key == "verdict" })?.value else { return "" }
    return v
  }

  static func flushRange(_ t: inout TraceBuilder, _ start: UInt64, _ last: UInt64) {
    t.line(
      "cache_tag_flush_range",
      "dmar0 0000:03:00.0[0] type iotlb did 2 [0x\(String(start, radix: 16))-0x\(String(last, radix: 16))] "
        + "addr 0x\(String(start, radix: 16)) pages 0x1 mask 0x0")
  }

  @Test func parsesTheThreeEvents() {
    let range = TraceLine.parse(
      "  kworker/1:2-88  [001] .....  5.000100: cache_tag_flush_range: dmar0 0000:03:00.0[0] type iotlb did 2 "
        + "[0xfffff000-0xffffffff] addr 0xfffff000 pages 0x1 mask 0x0")
    #expect(range.record?.fields == .iotlbFlush(device: "0000:03:00.0", start: 0xffff_f000, last: 0xffff_ffff))
    let all = TraceLine.parse(
      "  kworker/1:2-88  [001] .....  5.000100: cache_tag_flush_all: dmar0/0000:03:00.0 type iotlb did 2 pasid 0 ref 1")
    #expect(all.record?.fields == .iotlbFlush(device: "0000:03:00.0", start: 0, last: nil))
    let raw = TraceLine.parse(
      "  kworker/1:2-88  [001] .....  5.000100: cache_tag_flush_range_np: iommu=dmar0 dev=0000:03:00.0 type=0 "
        + "domain_id=2 pasid=0 start=4096 end=8191 addr=4096 pages=1 mask=0")
    #expect(raw.record?.fields == .iotlbFlush(device: "0000:03:00.0", start: 4096, last: 8191))
  }

  @Test func anUnmapNeverSyncedBeforeALateFault() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    Self.flushRange(&t, 0x1000, 0x1fff)  // the trace has flush events, none for this IOVA
    t.unmap(0xffff_f000, 4096)
    t.time += 50_000  // 50 ms: past the flush queue's 10 ms
    t.fault("0000:03:00.0", 0xffff_f000)
    let v = try Self.verdict(t)
    #expect(v.contains("unmap never followed by an IOTLB sync: no intel_iommu:cache_tag_flush_range covering iova"))
  }

  @Test func aSyncedUnmapSaysSo() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.unmap(0xffff_f000, 4096)
    Self.flushRange(&t, 0xffff_f000, 0xffff_ffff)
    t.time += 50_000
    t.fault("0000:03:00.0", 0xffff_f000)
    let v = try Self.verdict(t)
    #expect(v.contains("the IOTLB was flushed after the unmap (intel_iommu:cache_tag_flush_* at line 3)"))
    #expect(!v.contains("never followed"))
  }

  @Test func aFlushAllSyncsAndAFaultInsideTheWindowIsNotClaimed() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.unmap(0xffff_f000, 4096)
    t.line("cache_tag_flush_all", "dmar0/0000:03:00.0 type iotlb did 2 pasid 0 ref 1")
    t.time += 50_000
    t.fault("0000:03:00.0", 0xffff_f000)
    #expect(try Self.verdict(t).contains("flushed after the unmap"))

    var w = TraceBuilder()
    w.map(0xffff_f000, 0x8001_0000, 4096)
    Self.flushRange(&w, 0x1000, 0x1fff)
    w.unmap(0xffff_f000, 4096)
    w.fault("0000:03:00.0", 0xffff_f000)  // 10 us later
    let v = try Self.verdict(w)
    #expect(v.contains("no IOTLB flush of the address yet"))
    #expect(!v.contains("never followed"))
  }

  @Test func withoutFlushEventsNothingIsSaid() throws {
    var t = TraceBuilder()
    t.map(0xffff_f000, 0x8001_0000, 4096)
    t.unmap(0xffff_f000, 4096)
    t.time += 50_000
    t.fault("0000:03:00.0", 0xffff_f000)
    let v = try Self.verdict(t)
    #expect(!v.contains("IOTLB sync") && !v.contains("flushed"))
  }
}
