import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// The IOVA allocator of `drivers/iommu/iova.c`: its tree, the cached-node
/// walk, the 32-bit fast fail and the range caches.
@Suite("IOVA allocator")
struct IOVAAllocatorTests {
  /// A 16M granule: 256 pages below 4G, so random sequences fill the space.
  static let smallShift = 24

  @Test("The tree keeps order, node indices and its links through random inserts and removes")
  func treeAgainstSortedArray() {
    var rng = SplitMix64(seed: 0x10FA)
    var tree = IOVATree()
    var model: [(lo: UInt64, node: Int)] = []
    for _ in 0..<4000 {
      if model.isEmpty || rng.next() % 3 != 0 {
        let lo = (rng.next() % 5000) * 2
        guard !model.contains(where: { $0.lo == lo }) else { continue }
        let node = tree.insert(lo: lo, hi: lo + 1)
        model.append((lo, node))
        model.sort { $0.lo < $1.lo }
      } else {
        let i = Int(rng.next() % UInt64(model.count))
        tree.remove(model[i].node)
        model.remove(at: i)
      }
      #expect(tree.count == model.count)
    }
    var n = tree.first
    for (i, m) in model.enumerated() {
      #expect(n == m.node && tree[n].lo == m.lo, "node \(i) keeps its index")
      #expect(tree.prev(n) == (i == 0 ? IOVATree.none : model[i - 1].node))
      #expect(tree.find(containing: m.lo + 1) == m.node)
      n = tree.next(n)
    }
    #expect(n == IOVATree.none)
    #expect(tree.find(containing: 10_001) == IOVATree.none)
  }

  @Test("iova_find_limit() finds a node at the limit with nothing at or above it before")
  func findLimit() {
    var rng = SplitMix64(seed: 0x11)
    var tree = IOVATree()
    _ = tree.insert(lo: .max, hi: .max)
    var lo: UInt64 = 1
    for _ in 0..<500 {
      let size = 1 + rng.next() % 8
      _ = tree.insert(lo: lo, hi: lo + size - 1)
      lo += size + rng.next() % 3
    }
    for limit in stride(from: UInt64(1), to: lo + 10, by: 1) {
      let r = tree.findLimit(limit)
      #expect(tree[r].hi >= limit)
      let p = tree.prev(r)
      #expect(p == IOVATree.none || tree[p].lo < limit)
    }
  }

  @Test("Allocations are top-down below the limit, size aligned, from the cached node")
  func topDown() {
    var a = IOVAAllocator(granuleShift: 12)
    #expect(a.dma32BitPFN == 0x10_0000)
    #expect(a.allocate(pages: 1, limitPFN: a.dma32BitPFN) == 0xF_FFFF)
    #expect(a.allocate(pages: 2, limitPFN: a.dma32BitPFN) == 0xF_FFFC)
    #expect(a.allocate(pages: 3, limitPFN: a.dma32BitPFN) == 0xF_FFF8, "3 pages align to 4")
    #expect(a.allocate(pages: 1, limitPFN: 1 << 36) == (1 << 36) - 1, "above 4G: its own cached node")
    #expect(a.allocate(pages: 1, limitPFN: a.dma32BitPFN) == 0xF_FFF7)
    a.free(pfn: 0xF_FFFD)
    #expect(a.ranges.map(\.lo) == [0xF_FFF7, 0xF_FFF8, 0xF_FFFF, (1 << 36) - 1])
    #expect(a.allocatedCount == 4)
    #expect(a.allocate(pages: 2, limitPFN: a.dma32BitPFN) == 0xF_FFFC, "the free moved the cached node up")
  }

  @Test("A failed 32-bit size fails at once until something below 4G is freed")
  func max32FastFail() {
    var a = IOVAAllocator(granuleShift: Self.smallShift)
    let first = a.allocate(pages: 128, limitPFN: a.dma32BitPFN)
    #expect(first == 128)
    #expect(a.allocate(pages: 128, limitPFN: a.dma32BitPFN) == nil, "page 0 is reserved")
    #expect(a.max32AllocSize == 128)
    let steps = a.walkSteps
    #expect(a.allocate(pages: 200, limitPFN: a.dma32BitPFN) == nil)
    #expect(a.walkSteps == steps, "no walk")
    #expect(a.allocate(pages: 64, limitPFN: a.dma32BitPFN) == 64, "smaller sizes still search")
    a.free(pfn: 64)
    #expect(a.max32AllocSize == a.dma32BitPFN)
  }

