import Bench
import Foundation

extension Commands {
  static let bench = CommandSpec(
    name: "bench", abstract: "Measure the sanitizer's map/unmap overhead, as dma_map_benchmark does.",
    usage:
      "iommusan bench [-t <threads>] [-s <seconds>] [-g <granule>] [-d <dir>] [-m <mode>] [-x <ns>] [--domains <n>] [--config <config>] [--compiled-out <path>] [--matrix [--layouts <n>] [--compiled-in <paths>]] [--json] [--iova] [--explore <fixture> ...]",
    discussion: """
      Each thread maps and unmaps its own buffer of <granule> pages through the DMA API for
      <seconds>, timing every call; the output is dma_map_benchmark's. --matrix runs 4K, 1M and
      1G at 1 and 2 threads under every configuration, in 25 ms turns interleaved across
      configurations and processes, and prints the ratios: per worker pair (build and address
      layout) the median over rounds of paired turns, then the median over the pairs. It sets
      -g, -t, --domains and --config itself. .ci/bench-layouts runs it over several builds,
      each linked in its own function order.
      The compiled-out configuration needs a second binary built without the DebugPageAlloc
      trait: swift build -c release --disable-default-traits --scratch-path .build/nodebug
      """,
    options: [
      ("t", "threads", "Threads (1-1024, default 1)."),
      ("s", "seconds", "Seconds to run each measurement (default 20; with --matrix, per variant, default 3)."),
      ("g", "granule", "Pages per map (1-262144, default 1; 262144 is 1G)."),
      ("d", "dir", "0 BIDIRECTIONAL, 1 TO_DEVICE, 2 FROM_DEVICE (default 0)."),
      ("m", "mode", "single (0, default) or sg (1): one map of <granule> pages, or <granule> maps of a page."),
      ("x", "ns", "Transmit delay between map and unmap, in ns (at most 10 ms)."),
      ("n", "node", "Accepted for compatibility; the emulator has one node."),
      ("b", "bits", "Accepted for compatibility (DMA mask bits, 20-64)."),
      ("domains", "n", "Spread the threads over n devices, each in its own domain behind its own IOMMU (default 1)."),
      (
        "config", "config",
        "compiled-in-off, exact (default; compiled-in-off in a binary without the hooks) or kernel; compiled-out runs the --compiled-out binary."
      ),
      (
        "compiled-out", "path",
        "The binary built without the DebugPageAlloc trait (default .build/nodebug/release/iommusan); with --compiled-in, a comma-separated list in pairs with it."
      ),
      (
        "compiled-in", "paths",
        "With --matrix: binaries with the hooks, comma-separated, one per build (code layout), each paired with the same place in --compiled-out (default: this binary)."
      ),
      (
        "layouts", "n",
        "With --matrix: worker processes per binary and size, each its own address layout (1-16, default 4)."
      ),
    ],
    flags: [
      ("matrix", "Run the whole matrix and print the ratios."), ("json", "Print one JSON object instead of text."),
      ("iova", "Time dma_map + dma_unmap with 1k, 100k and 1M live mappings; print the ratios."),
      (
        "explore",
        "Time 'iommusan explore' on the fixtures given: a schedule against a plain run, and schedules explored and pruned per second."
      ),
    ],
    arguments: [("fixture", "With --explore: the fixtures to explore.")])

  static func number(_ p: ParsedArguments, _ key: String, default d: UInt64, range: ClosedRange<UInt64>, what: String)
    throws(UsageError) -> UInt64
  {
    guard let s = p.options[key] else { return d }
    guard let v = UInt64(s), range.contains(v) else {
      throw UsageError(message: "invalid \(what) '\(s)', must be in \(range.lowerBound)-\(range.upperBound)")
    }
    return v
  }

