import Foundation
import KernelTypes
import Replay
import Reports
import Testing

/// Replay names the traced kernel's release where the trace records it
/// (trace.dat's UNAME option, perf's `# os release :` header), else the
/// default `run` uses.
@Suite struct KernelReleaseTests {
  static let v7 = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/traces/formats/kmem-io.v7.dat")

  static func u16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  static func u32(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  static func u64(_ v: UInt64) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
  static func readU16(_ b: [UInt8], _ at: Int) -> Int { Int(b[at]) | Int(b[at + 1]) << 8 }
  static func readU32(_ b: [UInt8], _ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(b[at + $1]) << (8 * $1) } }
  static func readU64(_ b: [UInt8], _ at: Int) -> Int { (0..<8).reduce(0) { $0 | Int(b[at + $1]) << (8 * $1) } }

  /// The capture with an options section appended that holds a UNAME
  /// option (5), as trace-cmd record's `add_uname()` writes it: the last
  /// section's DONE option is pointed at the new one.
  static func withUname(_ uname: String) throws -> [UInt8] {
    var b = [UInt8](try Data(contentsOf: v7))
    var at = 10
    for _ in 0..<3 {  // version, then endian, long size and page size; compression and its version
      while b[at] != 0 { at += 1 }
      at += 1
      if at < 20 { at += 6 }
    }
    var next = readU64(b, at)
    var doneBody = -1
    while next != 0 {
      let size = readU64(b, next + 8)
      var s = next + 16
      let end = s + size
      next = 0
      while s < end {
        let opt = readU16(b, s)
        let osize = readU32(b, s + 2)
        if opt == 0 {
          doneBody = s + 6
          next = readU64(b, s + 6)
          break
        }
        s += 6 + osize
      }
    }
    try #require(doneBody > 0)
    let text = Array(uname.utf8) + [0]
    let body = u16(5) + u32(UInt32(text.count)) + text + u16(0) + u32(8) + u64(0)
    let section = u16(0) + u16(0) + u32(0) + u64(UInt64(body.count)) + body
    b.replaceSubrange(doneBody..<doneBody + 8, with: u64(UInt64(b.count)))
    return b + section
  }

  @Test func traceDatUnameGivesTheRelease() throws {
    let file = try Self.withUname("Linux acme-host 6.12.9-acme x86_64")
    try file.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> Void in
      let dat = try TraceDat(raw)
      #expect(dat.uname == "Linux acme-host 6.12.9-acme x86_64")
      #expect(dat.release == "6.12.9-acme")
      var reports = 0
      let replayer = TraceReplayer(options: ReplayOptions(traceName: "t.dat")) { _ in reports += 1 }
      var told: [String] = []
      replayer.onKernelRelease = { told.append($0) }
      replayer.consumeTraceDat(raw)
      _ = replayer.finish()
      #expect(replayer.kernelRelease == "6.12.9-acme")
      #expect(told == ["6.12.9-acme"])
    }
  }

  @Test func traceDatWithoutUnameHasNoRelease() throws {
    let data = try Data(contentsOf: Self.v7)
    let release = try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws -> String? in
      try TraceDat(raw).release
    }
    #expect(release == nil)
  }

  @Test(arguments: [
    ("Linux host 6.8.0-49-generic x86_64", "6.8.0-49-generic"), ("Linux host", nil),
    ("Linux host \(String(repeating: "9", count: 65)) x86_64", nil), ("Linux host 6.8\u{7}bad x86_64", nil),
  ])
  func releaseFromUname(uname: String, release: String?) {
    #expect(TraceDat.release(fromUname: uname) == release)
  }

  /// `perf script --header`'s `# os release : %s` (perf's `print_osrelease()`).
  @Test func perfHeaderGivesTheRelease() {
    var told: [String] = []
    let replayer = TraceReplayer(options: ReplayOptions()) { _ in }
    replayer.onKernelRelease = { told.append($0) }
    replayer.consume("# ========\n# hostname : acme\n# os release : 5.10.0-rc7+\n# ========\n#\n")
    _ = replayer.finish()
    #expect(replayer.kernelRelease == "5.10.0-rc7+")
    #expect(told == ["5.10.0-rc7+"])
  }

  /// Without a release in the trace, the renderer's default is `run`'s.
  @Test func defaultIsRuns() {
    #expect(KernelTextRenderer().release == "7.0.11-iommusan")
    #expect(KernelTextRenderer.release() == KernelTextRenderer.release(.newest))
  }
}
