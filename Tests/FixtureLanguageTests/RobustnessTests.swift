import FixtureLanguage
import Testing

/// Large, hostile and random inputs give diagnostics, never a crash.
@Suite struct RobustnessTests {
  @Test func hundredThousandStatements() {
    var text = preamble
    for i in 0..<20_000 {
      text += "b\(i) = alloc_pages gfp=GFP_KERNEL|__GFP_ZERO\n"
      text += "iommu_map d iova=0x\(String(i * 4096, radix: 16)) phys=b\(i) size=4K  # map\n"
      text += "dma nic write 0x\(String(i * 4096, radix: 16)) value=\(i)\n"
      text += "iommu_unmap d iova=0x\(String(i * 4096, radix: 16)) size=4K\nexpect unmapped=4K\n"
      text += "free_pages b\(i)\n"
    }
    let parsed = parse(text)
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.count == 100_004)
    #expect(parsed.statements.last?.operation == .freePages(NameReference(name: "b19999", location: at(120_004, 12))))
    #expect(parsed.statements[parsed.statements.count - 2].expectations.map(\.kind) == [.unmapped(4096)])
  }

  @Test func randomBytesNeverCrash() {
    var rng = SplitMix64(seed: 0x5EED)
    for _ in 0..<200 {
      let count = Int.random(in: 0..<2_000, using: &rng)
      var bytes = [UInt8]()
      bytes.reserveCapacity(count)
      for _ in 0..<count { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
      let parsed = FixtureParser.parse(source: bytes, file: "garbage")
      #expect(parsed.statements.count <= count)
    }
  }

  /// Random lines made of the language's own pieces reach deep into the parser.
  @Test func randomTokensNeverCrash() {
    let pieces = [
      "=", "@irq", "@", "#", "\"", "\\", " ", "\t", "buf", "d", "nic", "mmu0", "x", "expect", "report", "error",
      "ENOMEM", "no-report", "fault", "value=", "size=", "iova=", "phys=", "pasid=", "len=", "4K", "0x", "0x1000",
      "-", "+", "_", "99999999999999999999T", "1__0", "2M", "10ms", "read", "write", "populate", "freed-while-mapped",
      "page=", "gfp=", "GFP_KERNEL|", "mmio=", "1-2", "\u{e9}", "\u{0}", "\r", "model=vtd", "granule=64K",
      "pgsizes=4K,2M,", "comm=\"a b\"",
    ] + Verb.allCases.map(\.rawValue)
    var rng = SplitMix64(seed: 42)
    var text = preamble
    for _ in 0..<3_000 {
      let n = Int.random(in: 0..<9, using: &rng)
      for _ in 0..<n {
        text += pieces[Int.random(in: 0..<pieces.count, using: &rng)]
        if Bool.random(using: &rng) { text += " " }
      }
      text += "\n"
    }
    let first = parse(text)
    let second = parse(text)
    #expect(first.diagnostics == second.diagnostics)
    #expect(first.statements == second.statements)
    #expect(first.hasErrors)
  }

  @Test func hostileShapes() {
    let megabyteLine = String(repeating: "x", count: 1 << 20)
    let inputs: [[UInt8]] = [
      Array(megabyteLine.utf8),
      Array(("\"" + megabyteLine).utf8),
      Array(String(repeating: "\n", count: 100_000).utf8),
      Array(String(repeating: "expect no-report\n", count: 10_000).utf8),
      Array(String(repeating: "=", count: 60_000).utf8),
      Array(String(repeating: "a = ", count: 10_000).utf8),
      Array(("cpu_write " + String(repeating: "9", count: 60_000) + " value=1").utf8),
      Array(("free_pages " + String(repeating: "a", count: 60_000)).utf8),
      Array(("x = alloc_pages gfp=" + String(repeating: "|", count: 60_000)).utf8),
      Array(("iommu m model=vtd pgsizes=" + String(repeating: ",", count: 60_000)).utf8),
      Array(("cmdline \"" + String(repeating: "iommu.strict=0 ", count: 4_000) + "\"").utf8),
      [0xEF, 0xBB],
      [0xEF, 0xBB, 0xBF],
      [0x00, 0x0A, 0x00],
      [0xFF, 0xFE, 0x00, 0x66],
      Array("\r\r\r\n\r".utf8),
    ]
    for bytes in inputs {
      let parsed = FixtureParser.parse(source: bytes, file: "hostile")
      _ = parsed.diagnostics.map(\.description)
    }
  }

  @Test func parsingIsDeterministic() {
    let text = preamble + "free_pages nope\nx = alloc_pages\nexpect report bogus\nfree_pages x\nflr nic\n"
    let runs = (0..<5).map { _ in parse(text) }
    for run in runs.dropFirst() {
      #expect(run.diagnostics == runs[0].diagnostics)
      #expect(run.statements == runs[0].statements)
    }
  }
}
