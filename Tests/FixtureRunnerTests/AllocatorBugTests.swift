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
