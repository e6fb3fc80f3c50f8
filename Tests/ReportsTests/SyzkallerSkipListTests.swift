import Foundation
import KernelTypes
import Reports
import Testing

/// The Swift-side rules iommusan relies on for per-site titles: the whole
/// skip list of syzkaller's Linux parser, and driver symbols it keeps.
@Suite struct SyzkallerSkipListTests {
  /// The list is syzkaller's, verbatim: checked against `pkg/report/linux.go`
  /// of ../shared/tools/syzparse when it is there.
  @Test func skipListIsSyzkallersWhole() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let linux = root.appendingPathComponent("../shared/tools/syzparse/src/pkg/report/linux.go").standardized
    #expect(SyzkallerTitle.skipPatterns.count == 239)
    guard let source = try? String(contentsOf: linux, encoding: .utf8) else { return }
    let start = try #require(source.range(of: "var linuxStackParams = &stackParams{"))
    let list = try #require(source.range(of: "skipPatterns: []string{", range: start.upperBound..<source.endIndex))
    let end = try #require(source.range(of: "\n\t},", range: list.upperBound..<source.endIndex))
    var patterns: [String] = []
    for line in source[list.upperBound..<end.lowerBound].split(separator: "\n") {
      let t = line.trimmingCharacters(in: .whitespaces)
      guard let q = t.first, q == "\"" || q == "`", let close = t.dropFirst().firstIndex(of: q) else { continue }
      patterns.append(String(t[t.index(after: t.startIndex)..<close]).replacingOccurrences(of: "\\\\", with: "\\"))
    }
    #expect(patterns == SyzkallerTitle.skipPatterns)
  }

  /// Names that match a pattern: the examples and more.
  static let skipped = [
    "acme_alloc_pages_buf", "kmalloc_leak_free_pages_b", "vmalloc_test_vfree_buf", "mutex_order_dma_map_h",
    "panic_path_free_pages_x", "list_del_uaf_free_pages_x", "memcpy_overrun_dma_h", "string_io_dma_s",
    "slab_uaf_free_pages_p", "nic_zalloc_buf_c", "queue_work_bug_iommu_map_d", "atomic_inc_race_map_d",
    "acme_test_bit_x",
  ]

  @Test(arguments: skipped)
  func driverSymbolsLeaveTheSkipList(name: String) {
    #expect(SyzkallerTitle.skipMatch(name) != nil, "\(name) should match a pattern as written")
    let symbol = SyzkallerTitle.symbol(name)
    #expect(SyzkallerTitle.skipMatch(symbol) == nil, "\(symbol)")
    #expect(symbol.lowercased() == name.lowercased())
    #expect(SyzkallerTitle.symbol(name) == symbol)
  }

  /// `symbol` remembers its answers for the whole process (issue 15 item 11:
  /// the regex search was a sixth of the fuzzer's time); remembered or not,
  /// and past the 4,096 remembered names, the answer is the same.
  @Test func rememberedSymbolsKeepTheirAnswers() {
    let first = Self.skipped.map { SyzkallerTitle.symbol($0) }
    for i in 0...4096 { _ = SyzkallerTitle.symbol("drv\(i)_alloc_pages_b") }
    #expect(Self.skipped.map { SyzkallerTitle.symbol($0) } == first)
    #expect(SyzkallerTitle.symbol("drv7_alloc_pages_b") == "drv7_Alloc_pages_b")
    #expect(SyzkallerTitle.symbol("acme_alloc_pages_buf") == "acme_Alloc_pages_buf")
  }

  @Test func keptNamesAreUnchanged() {
    for name in ["acme_nvme_free_pages_buf", "granule_16k_exact_free_pages_blk", "acme_dma_0_mm_page_free"] {
      #expect(SyzkallerTitle.skipMatch(name) == nil)
      #expect(SyzkallerTitle.symbol(name) == name)
    }
  }

  /// The parser titles the report after the kept symbol.
  @Test func parserTitlesTheKeptSymbol() throws {
    let parser = try SyzkallerParser()
    var report = GoldenReports.freedWhileMapped
    let symbol = SyzkallerTitle.symbol("kmalloc_leak_alloc_pages_buf")
    report.callTrace[3] = StackFrame(symbol, module: "kmalloc_leak", isGuilty: true)
    #expect(try #require(parser.parse(KernelTextRenderer().render(report))).title == "WARNING in " + symbol)
  }
}
