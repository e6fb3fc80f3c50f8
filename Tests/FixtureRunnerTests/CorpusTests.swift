import FixtureLanguage
import FixtureRunner
import Foundation
import KernelTypes
import Reports
import Testing

/// The repository root, found from this file.
let repositoryRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<3 { url.deleteLastPathComponent() }
  return url.path
}()

/// Every fixture but those of Fixtures/explore, whose task blocks race on
/// purpose: ExploreTests checks them over their schedules.
let corpus: [String] = {
  let (files, _) = fixtureFiles(under: [repositoryRoot + "/Fixtures"])
  return files.map { String($0.dropFirst(repositoryRoot.count + 1)) }.filter { !$0.hasPrefix("Fixtures/explore/") }
}()

@Suite struct CorpusTests {
  /// `iommusan check Fixtures` as a test: every fixture passes.
  @Test(arguments: corpus)
  func fixturePasses(_ path: String) {
    let r = FixtureRunner.run(path: repositoryRoot + "/" + path)
    #expect(r.diagnostics.isEmpty, "\(r.diagnostics.map(\.description))")
    #expect(r.failures.isEmpty, "\(r.failures.map(\.description))")
  }

  @Test func corpusIsLargeAndCoversEveryKind() throws {
    #expect(corpus.count >= 30)
    // Every report kind a fixture can trigger is expected somewhere, and
    // every one also appears in a near miss (a fixture where it is absent).
    var expected: Set<String> = []
    for path in corpus {
      let text = try String(contentsOfFile: repositoryRoot + "/" + path, encoding: .utf8)
      for line in text.split(separator: "\n") where line.contains("expect report ") {
        if let kind = line.split(separator: " ").dropFirst(2).first { expected.insert(String(kind)) }
      }
    }
    let fixtureKinds = ReportKind.allCases.filter { $0 != .faultAfterUnmap }.map(\.rawValue)
    #expect(
      Set(fixtureKinds).subtracting(expected).isEmpty,
      "kinds without a triggering fixture: \(Set(fixtureKinds).subtracting(expected).sorted())")
  }

  /// The same fixture gives byte-identical output every time.
  @Test(arguments: [
    "Fixtures/sva/kva-exploit-none.fixture", "Fixtures/lazy/free-in-flush-window.fixture",
    "Fixtures/reset/flr-timeout-none.fixture",
  ])
  func deterministic(_ path: String) {
    let a = RunOutputRenderer(format: .json).stdout(
      FixtureRunner.run(path: repositoryRoot + "/" + path, options: RunOptions(stats: true)))
    let b = RunOutputRenderer(format: .json).stdout(
      FixtureRunner.run(path: repositoryRoot + "/" + path, options: RunOptions(stats: true)))
    #expect(a == b)
  }
}

