import FixtureLanguage
import KernelTypes
import Testing

/// Lexical rules, statement shape, names and locations (section 1).
@Suite struct LanguageTests {
  @Test func commentsBlankLinesAndIndentation() {
    let parsed = parse(
      "# a comment\n\n   \t\n\tflush_tlb_all   # trailing\n    flush_tlb_all#no space needed\n#\n")
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.map(\.line) == [4, 5])
    #expect(parsed.statements.map(\.text) == ["flush_tlb_all", "flush_tlb_all"])
    #expect(parsed.statements.map(\.location) == [at(4, 2), at(5, 5)])
  }

  @Test func tabsSeparateTokens() {
    #expect(operation("iommu_map\td\tiova=0\tphys=buf\tsize=4K") != nil)
  }

  @Test func crlfAndByteOrderMark() {
    var bytes: [UInt8] = [0xEF, 0xBB, 0xBF]
    bytes += Array("iommu m model=vtd\r\nd = domain m\r\nflush_tlb_all".utf8)
    let parsed = FixtureParser.parse(source: bytes, file: "crlf.fixture")
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.map(\.text) == ["iommu m model=vtd", "d = domain m", "flush_tlb_all"])
    #expect(parsed.statements.first?.location == at(1, 1))
  }

  @Test func emptyAndCommentOnlyFiles() {
    for text in ["", "\n", "\n\n\n", "# only a comment", "   "] {
      let parsed = parse(text)
      #expect(parsed.diagnostics.isEmpty && parsed.statements.isEmpty)
      #expect(parsed.cmdline == .defaults)
    }
  }

  @Test func hashInsideAStringIsNotAComment() {
    let parsed = parse(#"p = process comm="a#b" # real comment"#)
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.first?.operation == .process(comm: "a#b"))
    #expect(parsed.statements.first?.text == #"p = process comm="a#b""#)
  }

  @Test func nonASCIIInCommentsAndStringsIsFine() {
    let parsed = parse("p = process comm=\"caf\u{e9}\" # \u{fc}ber \u{1F600}")
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.first?.operation == .process(comm: "caf\u{e9}"))
  }

  @Test func statementCarriesTaskBindingAndLocations() throws {
    let parsed = parse("  @irq_1 x = alloc_pages order=2", preamble: true)
    let s = try #require(parsed.statements.last)
    #expect(parsed.diagnostics.isEmpty)
    #expect(s.location == at(5, 3))
    #expect(s.verbLocation == at(5, 14))
    #expect(s.task == NameReference(name: "irq_1", location: at(5, 4)))
    #expect(s.binding == NameReference(name: "x", location: at(5, 10)))
    #expect(s.definedName == s.binding)
    #expect(s.verb == .allocPages)
    #expect(s.text == "@irq_1 x = alloc_pages order=2")
  }

  @Test func iommuAndDeviceDefineTheirNames() {
    let parsed = parse(preamble)
    #expect(parsed.statements[0].binding == nil)
    #expect(parsed.statements[0].definedName?.name == "mmu0")
    #expect(parsed.statements[1].definedName == NameReference(name: "nic", location: at(2, 8)))
  }

  @Test func bindingVerbsMayBeUnnamed() {
    let parsed = parse("alloc_pages order=1\ndomain mmu0\ndma_map nic buf size=4K\nprocess", preamble: true)
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.suffix(4).allSatisfy { $0.binding == nil })
  }

  @Test func namesMayContainDotsAndDashes() {
    let parsed = parse("rx.ring-0 = alloc_pages\n_t = alloc_pages\nfree_pages rx.ring-0\nfree_pages _t")
    #expect(parsed.diagnostics.isEmpty)
  }

  @Test func aNameEndingInDashDigitsIsTakenWholeWhenBound() {
    // `buf-1` is a binding here, so it is not `buf` minus 1.
    let op = operation("buf-1 = alloc_pages\ncpu_write buf-1 value=0")
    #expect(
      op
        == .cpuWrite(
          address: .name(NameReference(name: "buf-1", location: at(6, 11)), offset: 0), value: 0, width: .doubleword))
    // Without such a binding it is `buf` minus 1.
    let minus = operation("cpu_write buf-1 value=0")
    #expect(
      minus
        == .cpuWrite(
          address: .name(NameReference(name: "buf", location: at(5, 11)), offset: -1), value: 0, width: .doubleword))
  }

  @Test func rebindingRefersToTheLatestBinding() {
    let parsed = parse("x = alloc_pages\nx = vmalloc 4K\nvfree x\nfree_pages x", preamble: true)
    #expect(
      parsed.diagnostics.map(\.description) == [
        "t.fixture:8:12: error: 'x' is a vmalloc area (vmalloc at line 6), but 'free_pages' needs a page block here"
      ])
  }

  @Test func useAfterFreeIsNotAParseError() {
    let parsed = parse("free_pages buf\nfree_pages buf\ncpu_write buf value=1", preamble: true)
    #expect(parsed.diagnostics.isEmpty)
  }

  @Test func aNameIsUnboundInItsOwnStatement() {
    #expect(
      diagnostics("x = domain x") == [
        "1:12: error: use of unbound name 'x': the statement that binds it cannot use it"
      ])
  }

  @Test func statementsAreInFileOrder() {
    let parsed = parse(preamble + "flush_tlb_all\nflush_tlb_all")
    #expect(parsed.statements.map(\.line) == [1, 2, 3, 4, 5, 6])
  }

  // MARK: Numbers, sizes and addresses

  @Test(arguments: [
    ("4096", UInt64(4096)), ("0x1000", 4096), ("0X1000", 4096), ("0xABCdef", 0xabcdef), ("0x8000_0000", 0x8000_0000),
    ("1_000_000", 1_000_000), ("0", 0), ("007", 7), ("18446744073709551615", UInt64.max),
    ("0xffff_ffff_ffff_ffff", UInt64.max),
  ])
  func numbers(_ text: String, _ value: UInt64) {
    #expect(
      operation("cpu_write buf value=\(text)")
        == .cpuWrite(
          address: .name(NameReference(name: "buf", location: at(5, 11)), offset: 0), value: value, width: .doubleword))
  }

  @Test(arguments: [
    ("4096", UInt64(4096)), ("0x1000", 4096), ("4K", 4096), ("2M", 2 << 20), ("1G", 1 << 30), ("1T", 1 << 40),
    ("1_024K", 1 << 20), ("16777215T", 16_777_215 << 40), ("0", 0),
  ])
  func sizes(_ text: String, _ value: UInt64) {
    #expect(operation("v = vmalloc \(text)") == .vmalloc(size: value))
  }

  @Test func addressExpressions() {
    func address(_ text: String) -> AddressExpression? {
      guard case .cpuWrite(let a, _, _)? = operation("cpu_write \(text) value=0") else { return nil }
      return a
    }
    let buf = NameReference(name: "buf", location: at(5, 11))
    #expect(address("0x1000") == .literal(0x1000, location: at(5, 11)))
    #expect(address("2G") == .literal(2 << 30, location: at(5, 11)))
    #expect(address("buf") == .name(buf, offset: 0))
    #expect(address("buf+0x10") == .name(buf, offset: 16))
    #expect(address("buf+4K") == .name(buf, offset: 4096))
    #expect(address("buf-4K") == .name(buf, offset: -4096))
    #expect(address("buf+0x7fff_ffff_ffff_ffff") == .name(buf, offset: Int64.max))
    #expect(address("buf-0x8000_0000_0000_0000") == .name(buf, offset: Int64.min))
    #expect(address("buf+0x10")?.description == "buf+0x10")
    #expect(address("buf-4K")?.description == "buf-0x1000")
    #expect(address("buf+0x10")?.location == at(5, 11))
    #expect(address("buf")?.nameReference == buf)
  }

  @Test func addressResolutionChecksOverflow() {
    let n = NameReference(name: "b", location: at(1, 1))
    #expect(AddressExpression.name(n, offset: 16).resolve(base: 0x1000) == 0x1010)
    #expect(AddressExpression.name(n, offset: -16).resolve(base: 0x1000) == 0xff0)
    #expect(AddressExpression.name(n, offset: -16).resolve(base: 8) == nil)
    #expect(AddressExpression.name(n, offset: 1).resolve(base: .max) == nil)
    #expect(AddressExpression.name(n, offset: Int64.min).resolve(base: .max) == .max - (1 << 63))
    #expect(AddressExpression.literal(5, location: at(1, 1)).resolve(base: 99) == 5)
  }

  @Test func addressKindsPerPosition() {
    let setup = "v = vmalloc 8K\nh = dma_map nic buf size=4K\nc = dma_alloc nic 4K\np = process\nm = mmap p 8K\n"
    // A device may access any address binding.
    for name in ["v", "h", "c", "m", "buf"] {
      #expect(operation(setup + "dma nic read \(name)") != nil, "\(name)")
      #expect(operation(setup + "ats_translate nic \(name)") != nil, "\(name)")
    }
    // An IOVA may be a DMA handle or a page block (IOVA = physical address).
    for name in ["h", "c", "buf"] {
      #expect(operation(setup + "iommu_unmap d iova=\(name) size=4K") != nil, "\(name)")
    }
    #expect(operation(setup + "iommu_unmap d iova=v size=4K") == nil)
    // Physical addresses are page blocks only; kernel virtual ones vmalloc areas only.
    #expect(operation(setup + "h2 = dma_map nic m size=4K") == nil)
    #expect(operation(setup + "flush_tlb_kernel_range buf buf+4K") == nil)
  }

  @Test func mainTaskComm() {
    #expect(ParsedFixture(file: "dir/sva-kva-stale.fixture").mainTaskComm == "sva-kva-stale")
    #expect(ParsedFixture(file: "a-very-long-fixture-name.fixture").mainTaskComm == "a-very-long-fix")
    #expect(ParsedFixture(file: ".hidden").mainTaskComm == ".hidden")
    #expect(ParsedFixture(file: "noext").mainTaskComm == "noext")
  }

  @Test func verbTable() {
    #expect(Verb.allCases.count == 54)
    #expect(Verb(rawValue: "flush_tlb_kernel_range") == .flushTLBKernelRange)
    #expect(
      Verb.allCases.filter { $0.bindingKind != nil }.map(\.rawValue) == [
        "alloc_pages", "vmalloc", "vmalloc_huge", "kmalloc", "domain", "dma_map", "dma_alloc", "dma_map_sg",
        "dma_alloc_pages",
        "process", "mmap", "sva_bind",
      ])
    #expect(Verb.cmdline.section == 2 && Verb.dma.section == 6 && Verb.flrEnd.section == 8 && Verb.expect.section == 9)
  }
}
