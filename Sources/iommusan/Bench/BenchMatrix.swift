import Dispatch
import FixtureRunner
import Foundation
import IOMMU
import MemoryModel
import Sanitizer

/// `bench --matrix`: 4K, 1M and 1G at 1 and 2 threads under every
/// configuration, then the ratios and the goals.
///
/// Noise on a shared host comes and goes within seconds and moves one
/// process's figures by 20% or more, so every ratio is taken between
/// measurements that saw the same noise. For each size, one worker process
/// of this binary (off, exact and kernel, 1 and 2 threads, one machine) and
/// one of the compiled-out binary serve 25 ms turns, and this process
/// hands out the turns in rounds, each round in a rotated order, until
/// every variant has had its seconds. A ratio is the median over rounds
/// of the ratio of the two variants' turns in that round.
struct BenchMatrix {
  let seconds: Double
  let json: Bool
  let compiledOut: String?
  let base: BenchCase

  static let granules: [UInt64] = [1, 256, 262_144]
  static let threadCounts = [1, 2]

  init(_ p: ParsedArguments) throws(UsageError) {
    seconds = try Commands.seconds(p, default: 3)
    json = p.flags.contains("json")
    compiledOut = try? Commands.compiledOutBinary(p)
    base = try Commands.benchCase(p)
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

  /// Runs one measurement in a child process and reads its JSON line.
  static func spawn(binary: String, _ c: BenchCase, config: BenchConfig, seconds: Double) -> BenchSample? {
    let args = workerArguments(c, seconds: seconds) + ["--interleave", BenchVariant(threads: c.threads, config: config).label]
    return runChild(binary, args).flatMap { BenchSample(json: $0.trimmingCharacters(in: .whitespacesAndNewlines)) }
  }

  static func runChild(_ binary: String, _ args: [String]) -> String? {
    let proc = Process()
    proc.executableURL = URL(fileURLWithPath: binary)
    proc.arguments = args
    let pipe = Pipe()
    proc.standardOutput = pipe
    proc.standardError = FileHandle.nullDevice
    do { try proc.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    proc.waitUntilExit()
    guard proc.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self)
  }

  /// A worker process serving turns (`bench-worker --serve`).
  final class TurnServer {
    let proc = Process()
    let input = Pipe()
    let output = Pipe()
    var buffer: [UInt8] = []

    init?(binary: String, _ c: BenchCase, variants: [BenchVariant]) {
      proc.executableURL = URL(fileURLWithPath: binary)
      proc.arguments = BenchMatrix.workerArguments(c, seconds: 1) + ["--serve", "--interleave", variants.map(\.label).joined(separator: ",")]
      // Swift seeds its hashing per process, and the seed moves the
      // model's dictionaries, and a process's speed, by up to 15%: every
      // worker gets the same seed, so the binaries are compared on equal tables.
      proc.environment = ProcessInfo.processInfo.environment.merging(["SWIFT_DETERMINISTIC_HASHING": "1"]) { $1 }
      proc.standardInput = input
      proc.standardOutput = output
      proc.standardError = FileHandle.nullDevice
      do { try proc.run() } catch { return nil }
    }

    /// One turn of variant `v`, or nil when the worker failed.
    func turn(_ v: Int, ns: UInt64) -> BenchSample? {
      do { try input.fileHandleForWriting.write(contentsOf: Data("\(v) \(ns)\n".utf8)) } catch { return nil }
      while true {
        if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
          let line = String(decoding: buffer[..<nl], as: UTF8.self)
          buffer.removeSubrange(...nl)
          return BenchSample(json: line).flatMap { $0.iterations > 0 ? $0 : nil }
        }
        let data = output.fileHandleForReading.availableData
        if data.isEmpty { return nil }
        buffer += data
      }
    }

    func finish() {
      try? input.fileHandleForWriting.close()
      proc.waitUntilExit()
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
    let inProcess: [BenchConfig] = Sanitizer.isCompiledIn ? [.off, .exact, .kernel] : [.off]
    var rows: [Row] = []
    var failures: [String] = []
    for (gi, g) in Self.granules.enumerated() {
      var c = base
      c.granulePages = g
      c.domains = 2  // 2-thread cases run on separate domains, for the scaling goal
      // Every variant of this size: which server, which of its variants, which row.
      var servers: [(TurnServer, [BenchVariant])] = []
      let mine = Self.threadCounts.flatMap { t in inProcess.map { BenchVariant(threads: t, config: $0) } }
      if let s = TurnServer(binary: Self.selfPath, c, variants: mine) { servers.append((s, mine)) } else { failures.append("\(c.label): \(Self.selfPath) did not start") }
      if let out = compiledOut {
        let theirs = Self.threadCounts.map { BenchVariant(threads: $0, config: .off) }
        if let s = TurnServer(binary: out, c, variants: theirs) {
          servers.append((s, theirs.map { BenchVariant(threads: $0.threads, config: .compiledOut) }))
        } else {
          failures.append("\(c.label): \(out) did not start")
        }
      }
      var slots: [(server: TurnServer, index: Int, row: Int)] = []
      for (server, variants) in servers {
        for (i, v) in variants.enumerated() {
          var rc = c
          rc.threads = v.threads
          slots.append((server, i, rows.count))
          rows.append(Row(c: rc, config: v.config))
        }
      }
      let budget = UInt64(seconds * 1e9)
      let turnNS = UInt64(BenchRig.turnSeconds * 1e9)
      var failed = Set<Int>()
      var round = 0
      while slots.indices.contains(where: { !failed.contains($0) && rows[slots[$0].row].sample.elapsedNS < budget }) {
        write("\r[\(gi + 1)/\(Self.granules.count)] \(c.label): round \(round + 1), \(slots.count) variants in 25 ms turns" + String(repeating: " ", count: 8), to: .standardError)
        for k in slots.indices {
          let i = (k + round) % slots.count
          let slot = slots[i]
          let done = rows[slot.row].sample.elapsedNS
          guard !failed.contains(i), done < budget else { continue }
          if let t = slot.server.turn(slot.index, ns: min(turnNS, budget - done)) {
            rows[slot.row].sample.add(t)
          } else {
            failed.insert(i)
            let r = rows[slot.row]
            failures.append("\(r.c.label) x\(r.c.threads) \(r.config.rawValue): the worker stopped answering")
          }
        }
        round += 1
      }
      for (s, _) in servers { s.finish() }
    }
    write("\r" + String(repeating: " ", count: 80) + "\r", to: .standardError)
    let memory = Self.runChild(Self.selfPath, ["bench-worker", "--memory-test"])?.trimmingCharacters(in: .whitespacesAndNewlines)
    let fixture = Self.runChild(Self.selfPath, ["bench-worker", "--fixture-test"])?.trimmingCharacters(in: .whitespacesAndNewlines)
    print(rows: rows, memory: memory, fixture: fixture)
    for f in failures { write("bench: \(f)\n", to: .standardError) }
    if memory == nil { write("bench: the memory measurement failed\n", to: .standardError) }
    if fixture == nil { write("bench: the fixture measurement failed\n", to: .standardError) }
    return failures.isEmpty && memory != nil && fixture != nil ? 0 : 1
  }

  static func median(_ xs: [Double]) -> Double? {
    let s = xs.filter(\.isFinite).sorted()
    guard !s.isEmpty else { return nil }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
  }

  /// Round by round, `f` of two variants' turns; the median.
  static func paired(_ a: BenchSample, _ b: BenchSample, _ f: (BenchSample.Turn, BenchSample.Turn) -> Double) -> Double? {
    median(zip(a.turns, b.turns).map(f))
  }

  /// The ratios of one case, map and unmap.
  struct Ratios {
    typealias Pair = (map: Double, unmap: Double)
    var c: BenchCase
    var exactOverOff: Pair
    var offOverCompiledOut: Pair?
    var kernelOverExact: Pair
    /// What each accounting adds to a call (µs, median over rounds).
    var kernelCost: Pair
    var exactCost: Pair
    /// kernelCost / exactCost; infinite when exact's cost is not measurable.
    var costRatio: Pair { (Self.over(kernelCost.map, exactCost.map), Self.over(kernelCost.unmap, exactCost.unmap)) }
    static func over(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : .infinity }
  }

  func ratios(_ rows: [Row]) -> [Ratios] {
    var out: [Ratios] = []
    var cases: [BenchCase] = []
    for r in rows where !cases.contains(r.c) { cases.append(r.c) }
    func s(_ c: BenchCase, _ k: BenchConfig) -> BenchSample? { rows.first { $0.c == c && $0.config == k }?.sample }
    for c in cases {
      guard let off = s(c, .off), let ex = s(c, .exact), let k = s(c, .kernel) else { continue }
      func pair(_ a: BenchSample, _ b: BenchSample, _ f: @escaping (Double, Double) -> Double) -> Ratios.Pair {
        (Self.paired(a, b) { f($0.map, $1.map) } ?? 0, Self.paired(a, b) { f($0.unmap, $1.unmap) } ?? 0)
      }
      let ratio: (Double, Double) -> Double = { $1 > 0 ? $0 / $1 : .nan }
      let cost: (Double, Double) -> Double = { ($0 - $1) / 1000 }
      let exactCost = pair(ex, off, cost)
      out.append(Ratios(
        c: c, exactOverOff: pair(ex, off, ratio),
        offOverCompiledOut: s(c, .compiledOut).flatMap { $0.turns.isEmpty ? nil : pair(off, $0, ratio) },
        kernelOverExact: pair(k, ex, ratio), kernelCost: pair(k, off, cost),
        exactCost: (max(0, exactCost.map), max(0, exactCost.unmap))))
    }
    return out
  }

  /// 2 threads on 2 domains against 1 thread, exact accounting, 4K: throughput, median over rounds.
  func scaling(_ rows: [Row]) -> Double? {
    guard let one = rows.first(where: { $0.c.granulePages == 1 && $0.c.threads == 1 && $0.config == .exact }),
      let two = rows.first(where: { $0.c.granulePages == 1 && $0.c.threads == 2 && $0.config == .exact })
    else { return nil }
    return Self.paired(two.sample, one.sample) { $1.throughput > 0 ? $0.throughput / $1.throughput : .nan }
  }

  func print(rows unordered: [Row], memory: String?, fixture: String?) {
    // By size, threads, then configuration in the cover letter's order.
    func key(_ r: Row) -> [Int] { [Int(r.c.granulePages), r.c.threads, BenchConfig.allCases.firstIndex(of: r.config) ?? 0] }
    let rows = unordered.sorted { key($0).lexicographicallyPrecedes(key($1)) }
    let ratioRows = ratios(rows)
    let scaling = scaling(rows)
    let r3 = Commands.round1
    func num(_ d: Double) -> String { d.isFinite ? r3(d) : "null" }
    if json {
      var s = "{\"seconds\":\(seconds),\"turn_seconds\":\(BenchRig.turnSeconds),\"results\":["
      s += rows.map { r in
        "{\"case\":\"\(r.c.label)\",\"threads\":\(r.c.threads),\"config\":\"\(r.config.rawValue)\",\"map_us\":\(r3(r.sample.map.avg)),\"map_stddev_us\":\(r3(r.sample.map.std)),\"unmap_us\":\(r3(r.sample.unmap.avg)),\"unmap_stddev_us\":\(r3(r.sample.unmap.std)),\"iterations\":\(r.sample.iterations),\"turns\":\(r.sample.turns.count)}"
      }.joined(separator: ",")
      s += "],\"ratios\":["
      s += ratioRows.map { r in
        "{\"case\":\"\(r.c.label)\",\"threads\":\(r.c.threads),\"exact_over_off_map\":\(num(r.exactOverOff.map)),\"exact_over_off_unmap\":\(num(r.exactOverOff.unmap)),\"off_over_compiled_out_map\":\(r.offOverCompiledOut.map { num($0.map) } ?? "null"),\"off_over_compiled_out_unmap\":\(r.offOverCompiledOut.map { num($0.unmap) } ?? "null"),\"kernel_over_exact_map\":\(num(r.kernelOverExact.map)),\"kernel_over_exact_unmap\":\(num(r.kernelOverExact.unmap)),\"kernel_cost_us_map\":\(num(r.kernelCost.map)),\"kernel_cost_us_unmap\":\(num(r.kernelCost.unmap)),\"exact_cost_us_map\":\(num(r.exactCost.map)),\"exact_cost_us_unmap\":\(num(r.exactCost.unmap)),\"kernel_cost_over_exact_cost_map\":\(num(r.costRatio.map)),\"kernel_cost_over_exact_cost_unmap\":\(num(r.costRatio.unmap))}"
      }.joined(separator: ",")
      s += "],\"scaling_2_threads\":\(scaling.map(r3) ?? "null"),\"memory_1t\":\(memory ?? "null"),\"fixture_200k\":\(fixture ?? "null")}\n"
      write(s, to: .standardOutput)
      return
    }
    var s = "iommusan bench --matrix: \(Commands.fmt(seconds)) s per variant in 25 ms turns, \(base.sgMode ? "SG_MODE" : "SINGLE_MODE"), \(base.direction.kernelName), smmuv3 4K, strict; 2-thread cases on 2 domains\n\n"
    s += pad("case", 6) + pad("threads", 9) + pad("config", 17) + pad("map(us)", 10) + pad("std", 9) + pad("unmap(us)", 11) + pad("std", 9) + "map+unmap/s\n"
    for r in rows {
      s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad(r.config.rawValue, 17) + pad(f2(r.sample.map.avg), 10) + pad(f2(r.sample.map.std), 9)
        + pad(f2(r.sample.unmap.avg), 11) + pad(f2(r.sample.unmap.std), 9) + String(format: "%.0f", r.sample.throughput) + "\n"
    }
    s += "\nratios (map / unmap), medians over rounds of paired turns\n"
    s += pad("case", 6) + pad("threads", 9) + pad("exact/off", 16) + pad("off/compiled-out", 19) + pad("kernel/exact", 20) + "accounting cost, kernel vs exact (us)\n"
    for r in ratioRows {
      let o = r.offOverCompiledOut.map { "\(f2($0.map)) / \(f2($0.unmap))" } ?? "n/a"
      let cost = "\(f2(r.kernelCost.map)) vs \(f3(r.exactCost.map)) / \(f2(r.kernelCost.unmap)) vs \(f3(r.exactCost.unmap))"
      s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad("\(f2(r.exactOverOff.map)) / \(f2(r.exactOverOff.unmap))", 16) + pad(o, 19)
        + pad("\(f2(r.kernelOverExact.map)) / \(f2(r.kernelOverExact.unmap))", 20) + cost + "\n"
    }
    s += "\ngoals\n"
    for r in ratioRows where r.c.threads == 1 {
      let limit = r.c.granulePages == 1 ? 1.10 : 1.25
      s += "  exact on/off at \(r.c.label) <= \(f2(limit))x: map \(f2(r.exactOverOff.map)) unmap \(f2(r.exactOverOff.unmap)) \(r.exactOverOff.map <= limit && r.exactOverOff.unmap <= limit ? "PASS" : "FAIL")\n"
    }
    for r in ratioRows where r.c.threads == 1 {
      if let o = r.offOverCompiledOut {
        s += "  compiled-in-off/compiled-out at \(r.c.label) <= 1.02x: map \(f2(o.map)) unmap \(f2(o.unmap)) \(o.map <= 1.02 && o.unmap <= 1.02 ? "PASS" : "FAIL")\n"
      }
    }
    if compiledOut == nil { s += "  compiled-in-off/compiled-out: not measured (no compiled-out binary; see --help)\n" }
    if let r = ratioRows.first(where: { $0.c.granulePages == 256 && $0.c.threads == 1 }) {
      let (m, u) = r.costRatio
      func x(_ d: Double) -> String { d.isFinite ? f2(d) + "x" : "exact's cost below the noise" }
      s += "  exact accounting >= 5x faster than kernel accounting at 1M (cost added to a call): map \(x(m)) unmap \(x(u)) \(m >= 5 && u >= 5 ? "PASS" : "FAIL")\n"
    }
    if let scaling { s += "  2 threads on 2 domains >= 1.7x the throughput of 1 (4K, exact): \(f2(scaling))x \(scaling >= 1.7 ? "PASS" : "FAIL")\n" }
    s += "  memory 1T, a few pages touched, < 256 MiB resident: \(memory ?? "not measured")\n"
    s += "  200,000-statement fixture < 5 s: \(fixture ?? "not measured")\n"
    write(s, to: .standardOutput)
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
