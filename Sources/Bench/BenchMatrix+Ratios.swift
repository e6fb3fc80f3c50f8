import Foundation

extension BenchMatrix {
  /// The median of the finite values of `xs`; nil when there are none.
  static func median(_ xs: [Double]) -> Double? {
    let s = xs.filter(\.isFinite).sorted()
    guard !s.isEmpty else { return nil }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
  }

  /// Per worker pair (of those in `pairs`), the median over rounds of `f`
  /// of two variants' turns of the same round.
  static func perPair(
    _ a: BenchSample, _ b: BenchSample, pairs: Range<Int>?, _ f: (BenchSample.Turn, BenchSample.Turn) -> Double
  ) -> [Double] {
    var byTurn: [[Int]: BenchSample.Turn] = [:]
    for t in b.turns { byTurn[[t.pair, t.round]] = t }
    var values: [Int: [Double]] = [:]
    for t in a.turns where pairs?.contains(t.pair) ?? true {
      if let u = byTurn[[t.pair, t.round]] { values[t.pair, default: []].append(f(t, u)) }
    }
    return values.keys.sorted().compactMap { median(values[$0]!) }
  }

  /// The median over the pairs of `perPair`.
  static func paired(
    _ a: BenchSample, _ b: BenchSample, pairs: Range<Int>?, _ f: (BenchSample.Turn, BenchSample.Turn) -> Double
  ) -> Double? {
    median(perPair(a, b, pairs: pairs, f))
  }

  /// A distribution-free 95% confidence interval for the median of `xs`:
  /// the k-th lowest to the k-th highest value, k the largest with
  /// P(Binomial(n, 1/2) < k) <= 2.5%. Below 6 values there is none (nil).
  static func medianInterval(_ xs: [Double]) -> ClosedRange<Double>? {
    let s = xs.filter(\.isFinite).sorted()
    var k = 0
    var tail = 0.0
    var term = pow(0.5, Double(s.count))  // P(B = 0)
    while k < s.count / 2 {
      tail += term  // P(B <= k)
      if tail > 0.025 { break }
      k += 1
      term *= Double(s.count - k + 1) / Double(k)
    }
    return k == 0 ? nil : s[k - 1]...s[s.count - k]
  }

  /// How far the per-pair values of a ratio spread: a 95% interval for
  /// their median when there are enough of them, else their range.
  struct Spread {
    var map: ClosedRange<Double>
    var unmap: ClosedRange<Double>
    var pairs: Int
    var isInterval: Bool

    init?(map m: [Double], unmap u: [Double]) {
      let m = m.filter(\.isFinite)
      let u = u.filter(\.isFinite)
      guard m.count >= 2, u.count >= 2, let mlo = m.min(), let mhi = m.max(), let ulo = u.min(), let uhi = u.max()
      else { return nil }
      pairs = min(m.count, u.count)
      if let mi = BenchMatrix.medianInterval(m), let ui = BenchMatrix.medianInterval(u) {
        (map, unmap, isInterval) = (mi, ui, true)
      } else {
        (map, unmap, isInterval) = (mlo...mhi, ulo...uhi, false)
      }
    }
  }

  /// Map and unmap figures of one comparison; nil when not measured.
  typealias Pair = (map: Double, unmap: Double)

  static func paired(
    _ a: BenchSample?, _ b: BenchSample?, pairs: Range<Int>? = nil, _ f: @escaping (Double, Double) -> Double
  ) -> Pair? {
    guard let a, let b, let m = paired(a, b, pairs: pairs, { f($0.map, $1.map) }),
      let u = paired(a, b, pairs: pairs, { f($0.unmap, $1.unmap) })
    else { return nil }
    return (m, u)
  }

  /// The ratios of one case; nil where a variant was not measured.
  struct Ratios {
    var c: BenchCase
    var exactOverOff: Pair?
    var offOverCompiledOut: Pair?
    /// The same, build by build: how much the code layout alone moves it.
    var offOverCompiledOutByBuild: [Pair]
    /// How `offOverCompiledOut` spreads over the worker pairs.
    var offOverCompiledOutSpread: Spread?
    var kernelOverExact: Pair?
    /// What each accounting adds to a call (µs, median over rounds); exact's at least 0.
    var kernelCost: Pair?
    var exactCost: Pair?
    /// kernelCost / exactCost; infinite when exact's cost is below the noise.
    var costRatio: Pair? {
      guard let k = kernelCost, let e = exactCost else { return nil }
      return (e.map > 0 ? k.map / e.map : .infinity, e.unmap > 0 ? k.unmap / e.unmap : .infinity)
    }
  }

  func ratios(_ rows: [Row]) -> [Ratios] {
    var cases: [BenchCase] = []
    for r in rows where !cases.contains(r.c) { cases.append(r.c) }
    func s(_ c: BenchCase, _ k: BenchConfig) -> BenchSample? {
      rows.first { $0.c == c && $0.config == k && !$0.sample.turns.isEmpty }?.sample
    }
    let ratio: (Double, Double) -> Double = { $1 > 0 ? $0 / $1 : .nan }
    let cost: (Double, Double) -> Double = { ($0 - $1) / 1000 }
    return cases.map { c in
      let off = s(c, .off)
      let ex = s(c, .exact)
      let k = s(c, .kernel)
      let out = s(c, .compiledOut)
      let byBuild = builds.indices.compactMap { b in
        Self.paired(off, out, pairs: b * layouts..<(b + 1) * layouts, ratio)
      }
      let spread = off.flatMap { off in
        out.flatMap { out in
          Spread(
            map: Self.perPair(off, out, pairs: nil) { ratio($0.map, $1.map) },
            unmap: Self.perPair(off, out, pairs: nil) { ratio($0.unmap, $1.unmap) })
        }
      }
      return Ratios(
        c: c, exactOverOff: Self.paired(ex, off, ratio), offOverCompiledOut: Self.paired(off, out, ratio),
        offOverCompiledOutByBuild: byBuild,
        offOverCompiledOutSpread: spread,
        kernelOverExact: Self.paired(k, ex, ratio), kernelCost: Self.paired(k, off, cost),
        exactCost: Self.paired(ex, off, cost).map { (max(0, $0.map), max(0, $0.unmap)) })
    }
  }

  /// 2 threads on 2 domains against 1 thread, exact accounting, 4K: throughput, median over rounds.
  func scaling(_ rows: [Row]) -> Double? {
    guard let one = rows.first(where: { $0.c.granulePages == 1 && $0.c.threads == 1 && $0.config == .exact }),
      let two = rows.first(where: { $0.c.granulePages == 1 && $0.c.threads == 2 && $0.config == .exact })
    else { return nil }
    return Self.paired(two.sample, one.sample, pairs: nil) { $1.throughput > 0 ? $0.throughput / $1.throughput : .nan }
  }
}
