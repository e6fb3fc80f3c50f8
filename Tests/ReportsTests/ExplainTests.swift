import Foundation
import KernelTypes
import Testing

@testable import Reports

@Suite struct ExplainTests {
  @Test(arguments: ReportKind.allCases)
  func everyKindIsExplained(kind: ReportKind) {
    let text = kind.explanation
    #expect(!kind.title.isEmpty)
    #expect(text.hasPrefix("\(kind.rawValue) (\(kind.source.rawValue))\n  "))
    #expect(text.replacingOccurrences(of: "\n  ", with: " ").contains(kind.title))
    for heading in [
      "What happened", "Where a real kernel sees it", "Typical driver bug", "How to fix it", "Assert it in a fixture",
    ] {
      #expect(text.contains("\n\(heading)\n"), "\(kind) lacks \(heading)")
    }
    if kind != .faultAfterUnmap {
      #expect(text.contains("expect report \(kind.rawValue)"))
    }
    #expect(text.hasSuffix("\n"))
    for line in text.split(separator: "\n") {
      #expect(line.count <= 80, "\(kind): long line \(line)")
    }
  }

  /// `Explanations/KIND.md`: a title, the five sections in order, and one file per kind, no other.
  @Test(arguments: ReportKind.allCases)
  func explanationFileHasTheSections(kind: ReportKind) {
    let document = kind.explanationDocument
    #expect(!document.title.isEmpty)
    #expect(
      document.sections.map(\.heading) == [
        "What happened", "Where a real kernel sees it", "Typical driver bug", "How to fix it", "Assert it in a fixture",
      ])
    #expect(document.sections.allSatisfy { !$0.blocks.isEmpty }, "\(kind.rawValue).md has an empty section")
  }

  @Test func oneExplanationFilePerKind() throws {
    var directory = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { directory.deleteLastPathComponent() }
    directory.append(path: "Sources/Reports/Explanations")
    let files = try FileManager.default.contentsOfDirectory(atPath: directory.path)
    #expect(Set(files) == Set(ReportKind.allCases.map { $0.rawValue + ".md" }))
  }

  @Test func titlesMatchTheFixtureLanguageTable() {
    #expect(ReportKind.freedWhileMapped.title == "a page was freed while IOMMU mappings still counted it")
    #expect(ReportKind.dmaUnmapNotMapped.title == "dma_unmap of an address not mapped")
    #expect(Set(ReportKind.allCases.map(\.title)).count == ReportKind.allCases.count)
  }

  @Test func suggestions() {
    #expect(ReportKind.suggest("freed-while-mapped") == .freedWhileMapped)
    #expect(ReportKind.suggest("  Freed_While_Mapped ") == .freedWhileMapped)
    #expect(ReportKind.suggest("freedWhileIOTLBCached") == .freedWhileIOTLBCached)
    #expect(ReportKind.suggest("secondaryTLBStale") == .secondaryTLBStale)
    #expect(ReportKind.suggest("freed-whiel-mapped") == .freedWhileMapped)
    #expect(ReportKind.suggest("fred-while-maped") == .freedWhileMapped)
    #expect(ReportKind.suggest("map-count-undeflow") == .mapCountUnderflow)
    #expect(ReportKind.suggest("map-count-overflow") == .mapCountOverflow)
    #expect(ReportKind.suggest("dma-unmap-missmatch") == .dmaUnmapMismatch)
    #expect(ReportKind.suggest("dma-use-after") == .dmaUseAfterFree)
    #expect(ReportKind.suggest("ats-timeout") == .atsInvalidationTimeout)
    #expect(ReportKind.suggest("leak") == .mappingLeak)
    #expect(ReportKind.suggest("iotlb") == .freedWhileIOTLBCached)
    #expect(ReportKind.suggest("mapped") == nil)  // three kinds have the word
    #expect(ReportKind.suggest("mapping-leaks") == .mappingLeak)
    #expect(ReportKind.suggest("") == nil)
    #expect(ReportKind.suggest("---") == nil)
    #expect(ReportKind.suggest("banana") == nil)
    #expect(ReportKind.suggest("use-after-free") == .dmaUseAfterFree)  // only one kind has all three words
    #expect(ReportKind.suggest("😀\n\u{0}") == nil)
    #expect(ReportKind.suggest(String(repeating: "x", count: 5000)) == nil)
  }
}
