import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// One hand-computed `iommu_pgsize()` case.
struct PgsizeCase: Sendable, CustomTestStringConvertible {
  var bitmap: UInt64
  var iova: UInt64
  var paddr: UInt64
  var size: UInt64
  var pgsize: UInt64
  var count: UInt64
  var why: String
  var testDescription: String { why }
}

let x86Sizes: UInt64 = 4 * K | 2 * M | G

@Suite("iommu_pgsize() and page-table formats")
struct PageSizeTests {
  static let cases: [PgsizeCase] = [
    .init(bitmap: x86Sizes, iova: 0, paddr: 0, size: 4 * K, pgsize: 4 * K, count: 1, why: "one small page"),
    .init(bitmap: x86Sizes, iova: 0, paddr: 0, size: 2 * M, pgsize: 2 * M, count: 1, why: "one 2M page, no 1G fits"),
    .init(
      bitmap: x86Sizes, iova: 0x1000, paddr: 0x1000, size: 4 * M, pgsize: 4 * K, count: 511,
      why: "4K pages stop at the 2M boundary"),
    .init(
      bitmap: x86Sizes, iova: 0x1000, paddr: 0x1000, size: 0x3F_F000, pgsize: 4 * K, count: 511,
      why: "offset + 2M == size still stops at the boundary"),
    .init(
      bitmap: x86Sizes, iova: 0x1000, paddr: 0x1000, size: 0x3F_E000, pgsize: 4 * K, count: 1022,
      why: "no 2M page fits after the boundary: all 4K"),
    .init(
      bitmap: x86Sizes, iova: 0x1000, paddr: 0x2000, size: 4 * M, pgsize: 4 * K, count: 1024,
      why: "iova and paddr offset differently"),
    .init(
      bitmap: x86Sizes, iova: 0, paddr: 0x1000, size: 8 * K, pgsize: 4 * K, count: 2, why: "paddr limits the alignment"),
    .init(
      bitmap: x86Sizes, iova: 0x20_0000, paddr: 0x4020_0000, size: 0x4020_0000, pgsize: 2 * M, count: 513,
      why: "2M pages run past 1G when no 1G page fits after it"),
    .init(
      bitmap: x86Sizes, iova: 0x20_0000, paddr: 0x4020_0000, size: 2 * G, pgsize: 2 * M, count: 511,
      why: "2M pages stop at the 1G boundary"),
    .init(bitmap: x86Sizes, iova: 0, paddr: 0, size: 3 * G, pgsize: G, count: 3, why: "largest size: no limit"),
    .init(
      bitmap: x86Sizes, iova: G, paddr: G, size: 3 * G + 2 * M + 4 * K, pgsize: G, count: 3,
      why: "count is size >> 30, the tail is left"),
    .init(bitmap: x86Sizes, iova: 0, paddr: 0, size: 0x800, pgsize: 0, count: 0, why: "nothing fits"),
    .init(
      bitmap: 16 * K | 32 * M, iova: 0x4000, paddr: 0x4000, size: 64 * M, pgsize: 16 * K, count: 2047,
      why: "16K granule stops at 32M"),
    .init(
      bitmap: 64 * K | 512 * M, iova: 0x1_0000, paddr: 0x1_0000, size: G, pgsize: 64 * K, count: 8191,
      why: "64K granule stops at 512M"),
    .init(
      bitmap: 64 * K | 512 * M, iova: 0x1_0000, paddr: 0x1_0000, size: G - 128 * K, pgsize: 64 * K, count: 16382,
      why: "64K granule: no 512M fits"),
    .init(
      bitmap: 4 * K | G, iova: 0x20_0000, paddr: 0x20_0000, size: 2 * G, pgsize: 4 * K, count: (G - 2 * M) >> 12,
      why: "next size is 1G when 2M is not supported"),
    .init(
      bitmap: 0xFFFF_FFFF_F000, iova: 0x3000, paddr: 0x7000, size: 0x10_0000, pgsize: 4 * K, count: 1,
      why: "every power of two: stops at the 8K boundary"),
    .init(
      bitmap: 0xFFFF_FFFF_F000, iova: 0x4000, paddr: 0x8000, size: 0x10_0000, pgsize: 16 * K, count: 64,
      why: "every power of two: iova and paddr differ at 16K"),
    .init(
      bitmap: 4 * K | 1 << 63, iova: 0, paddr: 0, size: (1 << 63) - 4 * K, pgsize: 4 * K, count: (1 << 51) - 1,
      why: "check_add_overflow(offset, pgsize_next)"),
  ]

