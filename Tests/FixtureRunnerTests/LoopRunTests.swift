import FixtureRunner
import KernelTypes
import Reports
import Testing

/// `repeat` blocks at run time: each iteration binds and names its own elements.
@Suite struct LoopRunTests {
  /// 256 slots are mapped; only slot 17 is freed while mapped, and the report names it.
  @Test func ringOf256ReportsOneSlot() throws {
    let r = FixtureRunner.run(path: repositoryRoot + "/Fixtures/loops/rx-ring-256.fixture")
    #expect(r.diagnostics.isEmpty && r.failures.isEmpty, "\(r.diagnostics) \(r.failures)")
    #expect(r.reports.map(\.kind) == [.freedWhileMapped])
    let report = try #require(r.reports.first)
    #expect(report.statement?.text == "free_pages rx[17]")
    #expect(r.summary.statements == 3 + 256 * 4 + 1 + 256 + 17 + 238)
    let clean = FixtureRunner.run(path: repositoryRoot + "/Fixtures/loops/rx-ring-256-clean.fixture")
    #expect(clean.reports.isEmpty && clean.failures.isEmpty && clean.diagnostics.isEmpty)
  }

  /// An expectation in the body is checked in every iteration, with its element.
  @Test func expectationPerIteration() {
    let text = """
      iommu v model=vtd
      device nic iommu=v
      repeat 3 as i
        b[i] = alloc_pages
        h[i] = dma_map nic b[i] size=4K
      end
      repeat 3 as i
        free_pages b[i]
        expect report freed-while-mapped page=b[i]
      end
      """
    let r = FixtureRunner.run(file: "loop.fixture", source: Array(text.utf8))
    #expect(r.failures.isEmpty, "\(r.failures)")
    #expect(r.reports.count == 3)
    #expect(r.reports.map { $0.statement?.text ?? "" } == (0..<3).map { "free_pages b[i] (i=\($0))" })
  }

  /// An element the loop never bound is an error at run time; a negative index too.
  @Test func unboundAndNegativeElements() {
    let unbound = FixtureRunner.run(
      file: "u.fixture", source: Array("repeat 2 as i\nb[i] = alloc_pages\nend\nfree_pages b[2]\n".utf8))
    #expect(unbound.diagnostics.map(\.message) == ["use of unbound name 'b[2]'"])
    let negative = FixtureRunner.run(
      file: "n.fixture",
      source: Array("repeat 2 as i\nb[i] = alloc_pages\nend\nrepeat 2 as i\nfree_pages b[i-1]\nend\n".utf8))
    #expect(negative.diagnostics.map(\.message) == ["the index of 'b[i-1]' is negative when i=0"])
  }
}

/// A runner's own statement limit stops a long loop with an error.
@Suite struct RunStatementLimitTests {
  @Test func stopsAtTheLimit() {
    var options = RunOptions()
    options.maximumStatements = 10
    let r = FixtureRunner.run(
      file: "l.fixture", source: Array("repeat 100 as i\nb = alloc_pages\nfree_pages b\nend\n".utf8), options: options)
    #expect(r.summary.statements == 10)
    #expect(r.diagnostics.map(\.message) == ["this run stops after 10 statements (the limit of this runner)"])
  }
}
