import IOMMU

extension BenchSample {
  /// `bench` without `--matrix`: one continuous measurement of `c` under
  /// `config`, as dma_map_benchmark's. The compiled-out configuration runs
  /// in `compiledOut`, a binary without the hooks.
  package static func measure(
    _ c: BenchCase, config: BenchConfig, seconds: Double, compiledOut: String?
  ) -> Result<BenchSample, BenchError> {
    guard config != .compiledOut else {
      guard let compiledOut else { return .failure(BenchError(message: "no compiled-out binary")) }
      return BenchMatrix.spawn(binary: compiledOut, c, config: config, seconds: seconds).mapError {
        BenchError(message: "the compiled-out binary failed: \($0.message)")
      }
    }
    do {
      let rig = try BenchRig(c, variants: [BenchVariant(threads: c.threads, config: config)])
      return .success(rig.turn(0, ns: UInt64(seconds * 1e9)))
    } catch {
      return .failure(BenchError(message: error.description))
    }
  }

  /// dma_map_benchmark's result lines.
  package func report(_ c: BenchCase, seconds: Double) -> String {
    """
    dma mapping benchmark(\(c.sgMode ? "SG_MODE" : "SINGLE_MODE")): threads:\(c.threads) \
    seconds:\(seconds.compact) node:-1 dir:\(c.direction.kernelName) granule:\(c.granulePages)
    average map latency(us):\(map.avg.fixed(1)) standard deviation:\(map.std.fixed(1))
    average unmap latency(us):\(unmap.avg.fixed(1)) standard deviation:\(unmap.std.fixed(1))

    """
  }
}
