import Foundation
import KernelTypes
import Replay
import Reports
import Testing

/// Parsing on a second thread (`ParsePipeline`) gives exactly the output of
/// the one-thread path: lines across 1 MiB chunk boundaries, CRLF, a line
/// longer than 1 MiB, a last line without a newline, dma arrays, reports.
@Suite struct ParsePipelineTests {
  static func trace() -> String {
    var t = TraceBuilder()
    for i in UInt64(0)..<9000 {
      let iova = 0x10_0000 + (i % 512) << 12
      t.map(iova, 0x8000_0000 + (i % 700) << 12, 4096, cpu: Int(i % 3))
      t.line(
        "dma_map_sg",
        "0000:0\(i % 4):00.0 dir=TO_DEVICE nents=1/1 ents=1/1 dma_addrs={0x\(String(iova, radix: 16))} "
          + "sizes={4096} phys_addrs={0x\(String(0x8000_0000 + (i % 700) << 12, radix: 16))} attrs=",
        cpu: Int(i % 3))
      if i % 7 == 0 { t.free(0x8_0000 + (i % 700)) }  // some freed while mapped
      t.unmap(iova, 4096, cpu: Int(i % 3))
      if i == 4000 { t.lines.append(String(repeating: "x", count: 1_500_000)) }
    }
    return t.lines.joined(separator: "\r\n") + "\r\n" + t.lines[5]
  }

  static func run(_ path: String, thread: Bool) throws -> (String, [String]) {
    var options = ReplayOptions(traceName: "t")
    options.parseThread = thread
    options.parseThreadAlways = thread
    var reports: [String] = []
    let s = try TraceReplay.replay(path: path, options: options) { reports.append(KernelTextRenderer().render($0)) }
    return ("\(s.json)", reports)
  }

  @Test func sameOutputAsOneThread() throws {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pipeline-\(getpid()).trace")
    try Self.trace().write(to: url, atomically: false, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: url) }
    let one = try Self.run(url.path, thread: false)
    let two = try Self.run(url.path, thread: true)
    #expect(!one.1.isEmpty)
    #expect(one.0.contains("line longer than 1 MiB"))
    #expect(one.0 == two.0)
    #expect(one.1 == two.1)
  }

  @Test func aTraceDatOnAPipeAndAMissingFile() throws {
    let dat = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Fixtures/traces/formats/kmem-io.v7.dat")
    let fd = open(dat.path, O_RDONLY)
    defer { close(fd) }
    var options = ReplayOptions(traceName: "-")
    options.parseThreadAlways = true
    let s = try TraceReplay.replay(fileDescriptor: fd, options: options) { _ in }
    #expect(s.format == "trace.dat v7")
    #expect(s.events == 1049)
    #expect(throws: InputFileError.self) {
      try TraceReplay.replay(path: "/nonexistent/trace", options: ReplayOptions()) { _ in }
    }
  }
}
