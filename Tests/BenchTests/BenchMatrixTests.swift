import Testing

@testable import iommusan

@Suite struct BenchMatrixTests {
  typealias Turn = BenchSample.Turn

  func sample(_ turns: [(pair: Int, round: Int, map: Double)]) -> BenchSample {
    var s = BenchSample()
    s.turns = turns.map { Turn(map: $0.map, unmap: $0.map, throughput: 1, round: $0.round, pair: $0.pair) }
    return s
  }

  @Test func pairsTurnsOfTheSamePairAndRound() {
    // Pair 0: ratios 2, 2, 4 (median 2); pair 1: ratios 3, 5 (median 4); pair 2 has no partner.
    let a = sample([(0, 0, 2), (0, 1, 4), (0, 2, 8), (1, 0, 3), (1, 1, 10), (2, 0, 7)])
    let b = sample([(0, 0, 1), (0, 1, 2), (0, 2, 2), (1, 0, 1), (1, 1, 2), (1, 5, 1)])
    let ratio: (Turn, Turn) -> Double = { $0.map / $1.map }
    #expect(BenchMatrix.perPair(a, b, pairs: nil, ratio) == [2, 4])
    #expect(BenchMatrix.paired(a, b, pairs: nil, ratio) == 3)
    #expect(BenchMatrix.paired(a, b, pairs: 1..<2, ratio) == 4)
    #expect(BenchMatrix.paired(a, b, pairs: 3..<4, ratio) == nil)
  }

  @Test func medianIntervalIsDistributionFree() {
    // n = 12: the 3rd lowest to the 3rd highest (P(B(12, 1/2) < 3) = 1.9%).
    let xs = (1...12).map(Double.init).shuffled()
    #expect(BenchMatrix.medianInterval(xs) == 3...10)
    // n = 5 allows no 95% interval: the whole range.
    #expect(BenchMatrix.medianInterval([5, 1, 3, 2, 4]) == 1...5)
    #expect(BenchMatrix.medianInterval([]) == nil)
    #expect(BenchMatrix.medianInterval([.nan, 1]) == 1...1)
  }
}
