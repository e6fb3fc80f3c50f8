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
/// repeated on N lines (at most 4,096 expanded lines in all), so a short
/// input can reach what many written-out statements reach: full flush
/// queues, evictions, many parse errors. Longer runs come from the
/// language's `repeat N` loops, up to `maximumStatements` executed
/// statements (the vmalloc space, 32,768 areas of 1G, is the largest shape).
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
    // Statements run, loops unrolled: enough for the vmalloc space (32,769
    // `vmalloc 1G`); an input past it stops with the limit's error.
    o.maximumStatements = 40_000
    return o
  }()

  /// Reports rendered per input and format (`--max-reports 16`): reports
  /// past the first few render through the same code, and inputs with
  /// thousands of them spent most of their time there. The summary still
  /// counts every report.
  static let maximumRenderedReports = 16
  static let kernel = RunOutputRenderer(format: .kernel, maxReports: maximumRenderedReports)
  static let json = RunOutputRenderer(format: .json, maxReports: maximumRenderedReports)

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
    // Both streams of both formats, each rendered once, as `iommusan run` renders them.
    var n = 0
    for piece in kernel.pieces(result) + json.pieces(result) {
      switch piece {
      case .out(let s), .err(let s): n += s.utf8.count
      }
    }
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
    var n = reports.prefix(maximumRenderedReports).reduce(0) {
      $0 + kernel.render($1).utf8.count + json.render($1).utf8.count
    }
    n += reports.count
    n += summary.textLines.count + summary.json.serialized.utf8.count + Int(summary.exitStatus)
    return n
  }

  /// Lines `#*N` may expand to, in all: 65,536 lines of one parse error took a second.
  static let maximumExpandedLines = 4_096

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
        // A larger N counts as the limit.
        while i < line.endIndex, line[i] >= 0x30, line[i] <= 0x39 {
          n = min(n * 10 + Int(line[i] - 0x30), maximumExpandedLines)
          i += 1
        }
        if i < line.endIndex, line[i] == 0x20, n >= 1 {
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
