import Dispatch
import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Sanitizer
import Synchronization

/// dma_map_benchmark's loop on one emulated machine, a turn at a time:
/// each thread maps and unmaps its own buffer, timing each call. The
/// configuration may change between turns, with no map in flight: the
/// debug hooks are attached or detached as the static key would be
/// flipped. Thread `i` uses device `i % case.domains`.
/// The corresponding Linux function is `map_benchmark_thread()`.
package final class BenchRig {
  let c: BenchCase
  let variants: [BenchVariant]
  private let machine: Machine
  private let devices: [Device]
  private let hooks: BenchHooks
  private let base: UInt64
  private let bufferSlot: UInt64
  private let context = CallContext(
    task: EmulatedTask(pid: 1, tgid: 1, comm: "dma_map_benchma"),
    caller: KernelFrame("map_benchmark_thread", isDriver: true))

  package init(_ c: BenchCase, variants: [BenchVariant]) throws(MachineError) {
    self.c = c
    self.variants = variants
    let threads = variants.map(\.threads).max() ?? 1
    let gig: UInt64 = 1 << 30
    bufferSlot = max(gig, (c.granulePages << 12) * (c.sgMode ? 2 : 1))
    let (slots, o) = bufferSlot.multipliedReportingOverflow(by: UInt64(threads))
    guard !o, slots <= 64 * gig else {
      throw MachineError(.ENOMEM, "buffers of \(threads) x \(ByteSize.describe(bufferSlot)) exceed 64G")
    }
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
  package func turn(_ v: Int, ns: UInt64) -> BenchSample {
    hooks.select(variants[v].config)
    defer { hooks.select(.off) }
    let threads = variants[v].threads
    let (c, devs, machine, base, bufferSlot, ctx) = (c, devices, machine, base, bufferSlot, context)
    let results = Mutex([BenchSample](repeating: BenchSample(), count: threads))
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
            let phys = PhysicalAddress(buffer + p * 8192)
            if let a = try? machine.dmaMap(dev, phys: phys, size: 4096, direction: c.direction, context: ctx) {
              handles.append(a)
            }
          }
        } else if let a = try? machine.dmaMap(
          dev, phys: PhysicalAddress(buffer), size: c.granulePages << 12, direction: c.direction, context: ctx)
        {
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
        let m = Double(t1 - t0)
        let u = Double(t3 - t2)
        s.iterations += 1
        s.mapSum += m
        s.mapSumSq += m * m
        s.unmapSum += u
        s.unmapSumSq += u * u
        if t3 >= deadline { break }
      }
      results.withLock { $0[t] = s }
    }
    var total = BenchSample()
    for s in results.withLock({ $0 }) { total.add(s) }
    total.elapsedNS = DispatchTime.now().uptimeNanoseconds - start
    total.turns = [total.summary]
    return total
  }

  /// How long a turn lasts.
  static let turnSeconds = 0.025

  /// A worker's rig (`bench-worker`): compiled-out variants run as off,
  /// the worker being the binary without the hooks.
  package convenience init(worker c: BenchCase, variants: [BenchVariant]) throws(MachineError) {
    let served = variants.map { v in
      BenchVariant(threads: v.threads, config: v.config == .compiledOut ? .off : v.config)
    }
    try self.init(c, variants: served)
  }

  /// The answer to a parent's (`bench --matrix`) turn request, a `v ns`
  /// line: the turn's sums, or an error. The parent interleaves turns of
  /// several processes this way.
  package func answer(_ request: String) -> JSONValue {
    let f = request.split(separator: " ")
    guard f.count == 2, let v = Int(f[0]), variants.indices.contains(v), let ns = UInt64(f[1]) else {
      return ["error": "bad turn request"]
    }
    return turn(v, ns: ns).json
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
