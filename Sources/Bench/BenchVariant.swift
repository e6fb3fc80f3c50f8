/// One configuration and thread count of an interleaved measurement.
package struct BenchVariant: Hashable, Sendable {
  package var threads: Int
  package var config: BenchConfig

  /// `threads:config`, as `bench-worker --interleave` takes it.
  package var label: String { "\(threads):\(config.rawValue)" }

  package init(threads: Int, config: BenchConfig) {
    self.threads = threads
    self.config = config
  }

  package init?(label: Substring) {
    let parts = label.split(separator: ":", maxSplits: 1)
    guard parts.count == 2, let t = Int(parts[0]), (1...1024).contains(t),
      let c = BenchConfig(rawValue: String(parts[1]))
    else { return nil }
    self.init(threads: t, config: c)
  }
}
