import Dispatch
import Foundation
import IOMMU
import KernelTypes
import MemoryModel
import Sanitizer

/// What `bench` measures: the configurations of the kernel's cover letter
/// plus kernel accounting.
enum BenchConfig: String, CaseIterable {
  /// The `DebugPageAlloc` trait off: the hooks are not compiled (a second binary).
  case compiledOut = "compiled-out"
  /// Compiled in, `iommu.debug_pagealloc=0`.
  case off = "compiled-in-off"
  /// On, exact accounting.
  case exact
  /// On, the kernel's algorithm.
  case kernel
}

/// One measured case: dma_map_benchmark's parameters.
struct BenchCase: Hashable {
  var threads = 1
  var granulePages: UInt64 = 1
  var sgMode = false
  var direction: DMADirection = .bidirectional
  var delayNS: UInt64 = 0
  var domains = 1

  var label: String { ByteSize.describe(granulePages << 12) }
}

/// Sums of one measurement, in nanoseconds.
struct BenchSample {
  var iterations: UInt64 = 0
  var mapSum: Double = 0
  var mapSumSq: Double = 0
  var unmapSum: Double = 0
  var unmapSumSq: Double = 0
  var elapsedNS: UInt64 = 0
  /// Each turn's own figures, in order, for paired ratios.
  var turns: [Turn] = []

  /// One turn: mean map and unmap latency (ns), map+unmap pairs per
  /// second, and the matrix round and worker pair (build and address
  /// layout) it belongs to.
  struct Turn {
    var map: Double
    var unmap: Double
    var throughput: Double
    var round = 0
    var pair = 0
  }

  var summary: Turn {
    let n = Double(max(iterations, 1))
    return Turn(map: mapSum / n, unmap: unmapSum / n, throughput: throughput)
  }

  mutating func add(_ o: BenchSample) {
    turns += o.turns
    iterations += o.iterations
    mapSum += o.mapSum
    mapSumSq += o.mapSumSq
    unmapSum += o.unmapSum
    unmapSumSq += o.unmapSumSq
    elapsedNS += o.elapsedNS
  }

  /// Average and standard deviation in microseconds, as the tool prints them.
  var map: (avg: Double, std: Double) { Self.stats(mapSum, mapSumSq, iterations) }
  var unmap: (avg: Double, std: Double) { Self.stats(unmapSum, unmapSumSq, iterations) }
  /// Map+unmap pairs per second, over all threads.
  var throughput: Double { elapsedNS == 0 ? 0 : Double(iterations) / (Double(elapsedNS) / 1e9) }

  static func stats(_ sum: Double, _ sq: Double, _ n: UInt64) -> (Double, Double) {
    guard n > 0 else { return (0, 0) }
    let mean = sum / Double(n)
    let variance = max(0, sq / Double(n) - mean * mean)
    return (mean / 1000, variance.squareRoot() / 1000)
  }

  var json: String {
    let t = turns.map { "[\($0.map),\($0.unmap),\($0.throughput)]" }.joined(separator: ",")
    return "{\"iterations\":\(iterations),\"map_sum\":\(mapSum),\"map_sumsq\":\(mapSumSq),\"unmap_sum\":\(unmapSum),\"unmap_sumsq\":\(unmapSumSq),\"elapsed_ns\":\(elapsedNS),\"turns\":[\(t)]}"
  }

  /// The result object of `bench --json` and of a `--matrix --json` row,
  /// without its closing brace; latencies null when `measured` is false.
  func resultJSON(_ c: BenchCase, config: BenchConfig, measured: Bool = true) -> String {
    func us(_ v: Double) -> String { measured ? Commands.fixed3(v) : "null" }
    return "{\"case\":\"\(c.label)\",\"threads\":\(c.threads),\"config\":\"\(config.rawValue)\",\"map_us\":\(us(map.avg)),\"map_stddev_us\":\(us(map.std)),\"unmap_us\":\(us(unmap.avg)),\"unmap_stddev_us\":\(us(unmap.std)),\"iterations\":\(iterations)"
  }

