/// Sums of one measurement, in nanoseconds.
package struct BenchSample: Sendable {
  package var iterations: UInt64 = 0
  package var mapSum: Double = 0
  package var mapSumSq: Double = 0
  package var unmapSum: Double = 0
  package var unmapSumSq: Double = 0
  package var elapsedNS: UInt64 = 0
  /// Each turn's own figures, in order, for paired ratios.
  package var turns: [Turn] = []

  /// One turn: mean map and unmap latency (ns), map+unmap pairs per
  /// second, and the matrix round and worker pair (build and address
  /// layout) it belongs to.
  package struct Turn: Sendable {
    package var map: Double
    package var unmap: Double
    package var throughput: Double
    package var round = 0
    package var pair = 0
  }

  package init() {}

  var summary: Turn {
    let n = Double(max(iterations, 1))
    return Turn(map: mapSum / n, unmap: unmapSum / n, throughput: throughput)
  }

  mutating func add(_ o: BenchSample) {
    turns += o.turns
    iterations += o.iterations
    mapSum += o.mapSum
    mapSumSq += o.mapSumSq
    unmapSum += o.unmapSum
    unmapSumSq += o.unmapSumSq
    elapsedNS += o.elapsedNS
  }

  /// Average and standard deviation in microseconds, as the tool prints them.
  var map: (avg: Double, std: Double) { Self.stats(mapSum, mapSumSq, iterations) }
  var unmap: (avg: Double, std: Double) { Self.stats(unmapSum, unmapSumSq, iterations) }
  /// Map+unmap pairs per second, over all threads.
  var throughput: Double { elapsedNS == 0 ? 0 : Double(iterations) / (Double(elapsedNS) / 1e9) }

  static func stats(_ sum: Double, _ sq: Double, _ n: UInt64) -> (Double, Double) {
    guard n > 0 else { return (0, 0) }
    let mean = sum / Double(n)
    let variance = max(0, sq / Double(n) - mean * mean)
    return (mean / 1000, variance.squareRoot() / 1000)
  }
}
