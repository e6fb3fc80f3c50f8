import Foundation
import Reports

extension BenchSample {
  /// The sums and turns, as a worker answers (`bench-worker`).
  package var json: JSONValue {
    [
      "iterations": JSONValue(iterations), "map_sum": JSONValue(mapSum), "map_sumsq": JSONValue(mapSumSq),
      "unmap_sum": JSONValue(unmapSum), "unmap_sumsq": JSONValue(unmapSumSq), "elapsed_ns": JSONValue(elapsedNS),
      "turns": .array(turns.map { [JSONValue($0.map), JSONValue($0.unmap), JSONValue($0.throughput)] }),
    ]
  }

  /// The result object of `bench --json` and of a `--matrix --json` row
  /// (which adds members); latencies null when `measured` is false.
  package func resultJSON(_ c: BenchCase, config: BenchConfig, measured: Bool = true) -> JSONValue {
    func us(_ v: Double) -> JSONValue { measured ? .fixed(v) : .null }
    return [
      "case": JSONValue(c.label), "threads": JSONValue(c.threads), "config": JSONValue(config.rawValue),
      "map_us": us(map.avg), "map_stddev_us": us(map.std), "unmap_us": us(unmap.avg), "unmap_stddev_us": us(unmap.std),
      "iterations": JSONValue(iterations),
    ]
  }

  /// Reads a worker's answer (`json`).
  init?(json: String) {
    guard let data = json.data(using: .utf8),
      let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return nil }
    func d(_ k: String) -> Double { (o[k] as? NSNumber)?.doubleValue ?? 0 }
    iterations = UInt64(max(0, d("iterations")))
    mapSum = d("map_sum")
    mapSumSq = d("map_sumsq")
    unmapSum = d("unmap_sum")
    unmapSumSq = d("unmap_sumsq")
    elapsedNS = UInt64(max(0, d("elapsed_ns")))
    for t in o["turns"] as? [[NSNumber]] ?? [] where t.count == 3 {
      turns.append(Turn(map: t[0].doubleValue, unmap: t[1].doubleValue, throughput: t[2].doubleValue))
    }
  }
}