  @Test("iommu_pgsize() hand-computed cases", arguments: cases)
  func handComputed(_ c: PgsizeCase) {
    let (pgsize, count) = iommuPgsize(bitmap: c.bitmap, iova: c.iova, paddr: c.paddr, size: c.size)
    #expect(pgsize == c.pgsize)
    #expect(count == c.count)
  }

  /// The largest supported page that both addresses are aligned to and that fits.
  static func greedy(_ bitmap: UInt64, _ iova: UInt64, _ paddr: UInt64, _ size: UInt64) -> UInt64? {
    var m = bitmap
    while m != 0 {
      let s: UInt64 = 1 << UInt64(63 - m.leadingZeroBitCount)
      if s <= size, (iova | paddr) & (s - 1) == 0 { return s }
      m &= ~s
    }
    return nil
  }

  @Test("iommu_pgsize() chunks agree with a greedy page-by-page split (random inputs)")
  func randomChunksAgreeWithGreedy() {
    var rng = SplitMix64(seed: 0xC0FF_EE00)
    let bitmaps: [UInt64] = [
      x86Sizes, 16 * K | 32 * M, 64 * K | 512 * M, 4 * K | G, 0xFFFF_FFFF_F000, 4 * K | 64 * K | 2 * M,
    ]
    for _ in 0..<3000 {
      let bitmap = bitmaps.randomElement(using: &rng)!
      let gran = UInt64(1) << UInt64(bitmap.trailingZeroBitCount)
      let largest = UInt64(1) << UInt64(63 - bitmap.leadingZeroBitCount)
      // Random addresses with random alignments, and related offsets half the time.
      let iova = (rng.next() % (1 << 40)) & ~(gran - 1) & ~((1 << (rng.next() % 32)) - 1)
      let paddr =
        rng.next() % 2 == 0
        ? (iova &+ largest * (rng.next() % 8)) & ((1 << 52) - 1) : (rng.next() % (1 << 44)) & ~(gran - 1)
      var size = gran * (1 + rng.next() % 64) + (rng.next() % 3) * largest + (rng.next() % 3) * (largest / 2)
      size &= ~(gran - 1)
      var a = iova
      var p = paddr
      var left = size
      var chunks = 0
      while left > 0 {
        let (pgsize, count) = iommuPgsize(bitmap: bitmap, iova: a, paddr: p, size: left)
        guard pgsize != 0 else {
          Issue.record("no page size for \(a.hexAlt) \(p.hexAlt) \(left.hexAlt)")
          break
        }
        #expect(bitmap & pgsize == pgsize && count >= 1 && pgsize * count <= left)
        #expect((a | p) % pgsize == 0)
        // The first and last page of the chunk are what a greedy split picks.
        #expect(Self.greedy(bitmap, a, p, left) == pgsize)
        let lastOff = pgsize * (count - 1)
        #expect(Self.greedy(bitmap, a + lastOff, p + lastOff, left - lastOff) == pgsize)
        a += pgsize * count
        p += pgsize * count
        left -= pgsize * count
        // The chunk ends where the greedy split changes size.
        if left > 0 {
          #expect(Self.greedy(bitmap, a, p, left) != pgsize, "chunk \(chunks) of \(bitmap.hexAlt) ended early")
        }
        chunks += 1
      }
    }
  }

  @Test("LeafRuns yields the iommu_pgsize() chunks, back to back, and stops where none fits")
  func leafRunsFollowIommuPgsize() {
    var rng = SplitMix64(seed: 0x1EAF_0000)
    let bitmaps: [UInt64] = [x86Sizes, 16 * K | 32 * M, 64 * K | 512 * M, 0xFFFF_FFFF_F000]
    for _ in 0..<2000 {
      let bitmap = bitmaps.randomElement(using: &rng)!
      let gran = UInt64(1) << UInt64(bitmap.trailingZeroBitCount)
      let iova = (rng.next() % (1 << 40)) & ~(gran - 1)
      let phys = rng.next() % 2 == 0 ? iova : (rng.next() % (1 << 44)) & ~(gran - 1)
      // Sometimes a tail smaller than the smallest page: the split stops there.
      let size = gran * (1 + rng.next() % 600) + (rng.next() % 4 == 0 ? gran / 2 : 0)
      var runs = LeafRuns(bitmap: bitmap, iova: iova, phys: phys, size: size)
      var done: UInt64 = 0
      while let run = runs.next() {
        let (pgsize, count) = iommuPgsize(bitmap: bitmap, iova: iova + done, paddr: phys + done, size: size - done)
        #expect(run == LeafRuns.Run(iova: iova + done, phys: phys + done, pgsize: pgsize, count: count))
        #expect(run.leafShift == pgsize.trailingZeroBitCount && run.bytes == pgsize * count)
        done += run.bytes
        #expect(runs.offset == done)
      }
      #expect(done == size & ~(gran - 1))
    }
  }

