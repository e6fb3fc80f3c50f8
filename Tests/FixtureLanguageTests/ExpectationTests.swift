import FixtureLanguage
import KernelTypes
import Testing

/// `expect` lines (section 9): forms, attachment and what they do to names.
@Suite struct ExpectationTests {
  func kinds(_ text: String) -> [[FixtureExpectation.Kind]] {
    let parsed = parse(text, preamble: true)
    #expect(parsed.diagnostics.isEmpty, "\(parsed.diagnostics)")
    return parsed.statements.dropFirst(4).map { $0.expectations.map(\.kind) }
  }

  @Test func everyForm() {
    let result = kinds(
      """
      iommu_unmap d iova=0 size=4K
      expect unmapped=4K
      expect report unmap-larger-than-requested domain=d count=1
      iova_to_phys d iova=0
      expect phys=buf+0x10
      dma nic read 0
      expect value=0xff
      expect fault
      free_pages buf
      expect report freed-while-mapped page=buf pfn=0x80000 device=nic
      expect report dma-stale-walk
      x = alloc_pages order=30
      expect error ENOMEM
      flush_tlb_all
      expect no-report
      """)
    let buf = NameReference(name: "buf", location: at(14, 39))
    #expect(
      result == [
        [
          .unmapped(4096),
          .report(
            ExpectedReport(
              kind: .unmapLargerThanRequested, domain: NameReference(name: "d", location: at(7, 50)), count: 1)),
        ],
        [.phys(.name(NameReference(name: "buf", location: at(9, 13)), offset: 16))],
        [.value(0xff), .fault],
        [
          .report(
            ExpectedReport(
              kind: .freedWhileMapped, page: buf, pfn: 0x80000, device: NameReference(name: "nic", location: at(14, 62))
            )),
          .report(ExpectedReport(kind: .dmaStaleWalk)),
        ],
        [.error(.ENOMEM)],
        [.noReport],
      ])
  }

  @Test func expectationCarriesLocationAndText() throws {
    let parsed = parse("flush_tlb_all\n   expect no-report   # why\n")
    let e = try #require(parsed.statements.first?.expectations.first)
    #expect(e.location == at(2, 4))
    #expect(e.text == "expect no-report")
  }

  @Test func expectationsSkipOtherExpectLinesCommentsAndBlankLines() {
    let parsed = parse("flush_tlb_all\nexpect no-report\n\n# note\nexpect no-report\n")
    #expect(
      parsed.diagnostics.map(\.description) == ["t.fixture:5:1: error: duplicate expectation (the same is at line 2)"])
  }

  @Test func everyReportKindIsAccepted() {
    #expect(ReportKind.allCases.count == 31)
    for kind in ReportKind.allCases {
      let parsed = parse("flush_tlb_all\nexpect report \(kind.rawValue)")
      #expect(parsed.statements.first?.expectations.first?.kind == .report(ExpectedReport(kind: kind)))
    }
  }

  @Test(arguments: [
    ("EPERM", Int32(1)), ("ENOENT", 2), ("EIO", 5), ("ENXIO", 6), ("E2BIG", 7), ("ENOEXEC", 8), ("EBADF", 9),
    ("EAGAIN", 11), ("EWOULDBLOCK", 11), ("ENOMEM", 12), ("EACCES", 13), ("EFAULT", 14), ("EBUSY", 16),
    ("EEXIST", 17), ("ENODEV", 19), ("EINVAL", 22), ("ENOSPC", 28), ("ERANGE", 34), ("EOPNOTSUPP", 95),
    ("ENOTSUP", 95), ("EADDRINUSE", 98), ("ETIMEDOUT", 110), ("ENOTSUPP", 524),
  ])
  func errnoNames(_ name: String, _ code: Int32) {
    let parsed = parse("flush_tlb_all\nexpect error \(name)")
    #expect(parsed.statements.first?.expectedError == Errno(name: name, code: code))
    #expect(Errno(named: name)?.code == code)
  }

  @Test func errnoByCodeIsCanonical() {
    #expect(Errno(code: 11)?.name == "EAGAIN")
    #expect(Errno(code: 95)?.name == "EOPNOTSUPP")
    #expect(Errno(code: 9999) == nil)
  }

  @Test func expectAfterAStatementWithAnErrorIsCheckedButDropped() {
    let parsed = parse("free_pages nope\nexpect no-report\nexpect error EWHAT\n")
    #expect(
      parsed.diagnostics.map(\.description) == [
        "t.fixture:1:12: error: use of unbound name 'nope'",
        "t.fixture:3:14: error: unknown errno 'EWHAT' (for example: EINVAL, ENOMEM, EEXIST, EBUSY, ENOENT, ETIMEDOUT)",
      ])
  }

  @Test func expectErrorUnbindsTheName() {
    let parsed = parse(
      """
      p = process
      m = mmap p 1T
      expect error ENOMEM
      munmap m
      """)
    #expect(
      parsed.diagnostics.map(\.description) == [
        "t.fixture:4:8: error: 'm' was bound by a statement that is expected to fail (line 2)"
      ])
    // The failed statement itself is still returned, with its expectation.
    #expect(parsed.statements[1].expectedError == .ENOMEM)
  }

  @Test func expectErrorOnAnUnnamedStatementUnbindsNothing() {
    let parsed = parse("x = alloc_pages\nflush_tlb_all\nexpect error EIO\nfree_pages x\n")
    #expect(parsed.diagnostics.isEmpty)
  }

  @Test func reportFiltersCheckTheirNames() {
    #expect(
      diagnostics("free_pages buf\nexpect report freed-while-mapped page=d device=buf", preamble: true) == [
        "6:39: error: 'd' is a domain (line 3), but 'expect' needs a page block here",
        "6:48: error: 'buf' is a page block (alloc_pages at line 4), but 'expect' needs a device here",
      ])
  }

  @Test func expectValueNeedsARead() {
    #expect(diagnostics("dma nic read buf len=2\nexpect value=0xffff", preamble: true).isEmpty)
  }
}
