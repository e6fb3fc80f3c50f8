import Testing

@testable import Bench

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
    // n = 6: the whole range (P(B(6, 1/2) < 1) = 1.6%); n = 5 allows none.
    #expect(BenchMatrix.medianInterval([6, 1, 3, 2, 4, 5]) == 1...6)
    #expect(BenchMatrix.medianInterval([5, 1, 3, 2, 4]) == nil)
    #expect(BenchMatrix.medianInterval([]) == nil)
  }

  @Test func spreadFallsBackToTheRange() throws {
    let few = try #require(BenchMatrix.Spread(map: [1.0, 0.9, .nan, 1.2], unmap: [1, 1.1]))
    #expect(!few.isInterval && few.map == 0.9...1.2 && few.unmap == 1...1.1 && few.pairs == 2)
    let many = try #require(BenchMatrix.Spread(map: (1...12).map(Double.init), unmap: (1...12).map(Double.init)))
    #expect(many.isInterval && many.map == 3...10 && many.pairs == 12)
    #expect(BenchMatrix.Spread(map: [1], unmap: [1]) == nil)
  }
}
