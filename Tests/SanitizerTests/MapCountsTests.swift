import Dispatch
import Testing

@testable import Sanitizer

/// The page_ext-like count table on its own, against a plain array.
@Suite struct MapCountsTests {
  /// Random range adds over a span that starts off a section and a radix
  /// boundary and crosses several of both; every page's count matches a
  /// plain per-page array, and undoing every add leaves no piece.
  @Test(arguments: [1 as UInt64, 2, 3])
  func rangeAddsMatchAPlainArray(_ seed: UInt64) {
    let span: Range<UInt64> = 70_001..<(70_001 + 300_000)
    let counts = MapCounts(span: span)
    #expect(counts.levels == 4)  // 300,000 -> 4,688 -> 74 -> 2 pieces
    var model = [Int64](repeating: 0, count: span.count)
    var rng = SplitMix64(seed: seed)
    var done: [(UInt64, UInt64, Int64)] = []
    for _ in 0..<300 {
      let lo = span.lowerBound + rng.next() % UInt64(span.count)
      let len = [1, 2, 63, 64, 65, 4095, 4096, 4097, 70_000][Int(rng.next() % 9)]
      let hi = min(span.upperBound, lo + UInt64(len))
      let delta = Int64(rng.next() % 3) + 1
      counts.add(pages: lo, hi, delta)
      for p in lo..<hi { model[Int(p - span.lowerBound)] += delta }
      done.append((lo, hi, delta))
    }
    for _ in 0..<2_000 {
      let p = span.lowerBound + rng.next() % UInt64(span.count)
      #expect(counts.count(page: p) == model[Int(p - span.lowerBound)])
    }
    let window = span.lowerBound + 4000..<span.lowerBound + 4300
    let nonZero = counts.nonZero(pages: window.lowerBound, window.upperBound)
    #expect(nonZero.map(\.pfn) == window.filter { model[Int($0 - span.lowerBound)] != 0 })
    for (lo, hi, delta) in done { counts.add(pages: lo, hi, -delta) }
    #expect(counts.isEmpty)
  }

  /// One page's own piece, and a page total that sums the levels above it.
  @Test func singlePagesAndTotals() {
    let counts = MapCounts(span: 0x80000..<0xC0000)
    #expect(counts.addPiece(page: 0x80005, 1) == 1)
    counts.add(pages: 0x80000, 0x80040, 2)  // one level-1 piece
    #expect(counts.count(page: 0x80005) == 3)
    #expect(counts.add(page: 0x80005, 1) == 4)
    #expect(counts.count(page: 0x80006) == 2)
    #expect(counts.count(page: 0x80040) == 0)
    #expect(counts.pieceCount == 2)
  }

  /// The extremes of a range find a page inside it that differs from its
  /// ends, in a flat block and in one summed page by page.
  @Test func extremesSeeInsideARange() {
    let span: UInt64 = 1 << 28  // 1T of 4K pages
    let counts = MapCounts(span: 0x80000..<0x80000 + span)
    counts.add(pages: 0x80000, 0x80000 + span, 2)  // one level-4 piece: every block flat
    #expect(counts.extremes(pages: 0x80000, 0x80000 + span).map { [$0.min.count, $0.max.count] } == [2, 2])
    _ = counts.addPiece(page: 0x9_0005, 3)
    counts.add(pages: 0xA_0040, 0xA_0080, -5)  // one level-1 piece
    let e = counts.extremes(pages: 0x80000, 0x80000 + span)
    #expect(e?.max.pfn == 0x9_0005 && e?.max.count == 5)
    #expect(e?.min.pfn == 0xA_0040 && e?.min.count == -3)
    #expect(counts.extremes(pages: 0x9_0006, 0xA_0040).map { [$0.min.count, $0.max.count] } == [2, 2])
    #expect(counts.extremes(pages: 0, 0x80000) == nil)
  }

  /// A span of at most 64 pages has one level: a range add is the top
  /// level's loop alone, clipped to the span.
  @Test func oneLevelSpan() {
    let counts = MapCounts(span: 10..<60)
    #expect(counts.levels == 1)
    #expect(counts.add(pages: 0, 1_000_000, 1) == 1)
    #expect(
      counts.count(page: 9) == 0 && counts.count(page: 10) == 1 && counts.count(page: 59) == 1
        && counts.count(page: 60) == 0)
    #expect(counts.pieceCount == 50)
  }

  /// Pages outside online RAM have no page_ext: nothing is counted.
  @Test func outsideTheSpanNothingIsCounted() {
    let counts = MapCounts(span: 0x80000..<0x80100)
    #expect(counts.addPiece(page: 0x7FFFF, 1) == 0)
    #expect(counts.addPiece(page: 0x80100, 1) == 0)
    #expect(counts.add(page: UInt64.max, 1) == 0)
    #expect(counts.count(page: 0x7FFFF) == 0)
    #expect(counts.isEmpty)
    let none = MapCounts(span: 0..<0)
    #expect(none.addPiece(page: 0, 1) == 0)
    #expect(none.isEmpty)
  }

  /// A negative piece, or one near the ceiling, makes every caller check
  /// page totals until it is gone.
  @Test func checksAreForcedByNegativeAndLargePieces() {
    let counts = MapCounts(span: 0..<1 << 20, ceiling: 40)
    #expect(!counts.mayNeedCheck(lastPiece: counts.addPiece(page: 7, 1)))
    _ = counts.addPiece(page: 9, -1)
    #expect(counts.mayNeedCheck(lastPiece: 1))
    _ = counts.addPiece(page: 9, 1)
    #expect(!counts.mayNeedCheck(lastPiece: 1))
    _ = counts.addPiece(page: 11, 40 / Int64(counts.levels) + 1)
    #expect(counts.mayNeedCheck(lastPiece: 1))
  }

  /// Threads add to shared pages and race to allocate fresh sections; no
  /// add is lost.
  @Test func concurrentAddsAreExact() {
    let counts = MapCounts(span: 0..<1 << 22)
    let threads = 4
    let rounds = 2_048
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      for round in 0..<rounds {
        // The first page of a section in the lower half: each is fresh to the first thread there.
        _ = counts.addPiece(page: UInt64(round % 512) << 12, 1)
        counts.add(pages: 3_000_000, 3_000_000 + 64 * 64 + 3, 1)
        _ = counts.addPiece(page: 3_500_000 + UInt64(t), -1)
      }
    }
    for s in 0..<UInt64(512) { #expect(counts.count(page: s << 12) == Int64(threads * rounds / 512)) }
    #expect(counts.count(page: 3_000_000 + 64 * 64 + 2) == Int64(threads * rounds))
    for t in 0..<UInt64(threads) { #expect(counts.count(page: 3_500_000 + t) == -Int64(rounds)) }
  }
}
