import KernelTypes
import Replay
import Reports
import Testing

/// `check_unmap()`'s "device driver frees DMA memory with different CPU
/// address": a coherent (`dma_alloc`) or `dma_alloc_pages` buffer freed with
/// another CPU address than it was allocated with.
@Suite struct DMAFreeCPUAddressTests {
  static let device = "0000:01:00.0"

  func replay(_ lines: [String]) -> [Report] {
    var t = TraceBuilder()
    for l in lines {
      let (event, payload) = l.split(separator: " ", maxSplits: 1).map(String.init).pair
      t.line(event, payload)
    }
    return t.replay().reports
  }

  /// Linux 6.12: both events trace `phys_addr=`, the address the kernel compares.
  @Test func physAddrOf612() throws {
    let reports = replay([
      "dma_alloc \(Self.device) dma_addr=fff00000 size=8192 phys_addr=123400000 flags=GFP_KERNEL attrs=",
      "dma_free \(Self.device) dma_addr=fff00000 size=8192 phys_addr=123402000 attrs=",
    ])
    let r = try #require(reports.first)
    #expect(reports.count == 1)
    #expect(r.kind == .dmaUnmapMismatch)
    #expect(
      r.headline
        == "DMA-API: (unknown driver) \(Self.device): device driver frees DMA memory with different CPU address "
        + "[device address=0x00000000fff00000] [size=8192 bytes] [cpu alloc address=0x0x0000000123400000] "
        + "[cpu free address=0x0x0000000123402000]")
    #expect(!r.details.contains { $0.key == "cpu addresses" })
  }

  /// Linux 6.13 on: `virt_addr=%p`, compared as traced, and said so.
  @Test(arguments: ["dma_alloc", "dma_alloc_pages"])
  func virtAddrOf613On(alloc: String) throws {
    let free = alloc == "dma_alloc" ? "dma_free" : "dma_free_pages"
    let reports = replay([
      "\(alloc) \(Self.device) dir=BIDIRECTIONAL dma_addr=fff00000 size=4096 virt_addr=00000000a1b2c3d4 flags=GFP_KERNEL attrs=",
      "\(free) \(Self.device) dir=BIDIRECTIONAL dma_addr=fff00000 size=4096 virt_addr=000000005e6f7a8b attrs=",
    ])
    #expect(reports.map(\.kind) == [.dmaUnmapMismatch])
    let r = try #require(reports.first)
    #expect(r.headline.contains("[cpu alloc address=0x0x00000000a1b2c3d4] [cpu free address=0x0x000000005e6f7a8b]"))
    #expect(r.details.contains { $0.key == "cpu addresses" })
  }

  /// The near misses: the same CPU address; a `(____ptrval____)` the hash was not ready for.
  @Test func sameAddressOrNoneIsClean() {
    #expect(
      replay([
        "dma_alloc \(Self.device) dir=BIDIRECTIONAL dma_addr=fff00000 size=4096 virt_addr=00000000a1b2c3d4 flags=GFP_KERNEL attrs=",
        "dma_free \(Self.device) dir=BIDIRECTIONAL dma_addr=fff00000 size=4096 virt_addr=00000000a1b2c3d4 attrs=",
        "dma_alloc \(Self.device) dir=BIDIRECTIONAL dma_addr=ffe00000 size=4096 virt_addr=(____ptrval____) flags=GFP_KERNEL attrs=",
        "dma_free \(Self.device) dir=BIDIRECTIONAL dma_addr=ffe00000 size=4096 virt_addr=00000000a1b2c3d4 attrs=",
      ]).isEmpty)
  }

  /// `trace-cmd report -R` prints the pointer field as a number.
  @Test func rawFields() throws {
    let reports = replay([
      "dma_alloc device=\(Self.device) dma_addr=0xfff00000 size=0x1000 virt_addr=0xffff888101234000 flags=0xcc0 attrs=0x0 dir=0",
      "dma_free device=\(Self.device) dma_addr=0xfff00000 size=0x1000 virt_addr=0xffff888101235000 attrs=0x0 dir=0",
    ])
    #expect(reports.map(\.kind) == [.dmaUnmapMismatch])
    #expect(reports.first?.headline.contains("[cpu free address=0x0xffff888101235000]") == true)
  }
}

extension Array where Element == String {
  fileprivate var pair: (String, String) { (self[0], count > 1 ? self[1] : "") }
}
