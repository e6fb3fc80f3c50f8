import Foundation
import Replay
import Reports
import Testing

/// No input traps: random bytes and mutated trace lines are counted and skipped.
@Suite struct RobustnessTests {
  static var fixtureLines: [String] {
    let dir = TraceFixtureTests.directory
    var lines: [String] = []
    for name in TraceFixtureTests.traceNames {
      let text = (try? String(contentsOfFile: dir.appendingPathComponent(name + ".trace").path, encoding: .utf8)) ?? ""
      lines += text.split(separator: "\n").map(String.init)
    }
    return lines
  }

  @Test func randomBytes() {
    var rng = SplitMix64(seed: 1)
    for _ in 0..<50 {
      let bytes = (0..<Int.random(in: 0..<4000, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
      let replayer = TraceReplayer { _ in }
      replayer.consume(bytes)
      let s = replayer.finish()
      // Every newline ends a line, and a last line without one is a line too;
      // each line is classified exactly once.
      let lines = bytes.count { $0 == 0x0A } + (bytes.last.map { $0 != 0x0A } ?? false ? 1 : 0)
      #expect(s.bytes == UInt64(bytes.count))
      #expect(s.lines == lines)
      #expect(s.events + s.malformedLines + s.headerLines + s.blankLines + s.lostEventMarkers == s.lines)
    }
  }

  @Test func mutatedTraceLines() {
    var rng = SplitMix64(seed: 42)
    let lines = Self.fixtureLines
    #expect(lines.count > 50)
    let alphabet = Array("0123456789abcdefx-=:[]() .\t{},|/\u{00e9}\r".utf8)
    var reports = 0
    for round in 0..<200 {
      var out: [UInt8] = []
      for _ in 0..<60 {
        var l = Array(lines[Int.random(in: 0..<lines.count, using: &rng)].utf8)
        for _ in 0..<Int.random(in: 0..<4, using: &rng) where !l.isEmpty {
          let i = Int.random(in: 0..<l.count, using: &rng)
          switch Int.random(in: 0..<4, using: &rng) {
          case 0: l[i] = alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
          case 1: l.remove(at: i)
          case 2: l.insert(alphabet[Int.random(in: 0..<alphabet.count, using: &rng)], at: i)
          default: l = Array(l[..<i])
          }
        }
        out += l
        out.append(0x0A)
      }
      let replayer = TraceReplayer(options: ReplayOptions(pageSize: round % 2 == 0 ? 4096 : 65536, releasedHistory: 8))
      { r in
        reports += 1
        _ = KernelTextRenderer().render(r)
        _ = JSONLinesRenderer().line(r)
      }
      replayer.consume(out)
      let s = replayer.finish()
      #expect(s.events + s.malformedLines + s.headerLines + s.blankLines + s.lostEventMarkers == s.lines)
    }
    #expect(reports > 0)
  }

  @Test func extremeValues() {
    let text = """
        a-1  [000] .....  1.0: map: IOMMU: iova=0xffffffffffffffff paddr=0xffffffffffffffff size=1
        a-1  [000] .....  1.0: map: IOMMU: iova=0x0 paddr=0x1000 size=18446744073709551615
        a-1  [000] .....  1.0: map: IOMMU: iova=0xfffffffffffff000 paddr=0x1000 size=4096
        a-1  [000] .....  1.0: unmap: IOMMU: iova=0x0 size=18446744073709551615 unmapped_size=18446744073709551615
        a-1  [000] .....  1.0: unmap: IOMMU: iova=0xfffffffffffff000 size=4096 unmapped_size=4096
        a-1  [000] .....  1.0: mm_page_free: page=1 pfn=0xffffffffffffffff order=20
        a-1  [000] .....  1.0: mm_page_free: page=1 pfn=0xfffffffffffff order=20
        a-1  [000] .....  1.0: io_page_fault: IOMMU:d x iova=0xffffffffffffffff flags=0xffffffffffffffff
        a-1  [65535] .....  99999999999999999999.999999999999: mm_page_alloc: page=1 pfn=0x1 order=0 migratetype=-1 gfp_flags=
      """
    let (_, s) = TraceReplay.replay(text: text)
    #expect(s.lines == 9)
    // Only the 1-byte map at the top of the address space stays mapped.
    #expect(s.liveMappings == 1)
  }
}