  init() {}
  init?(json: String) {
    guard let data = json.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
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

/// One configuration and thread count of an interleaved measurement.
struct BenchVariant: Hashable {
  var threads: Int
  var config: BenchConfig

  /// `threads:config`, as `bench-worker --interleave` takes it.
  var label: String { "\(threads):\(config.rawValue)" }

  init(threads: Int, config: BenchConfig) {
    self.threads = threads
    self.config = config
  }

  init?(label: Substring) {
    let parts = label.split(separator: ":", maxSplits: 1)
    guard parts.count == 2, let t = Int(parts[0]), (1...1024).contains(t), let c = BenchConfig(rawValue: String(parts[1])) else { return nil }
    self.init(threads: t, config: c)
  }
}

/// dma_map_benchmark's loop on one emulated machine, a turn at a time:
/// each thread maps and unmaps its own buffer, timing each call. The
/// configuration may change between turns, with no map in flight: the
/// debug hooks are attached or detached as the static key would be
/// flipped. Thread `i` uses device `i % case.domains`.
/// The corresponding Linux function is `map_benchmark_thread()`.
final class BenchRig {
  let c: BenchCase
  let variants: [BenchVariant]
  private let machine: Machine
  private let devices: [Device]
  private let hooks: BenchHooks
  private let base: UInt64
  private let bufferSlot: UInt64
  private let context = CallContext(task: EmulatedTask(pid: 1, tgid: 1, comm: "dma_map_benchma"), caller: KernelFrame("map_benchmark_thread", isDriver: true))

  init(_ c: BenchCase, variants: [BenchVariant]) throws(MachineError) {
    self.c = c
    self.variants = variants
    let threads = variants.map(\.threads).max() ?? 1
    let gig: UInt64 = 1 << 30
    bufferSlot = max(gig, (c.granulePages << 12) * (c.sgMode ? 2 : 1))
    let (slots, o) = bufferSlot.multipliedReportingOverflow(by: UInt64(threads))
    guard !o, slots <= 64 * gig else { throw MachineError(.ENOMEM, "buffers of \(threads) x \(ByteSize.describe(bufferSlot)) exceed 64G") }
    let memory = PhysicalMemory(config: MemoryConfiguration(size: gig + slots))
    machine = Machine(memory: memory)
    var devices: [Device] = []
    for i in 0..<max(1, c.domains) {
      // Separate domains sit behind separate SMMUv3s (the cover letter's IOMMU).
      let unit = try machine.addIOMMU(name: "smmu\(i)", model: .smmuv3)
      devices.append(try machine.addDevice(name: "bench\(i)", unit: unit, context: context))
    }
    self.devices = devices
    hooks = BenchHooks(machine: machine, configs: Set(variants.map(\.config)))
    base = memory.config.base.rawValue + gig
  }

  deinit { machine.tearDown() }

  /// One turn of variant `v`: its threads map and unmap for `ns`
  /// nanoseconds (at least one iteration each).
  func turn(_ v: Int, ns: UInt64) -> BenchSample {
    hooks.select(variants[v].config)
    defer { hooks.select(.off) }
    let threads = variants[v].threads
    let (c, devs, machine, base, bufferSlot, ctx) = (c, devices, machine, base, bufferSlot, context)
    let box = Slots<BenchSample>(count: threads)
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + ns
    DispatchQueue.concurrentPerform(iterations: threads) { t in
      let dev = devs[t % devs.count]
      let buffer = base + UInt64(t) * bufferSlot
      var s = BenchSample()
      var handles: [IOVA] = []
      handles.reserveCapacity(c.sgMode ? Int(c.granulePages) : 1)
      while true {
        let t0 = DispatchTime.now().uptimeNanoseconds
        handles.removeAll(keepingCapacity: true)
        if c.sgMode {
          for p in 0..<c.granulePages {
            if let a = try? machine.dmaMap(dev, phys: PhysicalAddress(buffer + p * 8192), size: 4096, direction: c.direction, context: ctx) { handles.append(a) }
          }
        } else if let a = try? machine.dmaMap(dev, phys: PhysicalAddress(buffer), size: c.granulePages << 12, direction: c.direction, context: ctx) {
          handles.append(a)
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        if c.delayNS > 0 {
          let until = t1 + c.delayNS
          while DispatchTime.now().uptimeNanoseconds < until {}
        }
        let t2 = DispatchTime.now().uptimeNanoseconds
        for h in handles { machine.dmaUnmap(dev, dmaAddress: h, size: nil, direction: nil, context: ctx) }
        let t3 = DispatchTime.now().uptimeNanoseconds
        let m = Double(t1 - t0), u = Double(t3 - t2)
        s.iterations += 1
        s.mapSum += m
        s.mapSumSq += m * m
        s.unmapSum += u
        s.unmapSumSq += u * u
        if t3 >= deadline { break }
      }
      box.set(t, s)
    }
    var total = BenchSample()
    for s in box.values { total.add(s) }
    total.elapsedNS = DispatchTime.now().uptimeNanoseconds - start
    total.turns = [total.summary]
    return total
  }

  /// How long a turn lasts.
  static let turnSeconds = 0.025

  /// Serves turns to a parent (`bench --matrix`): reads `v ns` lines on
  /// standard input, answers each with the turn's JSON line, until end of
  /// input. The parent interleaves turns of several processes this way.
  func serve() {
    while let line = readLine() {
      let f = line.split(separator: " ")
      guard f.count == 2, let v = Int(f[0]), variants.indices.contains(v), let ns = UInt64(f[1]) else {
        write("{\"error\":\"bad turn request\"}\n", to: .standardOutput)
        continue
      }
      write(turn(v, ns: ns).json + "\n", to: .standardOutput)
    }
  }
}

/// The sanitizers a measurement switches between: none (the static key
/// off), exact accounting, kernel accounting.
private struct BenchHooks {
  let machine: Machine
  #if IOMMU_DEBUG_PAGEALLOC
    var sanitizers: [BenchConfig: Sanitizer] = [:]
  #endif

  init(machine: Machine, configs: Set<BenchConfig>) {
    self.machine = machine
    #if IOMMU_DEBUG_PAGEALLOC
      for k in configs where k == .exact || k == .kernel {
        var sc = Sanitizer.Configuration()
        sc.accounting = k == .kernel ? .kernel : .exact
        sanitizers[k] = Sanitizer(machine: machine, configuration: sc)
      }
    #endif
  }

  /// Attaches the configuration's hooks (or none).
  func select(_ config: BenchConfig) {
    #if IOMMU_DEBUG_PAGEALLOC
      if let s = sanitizers[config] { s.attachDebugHooksOnly() } else { machine.debugHooks = nil }
    #endif
  }
}
