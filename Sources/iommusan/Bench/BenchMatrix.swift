import Dispatch
import FixtureRunner
import Foundation
import IOMMU
import KernelTypes
import MemoryModel
import Sanitizer

/// `bench --matrix`: 4K, 1M and 1G at 1 and 2 threads under every
/// configuration, then the ratios and the goals.
///
/// Two kinds of noise move a process's figures, and each ratio is taken so
/// that neither leans on it:
/// - **Time.** Noise on a shared host comes and goes within seconds and
///   moves figures by 20% or more. Workers serve 25 ms turns, and this
///   process hands them out in rounds, each round in a rotated order, so
///   the turns compared saw the same few hundred milliseconds.
/// - **Layout.** Where the stack, the heap and the code land moves one
///   process's speed by up to 10%, the same for every turn it serves; where
///   the linker put the functions moves one build's by up to 4%. So for
///   each size, each build (a binary with the hooks and one without, see
///   `--compiled-in`) has `layouts` workers of each binary: those with the
///   hooks hold off, exact and kernel at 1 and 2 threads on one machine,
///   those without hold off at 1 and 2 threads. Each worker starts with
///   address randomization and its own environment size.
///
/// A ratio is, per worker pair (build and address layout), the median over
/// rounds of the two variants' paired turns, then the median over the
/// pairs. Turns of one worker pair with the same worker (exact against
/// off) or with the other binary's worker of the same pair (off against
/// compiled-out).
struct BenchMatrix {
  let seconds: Double
  let json: Bool
  /// The builds compared, each one code layout: a binary with the hooks
  /// and, when there is one, a binary without.
  let builds: [(compiledIn: String, compiledOut: String?)]
  var hasCompiledOut: Bool { builds.contains { $0.compiledOut != nil } }
  let base: BenchCase
  /// Worker processes per binary and size, each one draw of the address layout.
  let layouts: Int

  static let granules: [UInt64] = [1, 256, 262_144]
  static let threadCounts = [1, 2]

  init(_ p: ParsedArguments) throws(UsageError) {
    seconds = try Commands.seconds(p, default: 3)
    json = p.flags.contains("json")
    base = try Commands.benchCase(p)
    let builds = try Commands.benchBuilds(p, selfPath: Self.selfPath)
    let layouts = Int(try Commands.number(p, "layouts", default: 4, range: 1...16, what: "number of layouts"))
    guard layouts * builds.count <= 32 else {
      throw UsageError(message: "\(builds.count) builds x \(layouts) layouts is \(layouts * builds.count) worker pairs per size; at most 32")
    }
    self.builds = builds
    self.layouts = layouts
  }

  static var selfPath: String { Bundle.main.executablePath ?? CommandLine.arguments[0] }

  static func workerArguments(_ c: BenchCase, seconds: Double) -> [String] {
    var args = ["bench-worker", "-t", "\(c.threads)", "-g", "\(c.granulePages)", "-m", c.sgMode ? "sg" : "single", "-x", "\(c.delayNS)",
      "--domains", "\(c.domains)", "-s", "\(seconds)"]
    switch c.direction {
    case .toDevice: args += ["-d", "1"]
    case .fromDevice: args += ["-d", "2"]
    case .bidirectional: break
    }
    return args
  }

  /// Runs one measurement in a child process and reads its JSON line; on
  /// failure, what the child said.
  static func spawn(binary: String, _ c: BenchCase, config: BenchConfig, seconds: Double) -> Result<BenchSample, ChildError> {
    let args = workerArguments(c, seconds: seconds) + ["--config", config == .compiledOut ? BenchConfig.off.rawValue : config.rawValue]
    return runChild(binary, args).flatMap { out in
      BenchSample(json: out.trimmingCharacters(in: .whitespacesAndNewlines)).map { .success($0) } ?? .failure(ChildError(message: "unreadable output"))
    }
  }

  struct ChildError: Error {
    var message: String
  }

