import Dispatch
import Foundation
import IOMMU
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

  mutating func add(_ o: BenchSample) {
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
  func throughput(threads: Int) -> Double {
    elapsedNS == 0 ? 0 : Double(iterations) / (Double(elapsedNS) / 1e9)
  }

  static func stats(_ sum: Double, _ sq: Double, _ n: UInt64) -> (Double, Double) {
    guard n > 0 else { return (0, 0) }
    let mean = sum / Double(n)
    let variance = max(0, sq / Double(n) - mean * mean)
    return (mean / 1000, variance.squareRoot() / 1000)
  }

  var json: String {
    "{\"iterations\":\(iterations),\"map_sum\":\(mapSum),\"map_sumsq\":\(mapSumSq),\"unmap_sum\":\(unmapSum),\"unmap_sumsq\":\(unmapSumSq),\"elapsed_ns\":\(elapsedNS)}"
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
  }
}

/// Runs dma_map_benchmark's loop in this process: each thread maps and
/// unmaps its own buffer for `seconds`, timing each call.
/// The corresponding Linux function is `map_benchmark_thread()`.
enum BenchWorker {
  static func run(_ c: BenchCase, config: BenchConfig, seconds: Double) throws(MachineError) -> BenchSample {
    let gig: UInt64 = 1 << 30
    let bufferSlot = max(gig, (c.granulePages << 12) * (c.sgMode ? 2 : 1))
    let (slots, o) = bufferSlot.multipliedReportingOverflow(by: UInt64(c.threads))
    guard !o, slots <= 64 * gig else { throw MachineError(.ENOMEM, "buffers of \(c.threads) x \(ByteSize.describe(bufferSlot)) exceed 64G") }
    let memory = PhysicalMemory(config: MemoryConfiguration(size: gig + slots))
    let machine = Machine(memory: memory)
    let ctx = CallContext(task: EmulatedTask(pid: 1, tgid: 1, comm: "dma_map_benchma"), caller: KernelFrame("map_benchmark_thread", isDriver: true))
    if config == .exact || config == .kernel {
      var sc = Sanitizer.Configuration()
      sc.accounting = config == .kernel ? .kernel : .exact
      Sanitizer(machine: machine, configuration: sc).attachDebugHooksOnly()
    }
    var devices: [Device] = []
    for i in 0..<max(1, c.domains) {
      // Separate domains sit behind separate SMMUv3s (the cover letter's IOMMU).
      let unit = try machine.addIOMMU(name: "smmu\(i)", model: .smmuv3)
      devices.append(try machine.addDevice(name: "bench\(i)", unit: unit, context: ctx))
    }
    let base = memory.config.base.rawValue + gig
    let box = Slots<BenchSample>(count: c.threads)
    let start = DispatchTime.now().uptimeNanoseconds
    let deadline = start + UInt64(seconds * 1e9)
    let devs = devices
    DispatchQueue.concurrentPerform(iterations: c.threads) { t in
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
    return total
  }
}
