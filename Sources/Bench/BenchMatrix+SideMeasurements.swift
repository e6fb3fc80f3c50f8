import Dispatch
import FixtureRunner
import Foundation
import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// The matrix's side measurements, each run in a process of its own
/// (`bench-worker --memory-test`, `--fixture-test`).
extension BenchMatrix {
  /// Peak resident memory of a 1 TiB machine with a few pages touched.
  package static func memoryTest() -> JSONValue {
    let m = Machine(memory: PhysicalMemory(config: MemoryConfiguration(size: 1 << 40)))
    let ctx = CallContext(
      task: EmulatedTask(pid: 1, tgid: 1, comm: "bench"), caller: KernelFrame("bench", isDriver: true))
    var pages = 0
    if let unit = try? m.addIOMMU(name: "vtd0", model: .vtd),
      let dev = try? m.addDevice(name: "dev0", unit: unit, context: ctx)
    {
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
    return ["pages_touched": JSONValue(pages), "peak_rss_mib": .fixed(mib, 1), "pass": JSONValue(mib < 256)]
  }

  /// Time to run a fixture of 200,000 statements.
  package static func fixtureTest() -> JSONValue {
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
    let ok = !r.hasErrors && r.summary.statements == 200_000
    return [
      "statements": JSONValue(r.summary.statements), "seconds": .fixed(secs, 2), "pass": JSONValue(ok && secs < 5),
    ]
  }

  static func peakRSSKiB() -> Int {
    guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }
    return 0
  }
}
