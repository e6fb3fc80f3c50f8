import FixtureRunner
import KernelTypes
import Reports
import Testing

/// Bugs the allocators catch: `run` exits 1 with the report and no errno;
/// the near misses exit 0.
@Suite struct AllocatorBugTests {
  @Test(arguments: [
    ("Fixtures/allocator/page-double-free.fixture", ReportKind.pageDoubleFree),
    ("Fixtures/allocator/page-double-free-reallocated.fixture", .pageDoubleFree),
    ("Fixtures/allocator/vfree-twice.fixture", .vfreeNonexistentArea),
    ("Fixtures/allocator/free-domain-twice.fixture", .domainUseAfterFree),
    ("Fixtures/allocator/dma-map-beyond-allocation.fixture", .dmaMapBeyondAllocation),
  ])
  func reportedWithExitStatus1(path: String, kind: ReportKind) {
    let r = FixtureRunner.run(path: repositoryRoot + "/" + path)
    #expect(r.exitStatus == 1)
    #expect(r.reports.first?.kind == kind)
    #expect(r.outcomes.allSatisfy { $0.error == nil }, "no statement fails with an errno")
  }

  @Test(arguments: [
    "Fixtures/allocator/page-free-once.fixture", "Fixtures/allocator/vfree-once.fixture",
    "Fixtures/allocator/free-domain-once.fixture", "Fixtures/allocator/dma-map-within-allocation.fixture",
  ])
  func nearMissExits0(path: String) {
    let r = FixtureRunner.run(path: repositoryRoot + "/" + path)
    #expect(r.exitStatus == 0)
    #expect(r.reports.isEmpty)
  }

  /// The device's write lands in a page that was free when the mapping was
  /// made: the ground truth blames no free and no reallocation.
  @Test func groundTruthBlamesNoFreeThatDidNotHappen() throws {
    let r = FixtureRunner.run(path: repositoryRoot + "/Fixtures/allocator/dma-map-beyond-allocation.fixture")
    let uaf = try #require(r.reports.first { $0.kind == .dmaUseAfterFree })
    #expect(uaf.freedAt == nil && uaf.reallocatedAt == nil)
    #expect(uaf.headline.contains("was free when the translation was made"))
    #expect(!uaf.headline.contains("freed and allocated again"))
    let text = KernelTextRenderer().render(uaf)
    #expect(!text.contains("__arm_lpae"), "a VT-d machine allocates its tables through pfn_to_dma_pte()")
    #expect(text.contains("pfn_to_dma_pte"))
  }
}

/// `free_pages pfn=`, `bad_page()`'s rate limit and taint.
@Suite struct AllocatorPFNAndRateLimitTests {
  func run(_ path: String, _ options: RunOptions = RunOptions()) -> FixtureResult {
    FixtureRunner.run(path: repositoryRoot + "/" + path, options: options)
  }

  @Test func freeOfANeverAllocatedPageAndOfATailPage() {
    let r = run("Fixtures/allocator/free-never-allocated.fixture")
    #expect(r.passed && r.exitStatus == 1)
    let pages = r.reports.map { $0.details.first { $0.key == "page" }?.value }
    #expect(pages == [.string("never allocated"), .string("tail page of a live allocation")])
    #expect(r.reports.allSatisfy { $0.kind == .pageFreeNeverAllocated && $0.headline.contains("VM_BUG_ON_PAGE") })
    // The kernel's text is a double free's; only the kind differs.
    let text = RunOutputRenderer(format: .kernel).stdout(r)
    #expect(text.contains("page_owner info is not present (never set?)"), "the never-allocated page")
    #expect(text.contains("Oops: invalid opcode: 0000 [#1]") && text.contains("Oops: invalid opcode: 0000 [#2]"))
    let near = run("Fixtures/allocator/free-by-pfn-allocated.fixture")
    #expect(near.passed && near.exitStatus == 0 && near.reports.isEmpty)
  }

  @Test func pfnOutsideRAMIsEINVAL() {
    let r = FixtureRunner.run(file: "t.fixture", source: Array("free_pages pfn=0x10\nexpect error EINVAL\n".utf8))
    #expect(r.passed)
    #expect(r.reports.isEmpty)
  }