  static func benchCase(_ p: ParsedArguments) throws(UsageError) -> BenchCase {
    var c = BenchCase()
    c.threads = Int(try number(p, "t", default: 1, range: 1...1024, what: "number of threads"))
    c.granulePages = try number(p, "g", default: 1, range: 1...262_144, what: "granule size")
    switch try number(p, "d", default: 0, range: 0...2, what: "dma direction") {
    case 1: c.direction = .toDevice
    case 2: c.direction = .fromDevice
    default: c.direction = .bidirectional
    }
    switch p.options["m"] ?? "single" {
    case "single", "0": c.sgMode = false
    case "sg", "1": c.sgMode = true
    case let m: throw UsageError(message: "invalid map mode '\(m)': single (0) or sg (1)")
    }
    c.delayNS = try number(p, "x", default: 0, range: 0...10_000_000, what: "transmit delay")
    c.domains = Int(try number(p, "domains", default: 1, range: 1...64, what: "number of domains"))
    if let b = p.options["b"], !(UInt64(b).map({ (20...64).contains($0) }) ?? false) {
      throw UsageError(message: "invalid dma mask bit, must be in 20-64")
    }
    return c
  }

  static func seconds(_ p: ParsedArguments, default d: Double) throws(UsageError) -> Double {
    guard let s = p.options["s"] else { return d }
    guard let v = Double(s), v > 0, v <= 300 else {
      throw UsageError(message: "invalid duration '\(s)', must be in 0-300 seconds")
    }
    return v
  }

