import Foundation
import Replay
import Testing

/// `TraceLineParser.fastPrefix` (the one-pass prefix of the kernel's own
/// layout) gives exactly what the general prefix search gives, on every line
/// of every trace fixture and on variants of them built to hit each of its
/// fall-backs (tgid column, perf's `<comm> <tid>`, brackets in the comm,
/// long numbers, missing flags, tabs, nanosecond and counter clocks).
@Suite struct FastPrefixTests {
  static let traces = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/traces")

  static func fixtureLines() throws -> [String] {
    var lines: [String] = []
    for dir in [traces, traces.appendingPathComponent("formats")] {
      let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
      for name in names where name.hasSuffix(".trace") || name.hasSuffix(".txt") {
        let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
        lines += text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      }
    }
    return lines
  }

  static let variants: [String] = [
    "      kworker/u8:3-412 [000] d..1.  1000.000037: mm_page_free: page=ffffea0004000000 pfn=0x100000 order=0",
    "      kworker/u8:3-412 [000] d..1.  1000.000037: kmem:mm_page_free: page=ffffea0004000000 pfn=0x100000 order=0",
    "      kworker/u8:3-412 [000]  1000.000037: mm_page_free: page=ffffea0004000000 pfn=0x100000 order=0",
    "      kworker/u8:3-412 [000] d..1.  1000: mm_page_free: page=ffffea0004000000 pfn=0x100000 order=0",
    "      kworker/u8:3-412 [000] d..1.  1000.123456789123: mm_page_free: page=1 pfn=0x100000 order=0",
    "      kworker/u8:3-412\t[000]\td..1.\t1000.5:\tmm_page_free:\tpage=1 pfn=0x10 order=0",
    "      kworker/u8:3-412 (    412) [000] d..1.  1000.000037: mm_page_free: page=1 pfn=0x10 order=0",
    "      kworker/u8:3-412 (-------) [000] d..1.  1000.000037: mm_page_free: page=1 pfn=0x10 order=0",
    "  dd   7710 [001]  1000.000037: kmem:mm_page_free: page=1 pfn=0x10 order=0",
    "  dd 7710/7711 [001]  1000.000037: kmem:mm_page_free: page=1 pfn=0x10 order=0",
    "  a [b] c-1 [002] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [b] c-1 [002] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [002] x [003] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "-1 [002] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1234567890 [002] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [123456] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [65536] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [65535] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0]....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ..  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ........  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  1234567890123456789.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  99999999999999999999.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  .5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5x: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5: mm_page_free page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5: : page=1",
    "  a-1 [0] ....  5.5: kmem:mm_page_free page=1",
    "  a-1 [0] ....  5.5:",
    "  a-1 [0] ....",
    "  a-1 [0]",
    "  a-1 [0",
    "  a 1 [0] ....  5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "a-1 [0] .... 5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "[0] .... 5.5: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5:x mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5:: mm_page_free: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5",
    "  a-1 [0] ....  5",
    "  a-1 [0] ....  5.5: map:iommu: page=1",
    "  a-1 [0] ....  5.5: map:map: IOMMU: iova=0x1000 paddr=0x2000 size=4096",
    "  a-1 [0] ....  5.5: mm_page_alloc:x page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5: mm_page_allocx: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5: mm_page_alloc:",
    "  a-1 [0] ....  5.5: mm_page_alloc",
    "  a-1 [0] ....  5.5: mm_page_free_batched: page=1 pfn=0x10 order=0",
    "  a-1 [0] ....  5.5: dma_unmap_sg: dev dir=TO_DEVICE phys_addrs={0x1000} attrs=",
    "  a-1 [0] ....  5.5: dma:dma_map_phys: dev dir=TO_DEVICE dma_addr=1000 size=4096 phys_addr=1000 attrs=",
    "  a-1 [0] ....  5.5:\tunmap:\tIOMMU: iova=0x1000 size=4096 unmapped_size=4096",
  ]

  @Test func fastAndGeneralPrefixAgree() throws {
    let lines = try Self.fixtureLines() + Self.variants
    #expect(lines.count > 500)
    var compared = 0
    for line in lines {
      let fast = TraceLine.parse(line)
      let general = TraceLine.parseGeneral(line)
      #expect(fast == general, "\(line)")
      if fast.record != nil { compared += 1 }
    }
    #expect(compared > 400)
  }
}