  @Test("LeafRuns resumes from the offset its caller sets, as __iommu_unmap() advances by what it unmapped")
  func leafRunsResumeFromOffset() {
    // 4K, then the 2M page: the caller removed a whole 2M leaf at the start.
    var runs = LeafRuns(bitmap: x86Sizes, iova: 0x20_0000, phys: 0x20_0000, size: 4 * M)
    let first = runs.next()
    #expect(first == LeafRuns.Run(iova: 0x20_0000, phys: 0x20_0000, pgsize: 2 * M, count: 2))
    runs.offset = 2 * M + 4 * K
    #expect(runs.next() == LeafRuns.Run(iova: 0x40_1000, phys: 0x40_1000, pgsize: 4 * K, count: 511))
    #expect(runs.next() == nil)
  }

  @Test("Level geometry of each format", arguments: Geometry.all)
  func geometry(_ g: Geometry) {
    let f = g.format
    #expect(f.granuleShift == g.granuleShift)
    #expect(f.inputBits == 48 && f.inputLimit == 1 << 48)
    #expect(f.shift(f.levels - 1) == g.granuleShift)
    #expect(f.tableBytes == g.granule)
    // Entries of all levels cover exactly 48 bits.
    let bits = (0..<f.levels).map { f.entries($0).trailingZeroBitCount }.reduce(g.granuleShift, +)
    #expect(bits == 48)
    for s in g.pageSizes {
      let d = f.depth(forShift: s.trailingZeroBitCount)
      #expect(d != nil)
      #expect(d.map { f.leafAllowed($0) } == true)
    }
    #expect(!f.leafAllowed(0))
    switch g.granuleShift {
    case 12: #expect(f.levels == 4 && f.entries(0) == 512 && f.pgsizeBitmap == x86Sizes)
    case 14: #expect(f.levels == 4 && f.entries(0) == 2 && f.entries(1) == 2048 && f.pgsizeBitmap == 16 * K | 32 * M)
    default: #expect(f.levels == 3 && f.entries(0) == 64 && f.entries(1) == 8192 && f.pgsizeBitmap == 64 * K | 512 * M)
    }
    let top: UInt64 = (1 << 48) - 1
    for d in 0..<f.levels { #expect(f.index(top, d) == f.entries(d) - 1) }
  }

  @Test(
    "Entries encode and decode back",
    arguments: [
      PageTableFormat.x86IO, .x86CPU, .lpae(granule: .size4K), .lpae(granule: .size16K), .lpae(granule: .size64K),
    ])
  func encodeDecode(_ f: PageTableFormat) {
    let next = PhysicalAddress(0x1234_5 << UInt64(f.granuleShift))
    #expect(f.decode(0, depth: 0) == .none)
    #expect(f.decode(0, depth: f.levels - 1) == .none)
    guard case .table(let t, _, _) = f.decode(f.encodeTable(next), depth: 0) else {
      Issue.record("a table entry did not decode as a table")
      return
    }
    #expect(t == next)
    for depth in 0..<f.levels where f.leafAllowed(depth) {
      let phys = PhysicalAddress(UInt64(7) << UInt64(f.shift(depth)))
      for (r, w) in [(true, true), (true, false), (false, true)] {
        let pte = f.encodeLeaf(phys, depth: depth, readable: r, writable: w, user: true)
        guard case .leaf(let p, let rr, let ww, _) = f.decode(pte, depth: depth) else {
          Issue.record("leaf at depth \(depth) did not decode as a leaf")
          continue
        }
        #expect(p == phys && ww == w)
        if f.layout == .x86IO { #expect(rr == r) } else { #expect(rr) }
      }
    }
    if f.layout == .lpae {
      // Block descriptors (0b01) are reserved at the last level.
      #expect(f.decode(next.rawValue | 0b01, depth: f.levels - 1) == .none)
    }
    if f.layout == .x86CPU {
      let kernel = f.encodeLeaf(PhysicalAddress(0x5000), depth: 3, readable: true, writable: true, user: false)
      #expect(f.decode(kernel, depth: 3) == .leaf(PhysicalAddress(0x5000), readable: true, writable: true, user: false))
    }
  }
}
