import Conformance
import FixtureRunner
import KernelTypes
import Testing

@Suite struct ConformanceTests {
  /// Depth 2 (depth 3 adds 7.0.0's unmap_end without unmap_begin) on a generic_pt format and a 16K-granule io-pgtable-arm one,
  /// exact accounting and the kernel's before and after the 7.0.11 fixes.
  static let result: ConformanceResult = {
    var options = ConformanceOptions(depth: 2)
    options.formats = ConformanceFormat.all.filter { ["vtd", "smmuv3-16K"].contains($0.name) }
    options.accountings = [
      ConformanceAccounting(.exact), ConformanceAccounting(.kernel, kernel: KernelVersion(7, 0, 0)),
      ConformanceAccounting(.kernel, kernel: KernelVersion(7, 0, 11)),
    ]
    return Conformance.check(options)
  }()

  @Test func findsTheBlindSpotsAndTheInertHooksAndNothingElse() {
    let r = Self.result
    #expect(r.unexplained.isEmpty)
    #expect(!r.classes.contains { $0.key.accounting == .exact })
    let names = Set(r.classes.compactMap { $0.explanation?.name })
    #expect(
      names == [
        "blind spot: granule above PAGE_SIZE", "blind spot: unmap larger than requested",
        "7.0.0: the map hook is never called", "7.0.0: a failed classic map returns 0 and is counted",
      ])
    let larger = r.classes.first { $0.explanation?.name == "blind spot: unmap larger than requested" }
    #expect(larger?.formats == ["vtd"])
    #expect(larger?.kernels == [KernelVersion(7, 0, 11)])
    #expect(larger?.pages == 511)
    let granule = r.classes.first { $0.explanation?.name == "blind spot: granule above PAGE_SIZE" }
    #expect(granule?.formats == ["smmuv3-16K"])
    #expect(granule?.pages == 3)
  }

  @Test func examplesRunAsFixtures() {
    for c in Self.result.classes {
      let text = c.exampleFixture
      let run = FixtureRunner.run(file: "example.fixture", source: Array(text.utf8))
      #expect(run.passed, "\(text)\(run.failures)")
    }
    // The unmap-larger example ends with the kernel's false positives: 511 pages still counted.
    let larger = Self.result.classes.first { $0.key.trigger == .unmapLarger && !$0.key.hooks700 }
    #expect(larger?.exampleFixture.contains("expect report freed-while-mapped count=511") == true)
  }

  @Test func sequencesAreDeduplicated() {
    let r = Self.result
    #expect(r.states < r.sequences)
    #expect(r.sequences > 0)
  }
}

/// Issue 20 item 5: 7.0.0's classic ops lose a failed map's errno (`if (!ret) return ret;`, 6fc7e8a3b811).
@Suite struct LostMapErrorTests {
  func run(_ kernel: String) -> FixtureResult {
    let text = """
      cmdline "emu.kernel=\(kernel) emu.accounting=kernel"
      iommu smmu0 model=smmuv3
      d = domain smmu0
      a = alloc_pages
      b = alloc_pages order=1
      iommu_map d iova=0x11000 phys=a size=4K
      iommu_map d iova=0x10000 phys=b size=8K

      """
    return FixtureRunner.run(file: "lost.fixture", source: Array(text.utf8))
  }

  @Test func failedClassicMapReturnsZeroIn700() {
    let old = run("7.0.0")
    #expect(old.outcomes.last?.error == nil)
    #expect(old.outcomes.last?.reports.map(\.kind) == [.mapCountUnderflow, .mapCountOverflow])
    let fixed = run("7.0.11")
    #expect(fixed.outcomes.last?.error?.name == "EEXIST")
    #expect(fixed.outcomes.last?.reports.isEmpty == true)
  }
}
