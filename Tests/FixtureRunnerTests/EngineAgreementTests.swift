import FixtureLanguage
import FixtureRunner
import Foundation
import KernelTypes
import Replay
import Reports
import Testing

/// The two engines kept honest. Every corpus fixture runs with exact
/// accounting while an `FtraceRecorder` beside the sanitizer writes the
/// machine's map, unmap and page events as ftrace lines; the replay of
/// those lines must report the same (kind, pfn) pairs as the run did, for
/// the kinds both engines see page by page:
///
/// - `freed-while-mapped` and `allocated-while-mapped`: both engines check a
///   page's map count at `mm_page_free` / `mm_page_alloc`.
///
/// The other kinds are not compared:
/// - `map-count-underflow`, `map-count-overflow`: the replay never reports
///   them (an unmap of what no traced map covers is counted in its summary:
///   it was mapped before tracing began; `emu.map_count_max` is the
///   emulator's own ceiling).
/// - `address-overflow`, `unmap-larger-than-requested`: both engines report
///   them, but they name an address, not a page; and the replay reports a
///   larger unmap once per trace, as `WARN_ONCE` would.
/// - `fault-after-unmap`: replay only, from `io_page_fault` lines, which the
///   recorder does not write.
/// - the IOTLB, walk-cache, ATC, DMA-API and ground-truth kinds: the run's
///   own checks, on cache and device state that no trace line carries.
///
/// Fixtures run with `iommu.debug_pagealloc=1 emu.accounting=exact` over
/// their own command line: the replay models the kernel's hooks as always
/// on, and exact accounting is the one that agrees with it page by page
/// (kernel accounting's blind spots are SanitizerTests' subject).
@Suite struct EngineAgreementTests {
  /// One report reduced to what both engines can say.
  struct Pair: Hashable, Comparable, CustomStringConvertible {
    var kind: ReportKind
    var pfn: UInt64
    static func < (a: Pair, b: Pair) -> Bool { (a.kind.rawValue, a.pfn) < (b.kind.rawValue, b.pfn) }
    var description: String { "\(kind.rawValue) pfn 0x\(String(pfn, radix: 16))" }
  }

  /// Where the engines legitimately differ, by fixture: the pairs only the
  /// replay reports, only the run reports, and why.
  struct KnownDifference {
    var replayOnly: Set<Pair> = []
    var runOnly: Set<Pair> = []
    var reason: String
  }

  static let comparedKinds: Set<ReportKind> = [.freedWhileMapped, .allocatedWhileMapped]

  static let knownDifferences: [String: KnownDifference] = [
    "Fixtures/iommu-api/block-over-table-lpae.fixture": KnownDifference(
      replayOnly: [Pair(kind: .freedWhileMapped, pfn: 0x80002)],
      reason: """
        io-pgtable-arm dropped the 4K leaf under the block without an unmap: no trace event says so, and \
        the replay, like the kernel's sanitizer, still counts the page when it is freed
        """),
    "Fixtures/iommu-api/block-over-table-lpae-kernel.fixture": KnownDifference(
      replayOnly: [Pair(kind: .freedWhileMapped, pfn: 0x80001)],
      reason: "as block-over-table-lpae.fixture: the leaf the block replaced was never unmapped in the trace"),
    "Fixtures/iommu-api/mapping-leak-free-domain.fixture": KnownDifference(
      replayOnly: [Pair(kind: .freedWhileMapped, pfn: 0x80002)],
      reason: """
        iommu_domain_free() with a mapping left: exact accounting drops the freed page table's counts, \
        and no trace event tells the replay, which still counts the page when it is freed
        """),
  ]

  static func pairs(_ reports: [Report]) -> Set<Pair> {
    Set(
      reports.compactMap { r in
        guard comparedKinds.contains(r.kind), let pfn = r.pfn else { return nil }
        return Pair(kind: r.kind, pfn: pfn.rawValue)
      })
  }

  /// What the run and the replay of its trace reported, and what the recorder saw.
  struct Comparison {
    var run: Set<Pair>
    var replay: Set<Pair>
    var recorder: FtraceRecorder
    var traceLines: Int
    var summary: ReplaySummary
  }

  static func compare(_ path: String) throws -> Comparison {
    let file = repositoryRoot + "/" + path
    let source = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
    let page = FixtureParser.parse(source: source, file: path).memory.page
    let recorder = FtraceRecorder(pageShift: page.shift)
    var options = RunOptions(cmdline: "iommu.debug_pagealloc=1 emu.accounting=exact")
    options.observer = recorder
    let run = FixtureRunner.run(path: file, options: options)
    var replayed: [Report] = []
    let replayer = TraceReplayer(options: ReplayOptions(pageSize: page.bytes, traceName: path)) { replayed.append($0) }
    let text = recorder.text
    replayer.consume(text)
    let summary = replayer.finish()
    return Comparison(
      run: pairs(run.reports), replay: pairs(replayed), recorder: recorder,
      traceLines: text.count { $0 == "\n" }, summary: summary)
  }

  @Test(arguments: corpus)
  func replayAgreesWithTheRun(_ path: String) throws {
    let c = try Self.compare(path)
    // Every recorded line is an event the replay understood.
    #expect(c.summary.events == c.traceLines)
    #expect(c.summary.malformedLines == 0)
    let replayOnly = c.replay.subtracting(c.run)
    let runOnly = c.run.subtracting(c.replay)
    guard let known = Self.knownDifferences[path] else {
      #expect(
        replayOnly.isEmpty && runOnly.isEmpty,
        """
        the engines disagree on \(path): replay only \(replayOnly.sorted()), run only \(runOnly.sorted()); \
        untraced model events: \(c.recorder.untraced.map(\.why))
        """)
      return
    }
    #expect(replayOnly == known.replayOnly, "\(path): \(known.reason)")
    #expect(runOnly == known.runOnly, "\(path): \(known.reason)")
    // The recorder saw the untraced event behind each replay-only page.
    for p in known.replayOnly {
      #expect(c.recorder.untraced.contains { $0.concerns(pfn: p.pfn) }, "\(path): \(p) has no untraced event")
    }
  }

  /// The comparison is not vacuous: fixtures that free or reallocate a
  /// mapped page give both engines the same reports.
  @Test(arguments: [
    "Fixtures/sanitizer/free-while-mapped.fixture", "Fixtures/sanitizer/allocated-while-mapped.fixture",
    "Fixtures/ground-truth/reallocated-page.fixture",
  ])
  func bothEnginesReport(_ path: String) throws {
    let c = try Self.compare(path)
    #expect(!c.run.isEmpty)
    #expect(c.run == c.replay)
  }
}
