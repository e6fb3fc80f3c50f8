import FixtureRunner
import KernelTypes
import Replay
import Reports

/// The fuzz target: one input is one fixture, run the way `iommusan run`
/// runs it (parser, machine, sanitizer, expectations) and rendered in both
/// output formats. Any trap is a finding.
///
/// An input that starts with the line `#!trace` is a trace instead: the
/// rest goes to the replay engine (`iommusan replay`), in two chunks split
/// at a point the input chooses, so lines that span chunks are fuzzed too.
///
/// Input format: the bytes are the fixture. If they contain a NUL byte, the
/// bytes before the first NUL are also passed as `--cmdline` (so the
/// command-line path of `cmdline` parsing is fuzzed too) and the fixture is
/// what follows it.
///
/// A line `#*N TEXT` (a comment to the fixture language) stands for TEXT
/// repeated on N lines (N up to 65536, at most 200,000 expanded lines in
/// all), so a short input can reach what only many statements reach:
/// exhausted IOVA, vmalloc or PASID space, full flush queues, evictions.
///
/// Built two ways:
/// - `.ci/fuzz` builds it with `--sanitize fuzzer -DIOMMUSAN_LIBFUZZER`:
///   libFuzzer provides `main` and calls `LLVMFuzzerTestOneInput`.
/// - a plain `swift build` makes it a replay and mutation driver
///   (`IOMMUSanFuzz FILE|DIR...`, `IOMMUSanFuzz --mutate SECONDS DIR...`),
///   so the package builds and tests without libFuzzer.
enum FuzzTarget {
  /// Limits for one input: small enough that a run never needs more than a
  /// few hundred MB, large enough to reach every statement.
  static let options: RunOptions = {
    var o = RunOptions(stats: true)
    o.maximumRAM = 4 << 30
    o.maximumResident = 64 << 20
    // As many statements as the `#*N` expansion can make: loops do not run longer.
    o.maximumStatements = 200_000
    return o
  }()

  static let kernel = RunOutputRenderer(format: .kernel)
  static let json = RunOutputRenderer(format: .json)

  /// Runs one input. Returns the number of bytes rendered (so nothing is optimised away).
  @discardableResult
  static func run(_ bytes: [UInt8]) -> Int {
    if bytes.starts(with: traceMarker) { return replay(bytes[traceMarker.count...]) }
    var options = options
    var source = bytes[...]
    if let nul = bytes.firstIndex(of: 0) {
      options.cmdline = String(decoding: bytes[..<nul], as: UTF8.self)
      source = bytes[(nul + 1)...]
    }
    let result = FixtureRunner.run(file: "fuzz/input.fixture", source: expand(source), options: options)
    var n = kernel.stdout(result).utf8.count + kernel.stderr(result).utf8.count
    n += json.stdout(result).utf8.count + json.stderr(result).utf8.count
    // What `check` and `run` derive from a result.
    n += Int(result.exitStatus) + (result.passed ? 1 : 0)
    return n
  }
}

extension FuzzTarget {
  static let traceMarker = Array("#!trace\n".utf8)

  /// Replays a trace and renders its reports and summary in both formats.
  static func replay(_ trace: ArraySlice<UInt8>) -> Int {
    var reports: [Report] = []
    let replayer = TraceReplayer(options: ReplayOptions(traceName: "fuzz/input.trace")) { reports.append($0) }
    let split = trace.isEmpty ? trace.startIndex : trace.startIndex + Int(trace[trace.startIndex]) % trace.count
    trace[..<split].withUnsafeBytes { replayer.consume($0) }
    trace[split...].withUnsafeBytes { replayer.consume($0) }
    let summary = replayer.finish()
    let kernel = KernelTextRenderer()
    let json = JSONLinesRenderer()
    var n = reports.reduce(0) { $0 + kernel.render($1).utf8.count + json.render($1).utf8.count }
    n += summary.textLines.count + summary.json.serialized.utf8.count + Int(summary.exitStatus)
    return n
  }

  static let maximumExpandedLines = 200_000

  /// Expands `#*N TEXT` lines (see above); other lines are kept as they are.
  static func expand(_ source: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(source.count)
    var lines = 0
    var start = source.startIndex
    while start < source.endIndex {
      var end = start
      while end < source.endIndex, source[end] != 0x0A { end += 1 }
      let line = source[start..<end]
      start = end < source.endIndex ? end + 1 : end
      var count = 1
      var text = line
      if line.starts(with: [0x23, 0x2A]) {  // "#*"
        var i = line.startIndex + 2
        var n = 0
        while i < line.endIndex, line[i] >= 0x30, line[i] <= 0x39, n <= 65_536 {
          n = n * 10 + Int(line[i] - 0x30)
          i += 1
        }
        if i < line.endIndex, line[i] == 0x20, n >= 1, n <= 65_536 {
          count = n
          text = line[(i + 1)...]
        }
      }
      count = min(count, maximumExpandedLines - lines)
      guard count > 0 else { break }
      for _ in 0..<count {
        out += text
        out.append(0x0A)
      }
      lines += count
    }
    return out
  }
}

/// libFuzzer's entry point.
// swift-format-ignore: AlwaysUseLowerCamelCase
@_cdecl("LLVMFuzzerTestOneInput")
package func LLVMFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
  FuzzTarget.run(bytes)
  return 0
}
