import Dispatch
import FixtureRunner
import Foundation
import IOMMU
import MemoryModel

/// `bench --matrix`: every case under every configuration, interleaved in
/// rounds (each measurement in a fresh process) so machine noise hits all
/// alike, then the ratios and the goals.
struct BenchMatrix {
  let seconds: Double
  let rounds: Int
  let json: Bool
  let compiledOut: String?
  let base: BenchCase

  init(_ p: ParsedArguments) throws(UsageError) {
    seconds = try Commands.seconds(p, default: 1)
    rounds = Int(try Commands.number(p, "rounds", default: 3, range: 1...100, what: "rounds"))
    json = p.flags.contains("json")
    compiledOut = try? Commands.compiledOutBinary(p)
    base = try Commands.benchCase(p)
  }

  static var selfPath: String { Bundle.main.executablePath ?? CommandLine.arguments[0] }

  /// Runs one measurement in a child process and reads its JSON line.
  static func spawn(binary: String, _ c: BenchCase, config: BenchConfig, seconds: Double) -> BenchSample? {
    var args = ["bench-worker", "--config", config == .compiledOut ? BenchConfig.off.rawValue : config.rawValue,
      "-t", "\(c.threads)", "-g", "\(c.granulePages)", "-m", c.sgMode ? "sg" : "single", "-x", "\(c.delayNS)",
      "--domains", "\(c.domains)", "-s", "\(seconds)"]
    switch c.direction {
    case .toDevice: args += ["-d", "1"]
    case .fromDevice: args += ["-d", "2"]
    case .bidirectional: break
    }
    guard let out = runChild(binary, args) else { return nil }
    return BenchSample(json: out.trimmingCharacters(in: .whitespacesAndNewlines))
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

  struct Row {
    var c: BenchCase
    var config: BenchConfig
    var sample = BenchSample()
  }

  func run() -> Int32 {
    var cases: [BenchCase] = []
    for g: UInt64 in [1, 256, 262_144] {
      for t in [1, 2] {
        var c = base
        c.granulePages = g
        c.threads = t
        c.domains = t  // 2-thread cases run on separate domains, for the scaling goal
        cases.append(c)
      }
    }
    let configs = BenchConfig.allCases.filter { $0 != .compiledOut || compiledOut != nil }
    var rows: [Row] = []
    for c in cases { for k in configs { rows.append(Row(c: c, config: k)) } }
    let total = rows.count * rounds
    var done = 0
    for r in 0..<rounds {
      for i in rows.indices {
        done += 1
        let row = rows[i]
        write("\r[\(done)/\(total)] round \(r + 1): \(row.c.label) x\(row.c.threads) \(row.config.rawValue)        ", to: .standardError)
        let bin = row.config == .compiledOut ? compiledOut! : Self.selfPath
        if let s = Self.spawn(binary: bin, row.c, config: row.config, seconds: seconds) { rows[i].sample.add(s) }
      }
    }
    write("\r" + String(repeating: " ", count: 60) + "\r", to: .standardError)
    let memory = Self.runChild(Self.selfPath, ["bench-worker", "--memory-test"])?.trimmingCharacters(in: .whitespacesAndNewlines)
    let fixture = Self.runChild(Self.selfPath, ["bench-worker", "--fixture-test"])?.trimmingCharacters(in: .whitespacesAndNewlines)
    print(rows: rows, configs: configs, memory: memory, fixture: fixture)
    return 0
  }

  func sample(_ rows: [Row], _ c: BenchCase, _ k: BenchConfig) -> BenchSample? {
    rows.first { $0.c == c && $0.config == k }?.sample
  }

  func print(rows: [Row], configs: [BenchConfig], memory: String?, fixture: String?) {
    func ratio(_ a: Double, _ b: Double) -> Double { b > 0 ? a / b : 0 }
    var ratioRows: [(c: BenchCase, exactMap: Double, exactUnmap: Double, offMap: Double?, offUnmap: Double?, kernelMap: Double, kernelUnmap: Double)] = []
    var cases: [BenchCase] = []
    for r in rows where !cases.contains(r.c) { cases.append(r.c) }
    for c in cases {
      guard let off = sample(rows, c, .off), let ex = sample(rows, c, .exact), let k = sample(rows, c, .kernel) else { continue }
      let out = sample(rows, c, .compiledOut)
      ratioRows.append((c, ratio(ex.map.avg, off.map.avg), ratio(ex.unmap.avg, off.unmap.avg),
        out.map { ratio(off.map.avg, $0.map.avg) }, out.map { ratio(off.unmap.avg, $0.unmap.avg) },
        ratio(k.map.avg, ex.map.avg), ratio(k.unmap.avg, ex.unmap.avg)))
    }
    // Scaling: 2 threads on 2 domains against 1 thread, exact accounting, 4K.
    var scaling: Double?
    if let one = cases.first(where: { $0.granulePages == 1 && $0.threads == 1 }), let two = cases.first(where: { $0.granulePages == 1 && $0.threads == 2 }),
      let s1 = sample(rows, one, .exact), let s2 = sample(rows, two, .exact)
    {
      scaling = ratio(s2.throughput(threads: 2), s1.throughput(threads: 1))
    }
    if json {
      var s = "{\"seconds\":\(seconds),\"rounds\":\(rounds),\"results\":["
      s += rows.map { r in
        "{\"case\":\"\(r.c.label)\",\"threads\":\(r.c.threads),\"config\":\"\(r.config.rawValue)\",\"map_us\":\(Commands.round1(r.sample.map.avg)),\"map_stddev_us\":\(Commands.round1(r.sample.map.std)),\"unmap_us\":\(Commands.round1(r.sample.unmap.avg)),\"unmap_stddev_us\":\(Commands.round1(r.sample.unmap.std)),\"iterations\":\(r.sample.iterations)}"
      }.joined(separator: ",")
      s += "],\"ratios\":["
      s += ratioRows.map { r in
        "{\"case\":\"\(r.c.label)\",\"threads\":\(r.c.threads),\"exact_over_off_map\":\(Commands.round1(r.exactMap)),\"exact_over_off_unmap\":\(Commands.round1(r.exactUnmap)),\"off_over_compiled_out_map\":\(r.offMap.map(Commands.round1) ?? "null"),\"off_over_compiled_out_unmap\":\(r.offUnmap.map(Commands.round1) ?? "null"),\"kernel_over_exact_map\":\(Commands.round1(r.kernelMap)),\"kernel_over_exact_unmap\":\(Commands.round1(r.kernelUnmap))}"
      }.joined(separator: ",")
      s += "],\"scaling_2_threads\":\(scaling.map(Commands.round1) ?? "null"),\"memory_1t\":\(memory ?? "null"),\"fixture_200k\":\(fixture ?? "null")}\n"
      write(s, to: .standardOutput)
      return
    }
    var s = "iommusan bench --matrix: \(rounds) rounds x \(Commands.fmt(seconds)) s per measurement, \(base.sgMode ? "SG_MODE" : "SINGLE_MODE"), \(base.direction.kernelName), smmuv3 4K, strict; 2-thread cases on 2 domains\n\n"
    s += pad("case", 6) + pad("threads", 9) + pad("config", 17) + pad("map(us)", 10) + pad("std", 9) + pad("unmap(us)", 11) + pad("std", 9) + "map+unmap/s\n"
    for r in rows {
      s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad(r.config.rawValue, 17) + pad(f(r.sample.map.avg), 10) + pad(f(r.sample.map.std), 9)
        + pad(f(r.sample.unmap.avg), 11) + pad(f(r.sample.unmap.std), 9) + String(format: "%.0f", r.sample.throughput(threads: r.c.threads)) + "\n"
    }
    s += "\nratios (map / unmap)\n"
    s += pad("case", 6) + pad("threads", 9) + pad("exact/off", 16) + pad("off/compiled-out", 19) + "kernel/exact\n"
    for r in ratioRows {
      let o = r.offMap.map { "\(f2($0)) / \(f2(r.offUnmap ?? 0))" } ?? "n/a"
      s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad("\(f2(r.exactMap)) / \(f2(r.exactUnmap))", 16) + pad(o, 19) + "\(f2(r.kernelMap)) / \(f2(r.kernelUnmap))\n"
    }
    s += "\ngoals\n"
    for r in ratioRows where r.c.threads == 1 {
      let limit = r.c.granulePages == 1 ? 1.10 : 1.25
      s += "  exact on/off at \(r.c.label) <= \(f2(limit))x: map \(f2(r.exactMap)) unmap \(f2(r.exactUnmap)) \(r.exactMap <= limit && r.exactUnmap <= limit ? "PASS" : "FAIL")\n"
    }
    for r in ratioRows where r.c.threads == 1 {
      if let om = r.offMap, let ou = r.offUnmap {
        s += "  compiled-in-off/compiled-out at \(r.c.label) <= 1.02x: map \(f2(om)) unmap \(f2(ou)) \(om <= 1.02 && ou <= 1.02 ? "PASS" : "FAIL")\n"
      }
    }
    if compiledOut == nil { s += "  compiled-in-off/compiled-out: not measured (no compiled-out binary; see --help)\n" }
    if let r = ratioRows.first(where: { $0.c.granulePages == 256 && $0.c.threads == 1 }) {
      s += "  exact >= 5x faster than kernel at 1M: map \(f2(r.kernelMap))x unmap \(f2(r.kernelUnmap))x \(r.kernelMap >= 5 && r.kernelUnmap >= 5 ? "PASS" : "FAIL")\n"
    }
    if let scaling { s += "  2 threads on 2 domains >= 1.7x the throughput of 1 (4K, exact): \(f2(scaling))x \(scaling >= 1.7 ? "PASS" : "FAIL")\n" }
    s += "  memory 1T, a few pages touched, < 256 MiB resident: \(memory ?? "not measured")\n"
    s += "  200,000-statement fixture < 5 s: \(fixture ?? "not measured")\n"
    write(s, to: .standardOutput)
  }

  func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
  func f(_ d: Double) -> String { String(format: "%.2f", d) }
  func f2(_ d: Double) -> String { String(format: "%.2f", d) }

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
