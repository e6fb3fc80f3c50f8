import Reports
import Testing

@testable import Bench

/// The byte format of what `bench` and `bench-worker` print.
@Suite struct BenchOutputTests {
  /// Two map+unmap pairs of 380 ns and 700 ns in 2 µs.
  var sample: BenchSample {
    var s = BenchSample()
    s.iterations = 2
    (s.mapSum, s.mapSumSq) = (760, 2 * 380 * 380)
    (s.unmapSum, s.unmapSumSq) = (1400, 2 * 700 * 700)
    s.elapsedNS = 2000
    s.turns = [s.summary]
    return s
  }

  @Test func workerAnswerRoundTrips() throws {
    let line = sample.json.serialized
    #expect(
      line == #"{"iterations":2,"map_sum":760.0,"map_sumsq":288800.0,"unmap_sum":1400.0,"unmap_sumsq":980000.0,"#
        + #""elapsed_ns":2000,"turns":[[380.0,700.0,1000000.0]]}"#)
    let read = try #require(BenchSample(json: line))
    #expect(read.json.serialized == line)
  }

  @Test func resultHasThreeDecimals() {
    #expect(
      sample.resultJSON(BenchCase(), config: .exact).serialized
        == #"{"case":"4K","threads":1,"config":"exact","map_us":0.380,"map_stddev_us":0.000,"unmap_us":0.700,"#
        + #""unmap_stddev_us":0.000,"iterations":2}"#)
    #expect(
      BenchSample().resultJSON(BenchCase(), config: .off, measured: false).serialized
        == #"{"case":"4K","threads":1,"config":"compiled-in-off","map_us":null,"map_stddev_us":null,"unmap_us":null,"#
        + #""unmap_stddev_us":null,"iterations":0}"#)
  }

  @Test func reportIsDMAMapBenchmarks() {
    #expect(
      sample.report(BenchCase(), seconds: 20) == """
        dma mapping benchmark(SINGLE_MODE): threads:1 seconds:20 node:-1 dir:BIDIRECTIONAL granule:1
        average map latency(us):0.4 standard deviation:0.0
        average unmap latency(us):0.7 standard deviation:0.0

        """)
  }

  @Test func matrixObjectEmbedsSideMeasurements() {
    let matrix = BenchMatrix(base: BenchCase(), seconds: 0.1, builds: [("iommusan", nil)], layouts: 1, json: true)
    #expect(
      matrix.output(rows: [], memory: #"{"pass":true}"#, fixture: nil)
        == #"{"seconds":0.1,"turn_seconds":0.025,"builds":1,"layouts":1,"results":[],"ratios":[],"#
        + #""scaling_2_threads":null,"memory_1t":{"pass":true},"fixture_200k":null}"# + "\n")
  }

  @Test func figures() {
    #expect(0.3804.fixed(3) == "0.380" && 2.0.fixed(3) == "2.000" && 1234.4.fixed(0) == "1234")
    #expect(JSONValue.fixed(.infinity) == .null && JSONValue.fixed(19.43, 1).serialized == "19.4")
    #expect(3.0.compact == "3" && 0.1.compact == "0.1")
  }
}