  @Test("Freed small ranges come back last freed first; large ones go to the tree")
  func rcacheReuse() {
    var a = IOVAAllocator(granuleShift: 12)
    let limit: UInt64 = 1 << 36
    let x = a.allocateFast(pages: 1, limitPFN: limit, flushRCache: true)!
    let y = a.allocateFast(pages: 1, limitPFN: limit, flushRCache: true)!
    let z = a.allocateFast(pages: 3, limitPFN: limit, flushRCache: true)!
    #expect(z & 3 == 0, "3 pages are rounded to 4")
    a.freeFast(pfn: x, pages: 1)
    a.freeFast(pfn: y, pages: 1)
    a.freeFast(pfn: z, pages: 3)
    #expect(a.allocatedCount == 3, "cached ranges stay in the tree")
    #expect(a.allocateFast(pages: 1, limitPFN: limit, flushRCache: true) == y)
    #expect(a.allocateFast(pages: 1, limitPFN: limit, flushRCache: true) == x)
    #expect(a.allocateFast(pages: 4, limitPFN: limit, flushRCache: true) == z)
    let big = a.allocateFast(pages: 33, limitPFN: limit, flushRCache: true)!
    a.freeFast(pfn: big, pages: 33)
    #expect(a.allocatedCount == 3, "33 pages: order 6, not cached")
    let w = a.allocateFast(pages: 1, limitPFN: 1 << 20, flushRCache: false)!
    a.freeFast(pfn: w, pages: 1)
    #expect(
      a.allocateFast(pages: 1, limitPFN: 1 << 16, flushRCache: false) != w, "a cached range above the limit waits")
  }

  @Test("Magazines fill into the depot, and a failed allocation flushes every cache")
  func depotAndFlush() {
    var a = IOVAAllocator(granuleShift: Self.smallShift)
    let limit = a.dma32BitPFN
    var pfns: [UInt64] = []
    while let pfn = a.allocateFast(pages: 1, limitPFN: limit, flushRCache: false) { pfns.append(pfn) }
    #expect(pfns.count == 255)
    for pfn in pfns { a.freeFast(pfn: pfn, pages: 1) }
    #expect(a.rcaches[0].depot.count == 1 && a.rcaches[0].previous.isFull && a.rcaches[0].loaded.pfns.count == 1)
    #expect(a.allocateFast(pages: 2, limitPFN: limit, flushRCache: false) == nil, "all space is cached")
    #expect(a.allocateFast(pages: 2, limitPFN: limit, flushRCache: true) == 254, "flushed, then found")
    #expect(a.allocatedCount == 1)
    #expect(a.rcaches[0].depot.isEmpty && a.rcaches[0].loaded.isEmpty && a.rcaches[0].previous.isEmpty)
  }

  @Test("Random alloc and free sequences give what the kernel's algorithm gives", arguments: [1, 2, 3, 4, 5, 6])
  func againstReference(seed: UInt64) {
    var rng = SplitMix64(seed: seed)
    var a = IOVAAllocator(granuleShift: Self.smallShift)
    var ref = ReferenceIOVADomain(granuleShift: Self.smallShift)
    var live: [(pfn: UInt64, pages: UInt64)] = []
    let fast = seed % 2 == 0
    for step in 0..<3000 {
      if live.isEmpty || rng.next() % 5 < 3 {
        let pages = rng.next() % 4 == 0 ? 1 + rng.next() % 70 : 1 + rng.next() % 4
        let limit = rng.next() % 3 == 0 ? 1024 : ref.dma32BitPFN - rng.next() % 2 * 100
        let got: UInt64?
        let want: UInt64?
        if fast {
          let flush = rng.next() % 2 == 0
          got = a.allocateFast(pages: pages, limitPFN: limit, flushRCache: flush)
          want = ref.allocateFast(pages: pages, limitPFN: limit, flushRCache: flush)
        } else {
          got = a.allocate(pages: pages, limitPFN: limit)
          want = ref.allocate(size: pages, limitPFN: limit)
        }
        #expect(got == want, "step \(step): \(pages) pages below \(limit)")
        guard got == want else { return }
        if let got { live.append((got, pages)) }
      } else {
        let (pfn, pages) = live.remove(at: Int(rng.next() % UInt64(live.count)))
        if fast {
          a.freeFast(pfn: pfn, pages: pages)
          ref.freeFast(pfn: pfn, pages: pages)
        } else {
          a.free(pfn: pfn)
          ref.free(pfn: pfn)
        }
      }
      let ranges = a.ranges
      #expect(ranges.map(\.lo) == ref.ranges.dropLast().map(\.lo), "step \(step)")
      #expect(a.max32AllocSize == ref.max32AllocSize, "step \(step)")
      for (r, next) in zip(ranges, ranges.dropFirst()) { #expect(r.hi < next.lo && r.lo >= 1) }
    }
  }

  @Test("300,000 live DMA mappings: each allocation walks a few nodes")
  func manyMappings() throws {
    let rig = try Rig(.vtd)
    let dev = try rig.device()
    let d = try #require(dev.domain)
    let phys = rig.address(try rig.memory.allocPages(order: 0, context: ctx))
    let n: UInt64 = 300_000
    var iova = IOVA(0)
    for i in 0..<n {
      iova = try rig.machine.dmaMap(dev, phys: phys, size: 4096, direction: .toDevice, context: ctx)
      if i == 0 { #expect(iova.rawValue == 0xFFFF_F000) }
    }
    // Top-down, one after another, around the 1M MSI window (256 pages).
    #expect(iova.rawValue == (1 << 32) - (n + 256) * 4096)
    let (count, steps) = d.state.withLock { ($0.iovas.allocatedCount, $0.iovas.walkSteps) }
    #expect(count == Int(n) + 1, "and the reserved window")
    #expect(steps <= 2 * n, "\(steps) steps: the walk starts at the cached node")
    rig.machine.dmaUnmap(dev, dmaAddress: iova, size: 4096, direction: .toDevice, context: ctx)
    #expect(try rig.machine.dmaMap(dev, phys: phys, size: 4096, direction: .toDevice, context: ctx) == iova)
  }
}