  /// Runs a child to its end; its standard output, or the first line of its standard error.
  static func runChild(_ binary: String, _ args: [String]) -> Result<String, ChildError> {
    let proc = Process()
    proc.executableURL = URL(fileURLWithPath: binary)
    proc.arguments = args
    let out = Pipe()
    let err = Pipe()
    proc.standardOutput = out
    proc.standardError = err
    do { try proc.run() } catch { return .failure(ChildError(message: "\(binary) did not start: \(error)")) }
    // Standard error is drained after standard output: workers write at most a line there.
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    proc.waitUntilExit()
    guard proc.terminationStatus == 0 else {
      return .failure(ChildError(message: said.split(separator: "\n").first.map(String.init) ?? "exit status \(proc.terminationStatus)"))
    }
    return .success(String(decoding: data, as: UTF8.self))
  }

  /// A worker process serving turns (`bench-worker --serve`).
  final class TurnServer {
    let proc = Process()
    let input = Pipe()
    let output = Pipe()
    /// The worker's standard error, read when it fails.
    let errors: URL
    var buffer: [UInt8] = []
    /// The longest a turn may take before the worker counts as hung: a
    /// turn is 25 ms, or one iteration (a 1G unmap under kernel
    /// accounting takes about 30 ms here).
    static let timeoutMS: Int32 = 60_000

    /// Starts a worker; `layout` sizes its environment, so that its stack
    /// lands at a different offset from its siblings' even where address
    /// randomization is off.
    init(binary: String, _ c: BenchCase, variants: [BenchVariant], layout: Int) throws(ChildError) {
      proc.executableURL = URL(fileURLWithPath: binary)
      proc.arguments = BenchMatrix.workerArguments(c, seconds: 1) + ["--serve", "--interleave", variants.map(\.label).joined(separator: ",")]
      // Swift seeds its hashing per process, and the seed moves the
      // model's dictionaries, and a process's speed, by up to 15%: every
      // worker gets the same seed, so the binaries are compared on equal tables.
      proc.environment = ProcessInfo.processInfo.environment.merging([
        "SWIFT_DETERMINISTIC_HASHING": "1", "IOMMUSAN_BENCH_LAYOUT": String(repeating: "x", count: 1 + layout * 1040),
      ]) { $1 }
      proc.standardInput = input
      proc.standardOutput = output
      errors = FileManager.default.temporaryDirectory.appendingPathComponent("iommusan-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err")
      _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
      proc.standardError = try? FileHandle(forWritingTo: errors)
      do { try proc.run() } catch { throw ChildError(message: "\(binary) did not start: \(error)") }
    }

    deinit { try? FileManager.default.removeItem(at: errors) }

