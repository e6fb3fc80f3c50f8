import FixtureLanguage
import Testing

/// The parser reads a fixture as a stream (issue 15 item 5): any split into
/// chunks gives what the whole file gives, line ends, byte-order marks and
/// over-long lines included.
@Suite struct StreamingTests {
  /// Parses `bytes` fed in chunks of `size` bytes.
  static func parse(_ bytes: [UInt8], chunk size: Int) -> ParsedFixture {
    var parser = FixtureParser(file: "t.fixture")
    var start = 0
    bytes.withUnsafeBytes { all in
      while start < all.count {
        let end = min(all.count, start + size)
        parser.consume(UnsafeRawBufferPointer(rebasing: all[start..<end]))
        start = end
      }
    }
    return parser.finish()
  }

  static let inputs: [(String, [UInt8])] = [
    ("preamble and statements", Array((preamble + "dma nic read 0x1000 value=1\nfree_pages buf\nbogus x\n").utf8)),
    ("CRLF and no final line end", Array("iommu a model=vtd\r\ndevice n iommu=a\r\n\r\n  # c\r\nx = alloc_pages".utf8)),
    ("byte-order mark", [0xEF, 0xBB, 0xBF] + Array("iommu a model=vtd\n@ t\n".utf8)),
    ("a lone carriage return", Array("\r".utf8)),
    ("empty", []),
    ("only line ends", Array("\n\n\n".utf8)),
    (
      "over-long lines",
      Array("#".utf8) + [UInt8](repeating: 0x78, count: 70_000) + Array("\r\nx = alloc_pages\n".utf8)
        + [UInt8](repeating: 0x20, count: 65_537) + Array("\n".utf8)
        + [UInt8](repeating: 0x20, count: 65_536) + Array("\r\nfree_pages x\r".utf8)
    ),
  ]

  @Test(arguments: [1, 2, 3, 7, 64, 4096, 65_539, 1 << 20])
  func chunksGiveWhatTheWholeFileGives(_ size: Int) {
    for (name, bytes) in Self.inputs {
      let whole = FixtureParser.parse(source: bytes, file: "t.fixture")
      let chunked = Self.parse(bytes, chunk: size)
      #expect(chunked.statements == whole.statements, "\(name)")
      #expect(chunked.diagnostics == whole.diagnostics, "\(name)")
    }
  }

  /// A line over the limit gives its real length whatever the chunks, without
  /// its carriage return; a line of exactly the limit is fine.
  @Test func overLongLineLength() {
    let bytes = Self.inputs.last!.1
    for size in [1, 100, 1 << 20] {
      #expect(
        Self.parse(bytes, chunk: size).diagnostics.map(\.description) == [
          "t.fixture:1:1: error: line too long (70001 bytes; the limit is 65536)",
          "t.fixture:3:1: error: line too long (65537 bytes; the limit is 65536)",
        ])
      #expect(Self.parse(bytes, chunk: size).statements.count == 2)
    }
  }

  /// A million comment lines leave no statement and no diagnostic.
  @Test func commentsCostNothing() {
    let line = Array("# a comment line of the stream\n".utf8)
    var parser = FixtureParser(file: "t.fixture")
    let block = [UInt8]((0..<1000).flatMap { _ in line })
    for _ in 0..<1000 { block.withUnsafeBytes { parser.consume($0) } }
    let parsed = parser.finish()
    #expect(parsed.statements.isEmpty && parsed.diagnostics.isEmpty)
  }

  /// `len=` takes a size (issue 15 item 8): `len=1G` is the limit its own error names.
  @Test func lenTakesASize() throws {
    for (text, length) in [("1G", UInt64(1) << 30), ("4K", 4096), ("0x10", 16), ("8", 8)] {
      let op = operation("dma nic write 0x10000 len=\(text)")
      guard case .dma(let access)? = op else {
        Issue.record("len=\(text) did not parse")
        continue
      }
      #expect(access.length == length)
    }
  }
}
