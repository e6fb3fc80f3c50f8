import Foundation
import IOMMU
import KernelTypes
import MemoryModel

/// `bench --iova`: the cost of one `dma_map` and `dma_unmap` while 1k, 100k
/// and 1M other mappings are live, as ratios to the 1k cost (the goal is
/// flat within 2x: the IOVA allocator walks from its cached node). 4K maps
/// reuse their IOVA through the range cache; 256K maps (64 pages, above the
/// cached sizes) are allocated in and freed from the tree every time.
enum BenchIOVA {
  static let liveCounts = [1_000, 100_000, 1_000_000]
  static let sizes: [UInt64] = [4 << 10, 256 << 10]
  /// Map and unmap pairs per round; the median of the rounds is reported.
  static let pairs = 20_000
  static let rounds = 5

  static func run() -> Int32 {
    let task = EmulatedTask(pid: 1, tgid: 1, comm: "iova_bench")
    let context = CallContext(task: task, caller: KernelFrame("iova_bench", isDriver: true))
    var rows: [(live: Int, ns: [Double])] = []
    for live in liveCounts {
      do {
        rows.append((live, try measure(live: live, context: context)))
      } catch {
        write("bench: \(error.description)\n", to: .standardError)
        return 2
      }
    }
    var out = "dma_map + dma_unmap with live mappings (ns per pair; ratio to \(liveCounts[0]) live)\n"
    out += "live".padding(toLength: 10, withPad: " ", startingAt: 0)
    for s in sizes { out += "  " + "\(ByteSize.describe(s)) ns".leftPadded(10) + "  " + "ratio".leftPadded(6) }
    out += "\n"
    for r in rows {
      out += String(r.live).padding(toLength: 10, withPad: " ", startingAt: 0)
      for (i, ns) in r.ns.enumerated() {
        let ratio = String(format: "%.2f", ns / rows[0].ns[i])
        out += "  " + String(format: "%.0f", ns).leftPadded(10) + "  " + ratio.leftPadded(6)
      }
      out += "\n"
    }
    write(out, to: .standardOutput)
    return 0
  }

  /// The median nanoseconds per pair of each size with `live` 4K mappings live.
  static func measure(live: Int, context: CallContext) throws(MachineError) -> [Double] {
    let machine = Machine(memory: PhysicalMemory(config: MemoryConfiguration(size: 1 << 30)))
    defer { machine.tearDown() }
    let unit = try machine.addIOMMU(name: "vtd0", model: .vtd)
    let device = try machine.addDevice(name: "iova0", unit: unit, context: context)
    let block = try machine.memory.allocPages(order: 6, context: context)
    let phys = block.head.address(pageShift: machine.memory.pageShift)
    for _ in 0..<live { _ = try machine.dmaMap(device, phys: phys, size: 4096, direction: .toDevice, context: context) }
    return try sizes.map { size throws(MachineError) in
      var samples: [Double] = []
      for _ in 0..<rounds {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<pairs {
          let a = try machine.dmaMap(device, phys: phys, size: size, direction: .toDevice, context: context)
          machine.dmaUnmap(device, dmaAddress: a, size: size, direction: .toDevice, context: context)
        }
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / Double(pairs))
      }
      return samples.sorted()[rounds / 2]
    }
  }
}

extension String {
  fileprivate func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}
