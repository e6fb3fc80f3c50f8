import FixtureLanguage
import KernelTypes
import Testing

@testable import Reports

/// The examples under "Assert it in a fixture" (` ```fixture ` blocks of `Explanations/KIND.md`) are fixture text:
/// each parses, in a context that declares the names it uses without binding them, and asserts its own kind.
@Suite struct ExplainExampleTests {
  /// The names the examples take as given: devices, a domain, a page, a DMA handle, an SVA bond and an mmap.
  static let context = """
    iommu vtd0 model=vtd sva=on
    device nvme0 iommu=vtd0
    device nic0 iommu=vtd0 ats=on
    device dev0 iommu=vtd0 pasid=on
    dom = domain vtd0
    attach nvme0 dom
    buf = alloc_pages
    h = dma_map nvme0 buf size=4K
    task = process
    p = sva_bind dev0 task
    area = mmap task 4K populate
    """

  /// The fixture examples of `kind`'s explanation.
  static func examples(of kind: ReportKind) -> [[String]] {
    kind.explanationDocument.sections.flatMap(\.blocks).compactMap { block in
      if case .code(info: "fixture", let lines) = block { lines } else { nil }
    }
  }

  /// What is wrong with `example` as an example for `kind`: the parser's diagnostics (the example's leading
  /// `cmdline` lines go before the context, where the language wants them), and a missing `expect report KIND`.
  static func problems(of example: [String], for kind: ReportKind) -> [String] {
    let cmdlines = example.prefix { $0.hasPrefix("cmdline ") }
    let lines = cmdlines + context.split(separator: "\n").map(String.init) + example.dropFirst(cmdlines.count)
    let parsed = FixtureParser.parse(text: lines.joined(separator: "\n") + "\n", file: kind.rawValue + ".md")
    var problems = parsed.diagnostics.map { "\($0.severity.rawValue): \($0.message) in '\(lines[$0.line - 1])'" }
    let asserted = parsed.statements.flatMap(\.expectations).compactMap { expectation -> String? in
      if case .report(let report) = expectation.kind { report.kind.rawValue } else { nil }
    }
    if !asserted.contains(kind.rawValue) { problems.append("no 'expect report \(kind.rawValue)'") }
    return problems
  }

  @Test(arguments: ReportKind.allCases)
  func examplesParse(kind: ReportKind) {
    let examples = Self.examples(of: kind)
    // A replayed trace is the only way to see a trace report.
    #expect(examples.count == (kind.source == .trace ? 0 : 1), "\(kind.rawValue): \(examples.count) examples")
    for example in examples {
      #expect(Self.problems(of: example, for: kind) == [], "\(kind.rawValue).md")
    }
  }

  /// The check is not vacuous: a misspelled kind in an example's `expect` line fails it.
  @Test func aMisspelledKindFails() throws {
    let example = try #require(Self.examples(of: .freedWhileMapped).first)
    let misspelled = example.map {
      $0.replacingOccurrences(of: "expect report freed-while-mapped", with: "expect report freed-while-maped")
    }
    #expect(misspelled != example)
    let problems = Self.problems(of: misspelled, for: .freedWhileMapped)
    #expect(problems.contains { $0.hasPrefix("error: unknown report kind 'freed-while-maped'") }, "\(problems)")
  }
}