  @Test func badPageBurstThenSuppressedMessage() throws {
    let r = run("Fixtures/allocator/bad-page-rate-limit.fixture")
    #expect(r.passed)
    #expect(r.reports.count == 61)
    // The line goes with the first report after the quiet minute, before its BUG line.
    let withLine = r.reports.filter { !$0.kernelLog.isEmpty }
    #expect(withLine.count == 1)
    let next = try #require(withLine.first)
    #expect(next.kernelLog == ["BUG: Bad page state: 67 messages suppressed"])
    #expect(next.time == 60_000_000_000 && next == r.reports.last)
    let text = KernelTextRenderer().lines(next)
    #expect(
      text.prefix(2).map { $0 } == [
        "BUG: Bad page state: 67 messages suppressed", "BUG: Bad page state in process bad-page-rate-l  pfn:80081",
      ])
    let near = run("Fixtures/allocator/bad-page-burst-of-60.fixture")
    #expect(near.passed && near.reports.count == 60)
    #expect(near.reports.allSatisfy { $0.kernelLog.isEmpty })
  }

  @Test func suppressedReportIsInThePageHistory() throws {
    var options = RunOptions()
    options.history = ["p[100]"]
    let r = run("Fixtures/allocator/bad-page-rate-limit.fixture", options)
    let life = try #require(r.histories.first)
    #expect(life.events.contains { $0.event == "report" && $0.text.contains("not printed") })
  }

  @Test func laterReportsCarryTheBadPageTaint() {
    let r = run("Fixtures/allocator/free-order-too-large.fixture")
    var log = KernelLog(timestamps: false)
    let texts = r.reports.map { log.report($0) }
    #expect(texts.count == 2)
    #expect(texts[0].contains("Not tainted"))
    #expect(texts[1].contains("Tainted: G    B               7.0.11"))
    #expect(texts[1].contains("Tainted: [B]=BAD_PAGE\n"))
    #expect(log.taints == .badPage)
  }
}

/// What the kernel's log carries from one splat to the next within a run:
/// the die counter, and `add_taint()`'s lock-debugging line.
@Suite struct KernelLogAcrossReportsTests {
  func stdout(_ source: String) -> String {
    let r = FixtureRunner.run(file: "t.fixture", source: Array(source.utf8))
    return RunOutputRenderer(format: .kernel, timestamps: false).stdout(r)
  }

  static func count(_ needle: String, in text: String) -> Int {
    text.components(separatedBy: needle).count - 1
  }

  /// `__die_header()` prints `++die_counter`: the second BUG() of a run is `[#2]`.
  @Test func secondOopsIsNumberTwo() {
    let text = stdout("a = alloc_pages\nb = alloc_pages\nfree_pages a\nfree_pages a\nfree_pages b\nfree_pages b\n")
    #expect(Self.count("Oops: invalid opcode: 0000 [#1] ", in: text) == 1)
    #expect(Self.count("Oops: invalid opcode: 0000 [#2] ", in: text) == 1)
  }

  /// bad_page()'s `add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE)` turns
  /// lock debugging off once: the line follows the first report only, after
  /// its stack and before the iommusan block.
  @Test func lockDebuggingLineOnceAfterTheFirstBadPage() throws {
    let text = stdout(
      "memory 64M\nbuf = alloc_pages order=1\nnext = alloc_pages order=1\nspare = alloc_pages order=2\n"
        + "free_pages spare\nfree_pages buf order=3\n")
    #expect(Self.count("BUG: Bad page state in process", in: text) == 2)
    #expect(Self.count(KernelLog.lockDebuggingOffLine, in: text) == 1)
    let lines = text.split(separator: "\n").map(String.init)
    let at = try #require(lines.firstIndex(of: KernelLog.lockDebuggingOffLine))
    #expect(lines[at - 1] == " </TASK>")
    #expect(lines[at + 1] == "iommusan: bad-page-state (kernel)")
  }

  /// A BUG()'s `oops_enter()` turns lock debugging off silently, so a later
  /// bad_page() prints no line; a WARN (`LOCKDEP_STILL_OK`) leaves it on.
  @Test func oopsTurnsLockDebuggingOffSilently() {
    let bugFirst = stdout(
      "memory 64M\na = alloc_pages\nfree_pages a\nfree_pages a\nbuf = alloc_pages order=1\n"
        + "next = alloc_pages order=1\nfree_pages buf order=2\n")
    #expect(bugFirst.contains("BUG: Bad page state"))
    #expect(!bugFirst.contains(KernelLog.lockDebuggingOffLine))
    let warnFirst = stdout(
      "memory 64M\nbuf = alloc_pages order=2\nfree_pages buf order=1\nb2 = alloc_pages order=1\n"
        + "n2 = alloc_pages order=1\nfree_pages b2 order=2\n")
    #expect(warnFirst.contains("WARNING:") && warnFirst.contains("BUG: Bad page state"))
    #expect(Self.count(KernelLog.lockDebuggingOffLine, in: warnFirst) == 1)
  }

  /// bad_page() clears PageBuddy of the free block head it reports: the
  /// block merges with no buddy afterwards, and a second check passes it.
  @Test func badPageClearsPageBuddy() {
    let r = FixtureRunner.run(path: repositoryRoot + "/Fixtures/allocator/bad-page-clears-buddy.fixture")
    #expect(r.passed)
    #expect(r.reports.map(\.kind) == [.badPageState, .pageFreeWrongOrder])
  }
}
