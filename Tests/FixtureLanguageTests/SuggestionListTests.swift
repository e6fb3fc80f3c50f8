import Testing

@testable import FixtureLanguage

/// Suggestions over a fixed list are remembered per word for the whole
/// process (issue 15 item 11: the fuzzer spent a fifth of its time on edit
/// distances of the same misspellings). The remembered answer is the answer.
@Suite struct SuggestionListTests {
  @Test func rememberedAnswersAreTheAnswers() {
    let list = SuggestionList(Verb.names)
    for word in ["iommu_mpa", "IOMMU_MAP", "dma_unmpa", "zzzz", "ab", "free_page", "iommu_map"] {
      let expected = Suggestion.closest(to: word, among: Verb.names)
      #expect(list.closest(to: word) == expected)
      #expect(list.closest(to: word) == expected, "second lookup of \(word)")
    }
    #expect(list.closest(to: "iommu_mpa") == "iommu_map")
    #expect(list.closest(to: "zzzz_unheard_of") == nil)
    #expect(list.didYouMean("dma_unmpa") == "; did you mean 'dma_unmap'?")
  }

  /// Past the remembered words the memo starts again; answers do not change.
  @Test func moreWordsThanRemembered() {
    let list = SuggestionList(Verb.names)
    for i in 0...SuggestionList.capacity { _ = list.closest(to: "q\(i)x") }
    #expect(list.closest(to: "iommu_mpa") == "iommu_map")
    #expect(list.closest(to: "q1x") == nil)
  }

  /// The parser and the kernel command line use the remembered lists.
  @Test func parserMessagesKeepTheirSuggestions() {
    let lines = Array(repeating: "iommu_mpa d iova=0 phys=0 size=4K", count: 300) + ["IOMMU_MAP d"]
    let parsed = FixtureParser.parse(source: Array(lines.joined(separator: "\n").utf8), file: "t.fixture")
    let messages = parsed.diagnostics.map(\.description)
    #expect(messages.first == "t.fixture:1:1: error: unknown statement 'iommu_mpa'; did you mean 'iommu_map'?")
    #expect(messages.filter { $0.hasSuffix("did you mean 'iommu_map'?") }.count == messages.count)
    let cmdline = Cmdline.parse("iommu.stric=1 iommu.stric=0", file: "t.fixture")
    #expect(cmdline.diagnostics.count == 2)
    #expect(cmdline.diagnostics.allSatisfy { $0.message.contains("did you mean 'iommu.strict'?") })
  }
}