  static func benchCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try bench.parse(args)
    if p.flags.contains("help") { return printHelp(bench) }
    if p.flags.contains("matrix") {
      let (output, failures) = try benchMatrix(p).run { write($0, to: .standardError) }
      write(output, to: .standardOutput)
      for f in failures { write("bench: \(f)\n", to: .standardError) }
      return failures.isEmpty ? 0 : 1
    }
    if p.flags.contains("iova") { return BenchIOVA.run() }
    if p.flags.contains("explore") { return benchExplore(p.positionals) }
    let c = try benchCase(p)
    let secs = try seconds(p, default: 20)
    let config = try benchConfig(p)
    try requireHooks(config)
    let compiledOut = config == .compiledOut ? try compiledOutBinary(p) : nil
    switch BenchSample.measure(c, config: config, seconds: secs, compiledOut: compiledOut) {
    case .success(let sample):
      let json = p.flags.contains("json") ? sample.resultJSON(c, config: config).serialized + "\n" : nil
      write(json ?? sample.report(c, seconds: secs), to: .standardOutput)
      return 0
    case .failure(let e):
      write("bench: \(e.message)\n", to: .standardError)
      return 2
    }
  }

  /// The matrix `bench --matrix` asks for.
  static func benchMatrix(_ p: ParsedArguments) throws(UsageError) -> BenchMatrix {
    let seconds = try seconds(p, default: 3)
    let base = try benchCase(p)
    let builds = try benchBuilds(p, selfPath: BenchMatrix.selfPath)
    let layouts = Int(try number(p, "layouts", default: 4, range: 1...16, what: "number of layouts"))
    guard layouts * builds.count <= 32 else {
      let pairs = layouts * builds.count
      throw UsageError(
        message: "\(builds.count) builds x \(layouts) layouts is \(pairs) worker pairs per size; at most 32")
    }
    return BenchMatrix(base: base, seconds: seconds, builds: builds, layouts: layouts, json: p.flags.contains("json"))
  }

  static func benchConfig(_ p: ParsedArguments) throws(UsageError) -> BenchConfig {
    guard let s = p.options["config"] else { return .standard }
    guard let c = BenchConfig(rawValue: s) else {
      throw UsageError(
        message: "invalid config '\(s)': " + BenchConfig.allCases.map(\.rawValue).joined(separator: ", "))
    }
    return c
  }

  /// Exact and kernel accounting need the DebugPageAlloc hooks compiled in.
  static func requireHooks(_ config: BenchConfig) throws(UsageError) {
    guard !config.isAvailable else { return }
    throw UsageError(
      message: "this binary was built without the DebugPageAlloc trait: no sanitizer hooks for \(config.rawValue)")
  }

  static func compiledOutBinary(_ p: ParsedArguments) throws(UsageError) -> String {
    let path = p.options["compiled-out"] ?? ".build/nodebug/release/iommusan"
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw UsageError(
        message:
          "no compiled-out binary at \(path): swift build -c release --disable-default-traits --scratch-path .build/nodebug"
      )
    }
    return path
  }

  /// The builds `bench --matrix` compares: pairs of a binary with the hooks
  /// and one without, each pair one code layout. `--compiled-in` and
  /// `--compiled-out` list them, comma-separated, in pairs; by default the
  /// running binary and the compiled-out one, if it is there.
  static func benchBuilds(_ p: ParsedArguments, selfPath: String) throws(UsageError) -> [(
    compiledIn: String, compiledOut: String?
  )] {
    func list(_ key: String) throws(UsageError) -> [String]? {
      guard let s = p.options[key] else { return nil }
      let paths = s.split(separator: ",").map(String.init)
      guard !paths.isEmpty, paths.count <= 16 else {
        throw UsageError(message: "--\(key) takes 1-16 binaries, comma-separated")
      }
      for path in paths where !FileManager.default.isExecutableFile(atPath: path) {
        throw UsageError(message: "--\(key): no executable at \(path)")
      }
      return paths
    }
    guard let ins = try list("compiled-in") else {
      // A binary named on the command line must be there; the default one may be missing.
      let out = p.options["compiled-out"] != nil ? try compiledOutBinary(p) : try? compiledOutBinary(p)
      return [(selfPath, out)]
    }
    guard let outs = try list("compiled-out") else { return ins.map { ($0, nil) } }
    guard outs.count == ins.count else {
      throw UsageError(
        message:
          "--compiled-in names \(ins.count) binaries and --compiled-out \(outs.count): they pair up, one pair per build"
      )
    }
    return zip(ins, outs).map { ($0, $1) }
  }

  /// `bench-worker`: one measurement as a JSON line, or with `--serve`
  /// the turns `bench --matrix` asks for (used by --matrix).
  static func benchWorkerCommand(_ args: [String]) throws(UsageError) -> Int32 {
    var spec = bench
    spec.flags += [
      ("memory-test", ""), ("fixture-test", ""), ("serve", "Serve turns on standard input (needs --interleave)."),
    ]
    spec.options += [("interleave", "list", "With --serve: the variants threads:config,... to serve turns of.")]
    let p = try spec.parse(args)
    if p.flags.contains("memory-test") || p.flags.contains("fixture-test") {
      let result = p.flags.contains("memory-test") ? BenchMatrix.memoryTest() : BenchMatrix.fixtureTest()
      write(result.serialized + "\n", to: .standardOutput)
      return 0
    }
    let c = try benchCase(p)
    var variants = [BenchVariant(threads: c.threads, config: try benchConfig(p))]
    if p.flags.contains("serve") {
      guard let list = p.options["interleave"] else { throw UsageError(message: "--serve needs --interleave") }
      variants = []
      for item in list.split(separator: ",") {
        guard let v = BenchVariant(label: item) else {
          throw UsageError(message: "invalid variant '\(item)': threads:config")
        }
        variants.append(v)
      }
    }
    for v in variants { try requireHooks(v.config) }
    let secs = try seconds(p, default: 1)
    do {
      let rig = try BenchRig(worker: c, variants: variants)
      if p.flags.contains("serve") {
        // Turn requests on standard input, one answer line each, until end of input.
        while let line = readLine() { write(rig.answer(line).serialized + "\n", to: .standardOutput) }
      } else {
        write(rig.turn(0, ns: UInt64(secs * 1e9)).json.serialized + "\n", to: .standardOutput)
      }
      return 0
    } catch {
      write("bench-worker: \(error.description)\n", to: .standardError)
      return 2
    }
  }
}