/// Golden whole-run output (`iommusan run`, both formats) of one triggering
/// corpus fixture per report kind, in Tests/FixtureRunnerTests/GoldenRunOutput/.
/// `RECORD_GOLDEN=1 swift test` re-records.
@Suite struct GoldenRunTests {
  static let cases: [(kind: String, fixture: String)] = [
    ("freed-while-mapped", "Fixtures/sanitizer/free-while-mapped.fixture"),
    ("allocated-while-mapped", "Fixtures/sanitizer/allocated-while-mapped.fixture"),
    ("map-count-underflow", "Fixtures/sanitizer/underflow-phys-zero-kernel.fixture"),
    ("map-count-overflow", "Fixtures/sanitizer/map-count-overflow.fixture"),
    ("unmap-larger-than-requested", "Fixtures/sanitizer/unmap-larger-vtd.fixture"),
    ("address-overflow", "Fixtures/sanitizer/address-overflow.fixture"),
    ("freed-while-iotlb-cached", "Fixtures/caches/missing-iotlb-sync.fixture"),
    ("freed-while-mapped-uncounted", "Fixtures/sanitizer/granule-16k-kernel-uncounted.fixture"),
    ("page-table-freed-while-cached", "Fixtures/sva/kva-exploit-none.fixture"),
    ("secondary-tlb-stale", "Fixtures/sva/munmap-notifier-deferred-end.fixture"),
    ("ats-invalidation-timeout", "Fixtures/reset/flr-timeout-none.fixture"),
    ("mapping-leak", "Fixtures/iommu-api/mapping-leak-free-domain.fixture"),
    ("dma-unmap-mismatch", "Fixtures/dma-api/unmap-size-mismatch.fixture"),
    ("dma-unmap-not-mapped", "Fixtures/dma-api/double-unmap.fixture"),
    ("dma-use-after-free", "Fixtures/lazy/free-in-flush-window.fixture"),
    ("dma-stale-walk", "Fixtures/sva/kva-exploit-none.fixture"),
    ("page-double-free", "Fixtures/allocator/page-double-free.fixture"),
    ("page-free-never-allocated", "Fixtures/allocator/free-never-allocated.fixture"),
    ("vfree-nonexistent-area", "Fixtures/allocator/vfree-twice.fixture"),
    ("domain-use-after-free", "Fixtures/allocator/free-domain-twice.fixture"),
    ("dma-map-beyond-allocation", "Fixtures/allocator/dma-map-beyond-allocation.fixture"),
    ("bad-page-state", "Fixtures/allocator/free-order-too-large.fixture"),
    ("page-free-wrong-order", "Fixtures/allocator/free-order-too-small.fixture"),
    ("unmap-partial-large-page", "Fixtures/sanitizer/unmap-partial-lpae.fixture"),
    ("reset-prepare-reentry", "Fixtures/reset/prepare-reentry.fixture"),
    ("dma-sync-not-mapped", "Fixtures/dma-api/sync-wrong-direction.fixture"),
    ("dma-sync-mismatch", "Fixtures/dma-api/sync-wrong-direction.fixture"),
    ("dma-neighbour-object-access", "Fixtures/slab/nic-overwrites-neighbour-ops.fixture"),
    ("slab-freed-while-mapped", "Fixtures/slab/kfree-while-mapped.fixture"),
    ("dma-cpu-touch-active-cacheline", "Fixtures/dma-api/cpu-touch-active-cacheline.fixture"),
  ]

  @Test(arguments: cases.map(\.kind))
  func golden(_ kind: String) {
    let fixture = Self.cases.first { $0.kind == kind }!.fixture
    let result = FixtureRunner.run(path: fixture.hasPrefix("/") ? fixture : repositoryRoot + "/" + fixture)
    #expect(result.reports.contains { $0.kind.rawValue == kind })
    for format in OutputFormat.allCases {
      // Paths in the output are made relative so goldens do not depend on the checkout.
      let out = RunOutputRenderer(format: format).stdout(result).replacingOccurrences(
        of: repositoryRoot + "/", with: "")
      let golden =
        repositoryRoot + "/Tests/FixtureRunnerTests/GoldenRunOutput/\(kind).\(format == .kernel ? "txt" : "jsonl")"
      expectGolden(out, file: golden)
    }
  }

  /// Every kernel-text report parses as syzkaller would, with a title that
  /// names the driver's statement, not the detector.
  @Test func titlesNameTheBugSite() {
    var titles: Set<String> = []
    for c in Self.cases {
      let r = FixtureRunner.run(path: repositoryRoot + "/" + c.fixture)
      for report in r.reports where report.kind.rawValue == c.kind {
        let title = KernelTextRenderer.expectedSyzkallerTitle(of: report)
        #expect(!title.contains("iommusan_") && !title.contains("__iommu_debug"), "\(title)")
        titles.insert(title)
      }
    }
    #expect(titles.count >= 13)
  }
}

/// docs/Reports.md carries every kind's `explain` text (regenerate it with
/// `python3 .ci/reports-doc.py`).
@Suite struct ReportsDocTests {
  @Test(arguments: ReportKind.allCases)
  func docHasTheExplanation(_ kind: ReportKind) throws {
    let doc = try String(contentsOfFile: repositoryRoot + "/docs/Reports.md", encoding: .utf8)
    let text = kind.explanation.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(doc.contains(text), "docs/Reports.md is out of date for \(kind.rawValue): python3 .ci/reports-doc.py")
  }
}
