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
    #expect(
      parsed.statements.last?.operation
        == .freePages(NameReference(name: "b19999", location: at(120_004, 12)), order: nil))
    #expect(parsed.statements[parsed.statements.count - 2].expectations.map(\.kind) == [.unmapped(4096)])
  }

  /// Random bytes: diagnostics point inside the input, there are no more
  /// statements than lines, and a line that starts with a non-ASCII byte
  /// (neither a comment nor a string) is an error.
  @Test func randomBytesNeverCrash() {
    var rng = SplitMix64(seed: 0x5EED)
    for _ in 0..<200 {
      let count = Int.random(in: 0..<2_000, using: &rng)
      var bytes = [UInt8]()
      bytes.reserveCapacity(count)
      for _ in 0..<count { bytes.append(UInt8.random(in: 0...255, using: &rng)) }
      let parsed = FixtureParser.parse(source: bytes, file: "garbage")
      let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
      #expect(parsed.statements.count <= lines.count)
      for d in parsed.diagnostics {
        #expect((1...lines.count).contains(d.line), "\(d)")
        #expect(d.line > lines.count || (1...lines[d.line - 1].count + 1).contains(d.column), "\(d)")
      }
      let startsWithBOM = bytes.starts(with: [0xEF, 0xBB, 0xBF])
      if !startsWithBOM, lines.contains(where: { ($0.first ?? 0) >= 0x80 }) { #expect(parsed.hasErrors) }
    }
  }

  /// Random lines made of the language's own pieces reach deep into the parser.
  @Test func randomTokensNeverCrash() {
    let pieces =
      [
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

  /// One input of extreme shape and what parsing it must give.
  struct HostileShape: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var statements: Int
    /// How many diagnostics, and the first one as `LINE:COLUMN: SEVERITY: MESSAGE`.
    var diagnosticCount: Int
    var firstDiagnostic: String?
    var testDescription: String { name }

    init(_ name: String, _ text: String, statements: Int = 0, diagnostics: Int = 1, first: String? = nil) {
      self.init(name, Array(text.utf8), statements: statements, diagnostics: diagnostics, first: first)
    }

    init(_ name: String, _ bytes: [UInt8], statements: Int = 0, diagnostics: Int = 1, first: String? = nil) {
      self.name = name
      self.bytes = bytes
      self.statements = statements
      self.diagnosticCount = diagnostics
      self.firstDiagnostic = first
    }

    static let megabyteLine = String(repeating: "x", count: 1 << 20)
    static let all: [HostileShape] = [
      .init("1 MiB line", megabyteLine, first: "1:1: error: line too long (1048576 bytes; the limit is 65536)"),
      .init(
        "1 MiB string", "\"" + megabyteLine, first: "1:1: error: line too long (1048577 bytes; the limit is 65536)"),
      .init("100,000 newlines", String(repeating: "\n", count: 100_000), diagnostics: 0),
      .init(
        "10,000 orphan expects", String(repeating: "expect no-report\n", count: 10_000), diagnostics: 10_000,
        first: "1:1: error: 'expect' has no statement before it to check"),
      .init(
        "60,000 '='", String(repeating: "=", count: 60_000),
        first: "1:1: error: unknown statement '\(String(repeating: "=", count: 48))...'"),
      .init("10,000 bindings", String(repeating: "a = ", count: 10_000), first: "1:5: error: unknown statement 'a'"),
      .init(
        "60,000-digit number", "cpu_write " + String(repeating: "9", count: 60_000) + " value=1",
        first: "1:11: error: number too large: '\(String(repeating: "9", count: 48))...' does not fit in 64 bits"),
      .init(
        "60,000-letter name", "free_pages " + String(repeating: "a", count: 60_000),
        first: "1:12: error: use of unbound name '\(String(repeating: "a", count: 48))...'"),
      .init(
        "60,000 gfp separators", "x = alloc_pages gfp=" + String(repeating: "|", count: 60_000),
        first: "1:21: error: empty flag in gfp= (write gfp=GFP_KERNEL|__GFP_ZERO)"),
      .init(
        "60,000 pgsizes commas", "iommu m model=vtd pgsizes=" + String(repeating: ",", count: 60_000),
        first: "1:27: error: empty entry in pgsizes= (write pgsizes=4K,2M)"),
      .init(
        "4,000 cmdline parameters", "cmdline \"" + String(repeating: "iommu.strict=0 ", count: 4_000) + "\"",
        statements: 1, diagnostics: 0),
      .init(
        "half a BOM", [0xEF, 0xBB],
        first: "1:1: error: unexpected non-ASCII byte 0xef: outside strings and comments only ASCII is allowed"),
      .init("a BOM", [0xEF, 0xBB, 0xBF], diagnostics: 0),
      .init("NULs", [0x00, 0x0A, 0x00], diagnostics: 2, first: "1:1: error: unexpected control character 0x00"),
      .init(
        "UTF-16 BOM", [0xFF, 0xFE, 0x00, 0x66],
        first: "1:1: error: unexpected non-ASCII byte 0xff: outside strings and comments only ASCII is allowed"),
      .init("carriage returns", "\r\r\r\n\r", first: "1:1: error: unexpected control character 0x0d"),
    ]
  }

  /// Inputs of extreme shape give the diagnostics their shape calls for, at
  /// the right place, and no more statements than they hold.
  @Test(arguments: HostileShape.all)
  func hostileShapes(_ shape: HostileShape) {
    let parsed = FixtureParser.parse(source: shape.bytes, file: "t.fixture")
    let diagnostics = parsed.diagnostics.map { String($0.description.dropFirst("t.fixture:".count)) }
    #expect(parsed.statements.count == shape.statements)
    #expect(diagnostics.count == shape.diagnosticCount)
    #expect(diagnostics.first == shape.firstDiagnostic)
  }

  /// The same text gives the same diagnostics and statements every time: the
  /// parser keeps no state between runs.
  @Test func parsingIsDeterministic() {
    let text = "free_pages nope\nx = alloc_pages\nexpect report bogus\nfree_pages x\nflr nic\n"
    #expect(
      diagnostics(text, preamble: true).map { String($0.prefix(40)) } == [
        "5:12: error: use of unbound name 'nope'", "7:15: error: unknown report kind 'bogus'",
      ])
    let runs = (0..<5).map { _ in parse(text, preamble: true) }
    for run in runs.dropFirst() {
      #expect(run.diagnostics == runs[0].diagnostics)
      #expect(run.statements == runs[0].statements)
    }
  }
}