    /// One turn of variant `v`, or why the worker failed (it is then stopped).
    func turn(_ v: Int, ns: UInt64) -> Result<BenchSample, ChildError> {
      do { try input.fileHandleForWriting.write(contentsOf: Data("\(v) \(ns)\n".utf8)) } catch { return .failure(stop("the worker exited")) }
      let fd = output.fileHandleForReading.fileDescriptor
      var chunk = [UInt8](repeating: 0, count: 4096)
      while true {
        if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
          let line = String(decoding: buffer[..<nl], as: UTF8.self)
          buffer.removeSubrange(...nl)
          guard let sample = BenchSample(json: line), sample.iterations > 0 else { return .failure(stop("unreadable answer: \(line.prefix(80))")) }
          return .success(sample)
        }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Self.timeoutMS)
        if ready == 0 { return .failure(stop("no answer within \(Self.timeoutMS / 1000) s")) }
        if ready < 0 {
          if errno == EINTR { continue }
          return .failure(stop("poll: errno \(errno)"))
        }
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return .failure(stop("the worker exited")) }
        buffer += chunk[..<n]
      }
    }

    /// Stops the worker; the reason, with the first line it wrote to standard error.
    private func stop(_ why: String) -> ChildError {
      reap(after: 0)
      let said = (try? String(contentsOf: errors, encoding: .utf8))?.split(separator: "\n").first.map(String.init)
      return ChildError(message: said.map { "\(why): \($0)" } ?? why)
    }

    /// Ends the worker (end of input), killing it if it does not exit within 5 s.
    func finish() {
      try? input.fileHandleForWriting.close()
      reap(after: 5)
    }

    /// Waits up to `seconds` for the worker to exit, then kills it, and
    /// reaps it. `Process` does not notice a child's exit without a run
    /// loop, and its `waitUntilExit()` can wait forever for one killed by a
    /// signal, so this waits with `waitpid()` itself.
    private func reap(after seconds: Double) {
      let pid = proc.processIdentifier
      guard pid > 0 else { return }
      var status: Int32 = 0
      let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
      while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid || (r < 0 && errno != EINTR) { return }  // exited, or already reaped
        if DispatchTime.now().uptimeNanoseconds >= deadline { break }
        usleep(10_000)
      }
      kill(pid, SIGKILL)
      while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
  }

  /// One row of the table.
  struct Row {
    var c: BenchCase
    var config: BenchConfig
    var sample = BenchSample()
  }

  func run() -> Int32 {
    signal(SIGPIPE, SIG_IGN)  // a worker that died fails its variant, not the run
    // Named compiled-in binaries have the hooks; this one may not.
    let hooked = Sanitizer.isCompiledIn || builds.contains { $0.compiledIn != Self.selfPath }
    let inProcess: [BenchConfig] = hooked ? [.off, .exact, .kernel] : [.off]
    var rows: [Row] = []
    var failures: [String] = []
    for (gi, g) in Self.granules.enumerated() {
      var c = base
      c.granulePages = g
      c.domains = 2  // 2-thread cases run on separate domains, for the scaling goal
      let inVariants = Self.threadCounts.flatMap { t in inProcess.map { BenchVariant(threads: t, config: $0) } }
      let outVariants = Self.threadCounts.map { BenchVariant(threads: $0, config: .off) }
      // One row per configuration and thread count; every worker's turns of it go there.
      func rowIndices(_ variants: [BenchVariant], _ config: (BenchVariant) -> BenchConfig) -> [Int] {
        variants.map { v in
          var rc = c
          rc.threads = v.threads
          rows.append(Row(c: rc, config: config(v)))
          return rows.count - 1
        }
      }
      let inRows = rowIndices(inVariants, \.config)
      let outRows = hasCompiledOut ? rowIndices(outVariants) { _ in .compiledOut } : []
      // Every variant of every worker: its server, its index there, its
      // row, its worker pair (build and address layout), the time it has run.
      var slots: [(server: TurnServer, index: Int, row: Int, pair: Int, elapsed: UInt64)] = []
      var servers: [TurnServer] = []
      for layout in 0..<layouts {
        for (bk, build) in builds.enumerated() {
          let pair = bk * layouts + layout
          var group = [(build.compiledIn, inVariants, inRows)]
          if let out = build.compiledOut { group.append((out, outVariants, outRows)) }
          for (binary, variants, rowsOf) in group {
            let server: TurnServer
            do { server = try TurnServer(binary: binary, c, variants: variants, layout: pair) } catch {
              failures.append("\(c.label): \(error.message)")
              continue
            }
            servers.append(server)
            for (i, row) in rowsOf.enumerated() { slots.append((server, i, row, pair, 0)) }
          }
        }
      }
      // Each worker pair runs a variant for its share of the seconds.
      let budget = max(1, UInt64(seconds * 1e9) / UInt64(layouts * builds.count))
      let turnNS = max(1, min(UInt64(BenchRig.turnSeconds * 1e9), budget))
      var failed = Set<ObjectIdentifier>()
      var round = 0
      func open(_ i: Int) -> Bool { !failed.contains(ObjectIdentifier(slots[i].server)) && slots[i].elapsed < budget }
      while slots.indices.contains(where: open) {
        write("\r[\(gi + 1)/\(Self.granules.count)] \(c.label): round \(round + 1), \(slots.count) variants of \(servers.count) workers in 25 ms turns" + String(repeating: " ", count: 8), to: .standardError)
        for k in slots.indices {
          let i = (k + round) % slots.count
          guard open(i) else { continue }
          let slot = slots[i]
          switch slot.server.turn(slot.index, ns: min(turnNS, budget - slot.elapsed)) {
          case .success(var t):
            for j in t.turns.indices {
              t.turns[j].round = round
              t.turns[j].pair = slot.pair
            }
            slots[i].elapsed += t.elapsedNS
            rows[slot.row].sample.add(t)
          case .failure(let e):
            failed.insert(ObjectIdentifier(slot.server))
            let r = rows[slot.row]
            failures.append("\(r.c.label) x\(r.c.threads) \(r.config.rawValue), worker pair \(slot.pair): \(e.message)")
          }
        }
        round += 1
      }
      for s in servers { s.finish() }
    }
    write("\r" + String(repeating: " ", count: 80) + "\r", to: .standardError)
    func side(_ flag: String) -> String? {
      switch Self.runChild(Self.selfPath, ["bench-worker", flag]) {
      case .success(let out): return out.trimmingCharacters(in: .whitespacesAndNewlines)
      case .failure(let e):
        failures.append("\(flag): \(e.message)")
        return nil
      }
    }
    let memory = side("--memory-test")
    let fixture = side("--fixture-test")
    print(rows: rows, memory: memory, fixture: fixture)
    for f in failures { write("bench: \(f)\n", to: .standardError) }
    return failures.isEmpty ? 0 : 1
  }

  static func median(_ xs: [Double]) -> Double? {
    let s = xs.filter(\.isFinite).sorted()
    guard !s.isEmpty else { return nil }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
  }

  /// Per worker pair (of those in `pairs`), the median over rounds of `f`
  /// of two variants' turns of the same round.
  static func perPair(_ a: BenchSample, _ b: BenchSample, pairs: Range<Int>?, _ f: (BenchSample.Turn, BenchSample.Turn) -> Double) -> [Double] {
    var byTurn: [[Int]: BenchSample.Turn] = [:]
    for t in b.turns { byTurn[[t.pair, t.round]] = t }
    var values: [Int: [Double]] = [:]
    for t in a.turns where pairs?.contains(t.pair) ?? true {
      if let u = byTurn[[t.pair, t.round]] { values[t.pair, default: []].append(f(t, u)) }
    }
    return values.keys.sorted().compactMap { median(values[$0]!) }
  }

  /// The median over the pairs of `perPair`.
  static func paired(_ a: BenchSample, _ b: BenchSample, pairs: Range<Int>?, _ f: (BenchSample.Turn, BenchSample.Turn) -> Double) -> Double? {
    median(perPair(a, b, pairs: pairs, f))
  }

  /// A distribution-free 95% confidence interval for the median of `xs`:
  /// the k-th lowest to the k-th highest value, k the largest with
  /// P(Binomial(n, 1/2) < k) <= 2.5%. Below 6 values there is none (nil).
  static func medianInterval(_ xs: [Double]) -> ClosedRange<Double>? {
    let s = xs.filter(\.isFinite).sorted()
    var k = 0, tail = 0.0, term = pow(0.5, Double(s.count))  // P(B = 0)
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
      let m = m.filter(\.isFinite), u = u.filter(\.isFinite)
      guard m.count >= 2, u.count >= 2, let mlo = m.min(), let mhi = m.max(), let ulo = u.min(), let uhi = u.max() else { return nil }
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

  static func paired(_ a: BenchSample?, _ b: BenchSample?, pairs: Range<Int>? = nil, _ f: @escaping (Double, Double) -> Double) -> Pair? {
    guard let a, let b, let m = paired(a, b, pairs: pairs, { f($0.map, $1.map) }), let u = paired(a, b, pairs: pairs, { f($0.unmap, $1.unmap) }) else { return nil }
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
    func s(_ c: BenchCase, _ k: BenchConfig) -> BenchSample? { rows.first { $0.c == c && $0.config == k && !$0.sample.turns.isEmpty }?.sample }
    let ratio: (Double, Double) -> Double = { $1 > 0 ? $0 / $1 : .nan }
    let cost: (Double, Double) -> Double = { ($0 - $1) / 1000 }
    return cases.map { c in
      let off = s(c, .off), ex = s(c, .exact), k = s(c, .kernel), out = s(c, .compiledOut)
      let byBuild = builds.indices.compactMap { b in Self.paired(off, out, pairs: b * layouts..<(b + 1) * layouts, ratio) }
      let spread = off.flatMap { off in
        out.flatMap { out in
          Spread(map: Self.perPair(off, out, pairs: nil) { ratio($0.map, $1.map) }, unmap: Self.perPair(off, out, pairs: nil) { ratio($0.unmap, $1.unmap) })
        }
      }
      return Ratios(
        c: c, exactOverOff: Self.paired(ex, off, ratio), offOverCompiledOut: Self.paired(off, out, ratio), offOverCompiledOutByBuild: byBuild,
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

  func print(rows unordered: [Row], memory: String?, fixture: String?) {
    // By size, threads, then configuration in the cover letter's order.
    func key(_ r: Row) -> [Int] { [Int(r.c.granulePages), r.c.threads, BenchConfig.allCases.firstIndex(of: r.config) ?? 0] }
    let rows = unordered.sorted { key($0).lexicographicallyPrecedes(key($1)) }
    let ratioRows = ratios(rows)
    let scaling = scaling(rows)
    let r3 = Commands.fixed3
    func num(_ d: Double?) -> String { d.map { $0.isFinite ? r3($0) : "null" } ?? "null" }
    if json {
      var s = "{\"seconds\":\(seconds),\"turn_seconds\":\(BenchRig.turnSeconds),\"builds\":\(builds.count),\"layouts\":\(layouts),\"results\":["
      s += rows.map { r in
        r.sample.resultJSON(r.c, config: r.config, measured: !r.sample.turns.isEmpty) + ",\"turns\":\(r.sample.turns.count)}"
      }.joined(separator: ",")
      s += "],\"ratios\":["
      s += ratioRows.map { r in
        let fields: [(String, Pair?)] = [
          ("exact_over_off", r.exactOverOff), ("off_over_compiled_out", r.offOverCompiledOut), ("kernel_over_exact", r.kernelOverExact),
          ("kernel_cost_us", r.kernelCost), ("exact_cost_us", r.exactCost), ("kernel_cost_over_exact_cost", r.costRatio),
        ]
        let byBuild = r.offOverCompiledOutByBuild.map { "[\(num($0.map)),\(num($0.unmap))]" }.joined(separator: ",")
        return "{\"case\":\"\(r.c.label)\",\"threads\":\(r.c.threads)," + fields.map { name, p in "\"\(name)_map\":\(num(p?.map)),\"\(name)_unmap\":\(num(p?.unmap))" }.joined(separator: ",")
          + ",\"off_over_compiled_out_by_build\":[\(byBuild)]"
          + ",\"off_over_compiled_out_spread\":" + (r.offOverCompiledOutSpread.map {
            "{\"pairs\":\($0.pairs),\"interval_95\":\($0.isInterval),\"map\":[\(num($0.map.lowerBound)),\(num($0.map.upperBound))],\"unmap\":[\(num($0.unmap.lowerBound)),\(num($0.unmap.upperBound))]}"
          } ?? "null") + "}"
      }.joined(separator: ",")
      s += "],\"scaling_2_threads\":\(num(scaling)),\"memory_1t\":\(memory ?? "null"),\"fixture_200k\":\(fixture ?? "null")}\n"
      write(s, to: .standardOutput)
      return
    }
    var s = "iommusan bench --matrix: \(Commands.fmt(seconds)) s per variant in 25 ms turns, \(pairings), \(base.sgMode ? "SG_MODE" : "SINGLE_MODE"), \(base.direction.kernelName), smmuv3 4K, strict; 2-thread cases on 2 domains\n\n"
    s += pad("case", 6) + pad("threads", 9) + pad("config", 17) + pad("map(us)", 10) + pad("std", 9) + pad("unmap(us)", 11) + pad("std", 9) + "map+unmap/s\n"
    for r in rows {
      s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad(r.config.rawValue, 17)
      s += r.sample.turns.isEmpty ? "not measured\n"
        : pad(f2(r.sample.map.avg), 10) + pad(f2(r.sample.map.std), 9) + pad(f2(r.sample.unmap.avg), 11) + pad(f2(r.sample.unmap.std), 9)
          + String(format: "%.0f", r.sample.throughput) + "\n"
    }
    func two(_ p: Pair?, _ f: (Double) -> String) -> String { p.map { "\(f($0.map)) / \(f($0.unmap))" } ?? "n/a" }
    s += "\nratios (map / unmap): per worker pair the median over rounds of paired turns, then the median over the \(layouts * builds.count) pairs\n"
    s += pad("case", 6) + pad("threads", 9) + pad("exact/off", 16) + pad("off/compiled-out", 19) + pad("kernel/exact", 20) + "accounting cost (us), kernel / exact: map; unmap\n"
    for r in ratioRows {
      let cost = r.kernelCost.flatMap { k in r.exactCost.map { e in "\(f2(k.map)) / \(f3(e.map)); \(f2(k.unmap)) / \(f3(e.unmap))" } } ?? "n/a"
      s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad(two(r.exactOverOff, f2), 16) + pad(two(r.offOverCompiledOut, f2), 19) + pad(two(r.kernelOverExact, f2), 20) + cost + "\n"
    }
    if builds.count > 1 {
      s += "\noff/compiled-out build by build (each the median over its \(layouts) address layouts), lowest-highest, map / unmap\n"
      for r in ratioRows where !r.offOverCompiledOutByBuild.isEmpty {
        let b = r.offOverCompiledOutByBuild
        func span(_ xs: [Double]) -> String { "\(f2(xs.min() ?? .nan))-\(f2(xs.max() ?? .nan))" }
        s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + span(b.map(\.map)) + " / " + span(b.map(\.unmap)) + "\n"
      }
    }
    /// A goal line: PASS only when measured and met.
    func goal(_ what: String, _ p: Pair?, _ show: (Double) -> String, _ met: (Double) -> Bool) -> String {
      guard let p else { return "  \(what): not measured FAIL\n" }
      return "  \(what): map \(show(p.map)) unmap \(show(p.unmap)) \(met(p.map) && met(p.unmap) ? "PASS" : "FAIL")\n"
    }
    s += "\ngoals\n"
    for r in ratioRows where r.c.threads == 1 {
      let limit = r.c.granulePages == 1 ? 1.10 : 1.25
      s += goal("exact on/off at \(r.c.label) <= \(f2(limit))x", r.exactOverOff, f2) { $0 <= limit }
    }
    if !hasCompiledOut {
      s += "  compiled-in-off/compiled-out: not measured (no compiled-out binary; see --help)\n"
    } else {
      for r in ratioRows where r.c.threads == 1 {
        var line = goal("compiled-in-off/compiled-out at \(r.c.label) <= 1.02x", r.offOverCompiledOut, f2) { $0 <= 1.02 }
        if let sp = r.offOverCompiledOutSpread {
          line.removeLast()
          line += " (\(sp.isInterval ? "95% interval" : "range") over \(sp.pairs) worker pairs: map \(f2(sp.map.lowerBound))-\(f2(sp.map.upperBound)), unmap \(f2(sp.unmap.lowerBound))-\(f2(sp.unmap.upperBound)))\n"
        }
        s += line
      }
    }
    if let r = ratioRows.first(where: { $0.c.granulePages == 256 && $0.c.threads == 1 }) {
      s += goal("exact accounting >= 5x faster than kernel accounting at 1M (cost added to a call)", r.costRatio, { $0.isFinite ? self.f2($0) + "x" : "inf (exact's cost below the noise)" }) { $0 >= 5 }
    }
    s += "  2 threads on 2 domains >= 1.7x the throughput of 1 (4K, exact): " + (scaling.map { "\(f2($0))x \($0 >= 1.7 ? "PASS" : "FAIL")" } ?? "not measured FAIL") + "\n"
    s += "  memory 1T, a few pages touched, < 256 MiB resident: \(memory ?? "not measured")\n"
    s += "  200,000-statement fixture < 5 s: \(fixture ?? "not measured")\n"
    write(s, to: .standardOutput)
  }

  /// What the ratios are medians over, for the header.
  var pairings: String {
    (builds.count == 1 ? "1 build (code layout)" : "\(builds.count) builds (code layouts)") + " x \(layouts) address layouts"
  }

  func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
  func f2(_ d: Double) -> String { String(format: "%.2f", d) }
  func f3(_ d: Double) -> String { String(format: "%.3f", d) }

  // MARK: - Side measurements

  /// Peak resident memory of a 1 TiB machine with a few pages touched.
  static func memoryTest() -> Int32 {
    let m = Machine(memory: PhysicalMemory(config: MemoryConfiguration(size: 1 << 40)))
    let ctx = CallContext(task: EmulatedTask(pid: 1, tgid: 1, comm: "bench"), caller: KernelFrame("bench", isDriver: true))
    var pages = 0
    if let unit = try? m.addIOMMU(name: "vtd0", model: .vtd), let dev = try? m.addDevice(name: "dev0", unit: unit, context: ctx) {
      for i in 0..<64 {
        guard let b = try? m.memory.allocPages(order: 0, context: ctx) else { break }
        m.memory.write64(b.head.address(pageShift: 12), UInt64(i))
        _ = try? m.dmaMap(dev, phys: b.head.address(pageShift: 12), size: 4096, direction: .bidirectional, context: ctx)
        pages += 1
      }
      // Touch the far end of RAM too.
      _ = try? m.memory.allocPages(order: 10, context: ctx)
    }
    let mib = Double(peakRSSKiB()) / 1024
    write("{\"pages_touched\":\(pages),\"peak_rss_mib\":\(String(format: "%.1f", mib)),\"pass\":\(mib < 256)}\n", to: .standardOutput)
    return 0
  }

  /// Time to run a fixture of 200,000 statements.
  static func fixtureTest() -> Int32 {
    var text = "iommu vtd0 model=vtd\ndevice dev0 iommu=vtd0\nd = domain vtd0\n"
    let n = 200_000 - 3
    var i = 0
    while i < n {
      switch i % 4 {
      case 0: text += "b = alloc_pages\n"
      case 1: text += "iommu_map d iova=0x10_0000 phys=b size=4K\n"
      case 2: text += "iommu_unmap d iova=0x10_0000 size=4K\n"
      default: text += "free_pages b\n"
      }
      i += 1
    }
    let t0 = DispatchTime.now().uptimeNanoseconds
    let r = FixtureRunner.run(file: "bench-200k.fixture", source: Array(text.utf8))
    let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
    let ok = r.diagnostics.isEmpty && r.summary.statements == 200_000
    write("{\"statements\":\(r.summary.statements),\"seconds\":\(String(format: "%.2f", secs)),\"pass\":\(ok && secs < 5)}\n", to: .standardOutput)
    return 0
  }

  static func peakRSSKiB() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
  }
}
