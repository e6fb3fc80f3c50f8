import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// VT-d and AMD domains unmap as the generic page table does since 6.19
/// (`__unmap_range()` under `unmap_pages()` and `__iommu_unmap()`): cases
/// modelled on generic_pt's kunit tests (kunit_iommu_pt.h) and on the rules
/// of `__unmap_range()`.
@Suite("Generic page table unmap (VT-d, AMD)")
struct GenericPTUnmapTests {
  static let models: [Geometry] = [.vtd, .amd]

  @Test("map_simple: each page size maps, translates and unmaps page by page", arguments: models)
  func mapSimple(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    for (n, size) in g.pageSizes.enumerated() {
      let base = UInt64(n + 1) * 4 * G
      for i in 0..<4 as Range<UInt64> {
        try d.map(iova: IOVA(base + i * size), phys: PhysicalAddress(i * size), size: size, context: ctx)
      }
      for i in 0..<4 as Range<UInt64> {
        #expect(d.iovaToPhys(IOVA(base + i * size + 42)) == PhysicalAddress(i * size + 42))
      }
      #expect(leaves(d).count == 4)
      for i in 0..<4 as Range<UInt64> {
        #expect(d.unmap(iova: IOVA(base + i * size), size: size, context: ctx) == size)
      }
      #expect(leaves(d).isEmpty)
    }
  }

  @Test(
    "table_to_oa: a range of small pages unmaps in one half, then page by page; covered tables are freed",
    arguments: models)
  func tableToOA(_ g: Geometry) throws {
    // (page size, range): the range is mapped in pages of that size only
    // (phys an odd multiple of the page size keeps larger pages out).
    for (len, span) in [(4 * K, 2 * M), (2 * M, G), (4 * K, G)] {
      let rig = try Rig(g)
      let d = try rig.paging()
      let base = 4 * G
      try d.map(iova: IOVA(base), phys: PhysicalAddress(len), size: span, context: ctx)
      #expect(leaves(d).count == Int(span / len) && leaves(d).allSatisfy { $0.size == len })
      #expect(d.iovaToPhys(IOVA(base + span - 8)) == PhysicalAddress(len + span - 8))
      let tablesMapped = rig.tables(d).count
      #expect(d.unmap(iova: IOVA(base), size: span / 2, context: ctx) == span / 2)
      // Tables the half covers whole are freed; the one it cuts is not.
      let freed = len == 4 * K ? Int(span / 2 / (2 * M)) : 0
      #expect(rig.tables(d).count == tablesMapped - freed, "\(len) over \(span)")
      var off = span / 2
      var cleared: UInt64 = 0
      while off < span && cleared < 1024 {
        #expect(d.unmap(iova: IOVA(base + off), size: len, context: ctx) == len)
        off += len
        cleared += 1
      }
      if off < span { #expect(d.unmap(iova: IOVA(base + off), size: span - off, context: ctx) == span - off) }
      #expect(leaves(d).isEmpty)
    }
  }

  @Test("unmap_split: an unmap at the start of a large page removes it whole and goes no further", arguments: models)
  func unmapSplit(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    for base in g.pageSizes {
      for next in g.pageSizes where next > base {
        try d.map(iova: IOVA(0), phys: PhysicalAddress(0), size: next, context: ctx)
        #expect(d.unmap(iova: IOVA(0), size: base, context: ctx) == next)
        // Make sure the unmap does not keep going.
        try d.map(iova: IOVA(0), phys: PhysicalAddress(0), size: next, context: ctx)
        try d.map(iova: IOVA(next), phys: PhysicalAddress(0), size: next, context: ctx)
        #expect(d.unmap(iova: IOVA(0), size: base, context: ctx) == next)
        #expect(d.iovaToPhys(IOVA(next + 42)) == PhysicalAddress(42))
        #expect(d.unmap(iova: IOVA(next), size: next, context: ctx) == next)
        #expect(leaves(d).isEmpty)
      }
    }
  }

  @Test("A start inside a large page unmaps nothing, and the page stays", arguments: models)
  func startInsideLargePage(_ g: Geometry) throws {
    let rig = try Rig(g)
    let observer = RecordingObserver()
    rig.machine.observer = observer
    let d = try rig.paging()
    for large in g.largePageSizes {
      let iova = 4 * G
      try d.map(iova: IOVA(iova), phys: PhysicalAddress(large), size: large, context: ctx)
      try d.map(iova: IOVA(iova + large), phys: PhysicalAddress(2 * large), size: large, context: ctx)
      let before = leaves(d)
      for (start, size) in [
        (iova + 4 * K, 4 * K), (iova + 4 * K, large), (iova + large / 2, large), (iova + large - 4 * K, 8 * K),
        (iova + 4 * K, 2 * large - 4 * K),
      ] {
        #expect(d.unmap(iova: IOVA(start), size: size, context: ctx) == 0, "\(IOVA(start)) size \(size)")
        #expect(leaves(d) == before)
        #expect(d.iovaToPhys(IOVA(start)) == PhysicalAddress(large + start - iova))
      }
      // The same page unmapped from its start goes whole.
      #expect(d.unmap(iova: IOVA(iova), size: 2 * large, context: ctx) == 2 * large)
      #expect(leaves(d).isEmpty)
    }
    #expect(observer.messages.allSatisfy { !$0.contains("Unmap of a partial large IOPTE") }, "no io-pgtable-arm WARN")
  }

  @Test("An unmap over a table stops at the first empty entry and returns only what it cleared", arguments: models)
  func tableWalkStops(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    let pa = PhysicalAddress(0x10_0000)
    // The first entry mapped, the rest empty: 4K, and the table stays.
    try d.map(iova: IOVA(2 * M), phys: pa, size: 4 * K, context: ctx)
    let tables = rig.tables(d).count
    #expect(d.unmap(iova: IOVA(2 * M), size: 2 * M, context: ctx) == 4 * K)
    #expect(d.iovaToPhys(IOVA(2 * M)) == .zero)
    #expect(rig.tables(d).count == tables, "the walk failed: the table is not freed")
    // The first entry empty: nothing, and the page further in stays.
    try d.map(iova: IOVA(2 * M + 4 * K), phys: pa, size: 4 * K, context: ctx)
    #expect(d.unmap(iova: IOVA(2 * M), size: 2 * M, context: ctx) == 0)
    #expect(d.iovaToPhys(IOVA(2 * M + 4 * K)) == pa)
    // A hole after the first entry: the first goes, the one after the hole stays.
    try d.map(iova: IOVA(2 * M), phys: pa, size: 4 * K, context: ctx)
    try d.map(iova: IOVA(2 * M + 12 * K), phys: pa, size: 4 * K, context: ctx)
    #expect(d.unmap(iova: IOVA(2 * M), size: 2 * M, context: ctx) == 8 * K)
    #expect(d.iovaToPhys(IOVA(2 * M + 12 * K)) == pa)
    // A 1G slot holding one 2M page.
    try d.map(iova: IOVA(G), phys: PhysicalAddress(2 * M), size: 2 * M, context: ctx)
    #expect(d.unmap(iova: IOVA(G), size: G, context: ctx) == 2 * M)
    #expect(d.iovaToPhys(IOVA(G)) == .zero)
  }

  @Test("Covered tables are freed only when their walk succeeded", arguments: models)
  func coveredTablesFreed(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    let base = 4 * G
    // Three full tables of 4K pages (phys 4K-odd keeps 2M pages out).
    try d.map(iova: IOVA(base), phys: PhysicalAddress(4 * K), size: 6 * M, context: ctx)
    let full = rig.tables(d).count
    // From the middle of the first table into the middle of the second: neither is covered.
    #expect(d.unmap(iova: IOVA(base + M), size: 2 * M, context: ctx) == 2 * M)
    #expect(rig.tables(d).count == full)
    // The third table is covered and full: freed.
    #expect(d.unmap(iova: IOVA(base + 4 * M), size: 2 * M, context: ctx) == 2 * M)
    #expect(rig.tables(d).count == full - 1)
    // Two tables covered, the first whole, the second with a hole: the first is
    // freed, the walk stops in the second, which stays.
    try d.map(iova: IOVA(base + 4 * M), phys: PhysicalAddress(4 * K), size: 2 * M, context: ctx)
    #expect(d.unmap(iova: IOVA(base), size: M, context: ctx) == M)
    try d.map(iova: IOVA(base), phys: PhysicalAddress(4 * K), size: M, context: ctx)
    try d.map(iova: IOVA(base + M), phys: PhysicalAddress(4 * K), size: M, context: ctx)
    // Now [base, base+2M) is full, [base+2M, base+3M) is empty, [base+3M, base+4M) is mapped.
    let before = rig.tables(d).count
    #expect(d.unmap(iova: IOVA(base), size: 4 * M, context: ctx) == 2 * M)
    #expect(rig.tables(d).count == before - 1)
    #expect(d.iovaToPhys(IOVA(base + 3 * M)) != .zero)
  }

  /// The rule of `__unmap_range()` over a plain list of leaves: nothing if
  /// the start is inside a leaf; else leaves one after another from the start
  /// until an empty address or the end of the range, the last one whole.
  static func referenceUnmap(_ ref: inout [UInt64: Leaf], iova: UInt64, size: UInt64) -> UInt64 {
    func covering(_ a: UInt64) -> Leaf? { ref.values.first { $0.iova <= a && a < $0.iova + $0.size } }
    if let l = covering(iova), l.iova != iova { return 0 }
    var p = iova
    var total: UInt64 = 0
    while p < iova + size, let l = covering(p) {
      ref[l.iova] = nil
      total += l.size
      p = l.iova + l.size
    }
    return total
  }

  @Test("random_map: random maps and unmaps agree with a reference of generic_pt's rules", arguments: models)
  func randomMap(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    var rng = SplitMix64(seed: 0x9E_4E71C ^ UInt64(g.model.rawValue.count))
    var ref: [UInt64: Leaf] = [:]
    let window = 16 * M
    var stats = (maps: 0, eexist: 0, unmapped: 0, refused: 0)
    for step in 0..<600 {
      if rng.next() % 2 == 0 {
        // 1...4 pages of 4K or a 2M page, at an aligned IOVA in the window.
        let size: UInt64 = rng.next() % 4 == 0 ? 2 * M : 4 * K
        let count: UInt64 = size == 2 * M ? 1 : 1 + rng.next() % 4
        let iova = (rng.next() % (window / size - count + 1)) * size
        let phys = (2 * (rng.next() % 512) + 1) * size
        let overlaps = ref.values.contains { $0.iova < iova + size * count && iova < $0.iova + $0.size }
        let result = errno {
          try d.map(iova: IOVA(iova), phys: PhysicalAddress(phys), size: size * count, context: ctx)
        }
        #expect(result == (overlaps ? .EEXIST : nil), "step \(step)")
        if result == nil {
          for j in 0..<count { ref[iova + j * size] = Leaf(iova: iova + j * size, phys: phys + j * size, size: size) }
          stats.maps += 1
        } else {
          stats.eexist += 1
        }
      } else {
        // 4K-aligned starts and lengths: at a leaf, inside one, over holes, across tables.
        let leafStarts = ref.keys.sorted()
        var iova = (rng.next() % (window / (4 * K))) * 4 * K
        if rng.next() % 3 != 0, !leafStarts.isEmpty {
          let l = ref[leafStarts[Int(rng.next() % UInt64(leafStarts.count))]]!
          iova = l.iova + (rng.next() % 2 == 0 ? 0 : (rng.next() % (l.size / (4 * K))) * 4 * K)
        }
        let size = (1 + rng.next() % (rng.next() % 2 == 0 ? 8 : 1024)) * 4 * K
        let expected = Self.referenceUnmap(&ref, iova: iova, size: size)
        #expect(d.unmap(iova: IOVA(iova), size: size, context: ctx) == expected, "step \(step): \(IOVA(iova)) \(size)")
        if expected == 0 { stats.refused += 1 } else { stats.unmapped += 1 }
      }
      #expect(leaves(d) == ref.values.sorted { $0.iova < $1.iova }, "step \(step)")
    }
    #expect(stats.maps > 100 && stats.eexist > 10 && stats.unmapped > 50 && stats.refused > 50, "\(stats)")
  }

  @Test("pgsize_boundary: a page at every page-size boundary unmaps alone", arguments: models)
  func pgsizeBoundary(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    for size in g.pageSizes {
      for boundary in [size, 2 * size, 4 * G] {
        // The last page before the boundary and the first after it.
        try d.map(iova: IOVA(boundary - 4 * K), phys: PhysicalAddress(4 * K), size: 4 * K, context: ctx)
        try d.map(iova: IOVA(boundary), phys: PhysicalAddress(size), size: size, context: ctx)
        #expect(d.unmap(iova: IOVA(boundary - 4 * K), size: 4 * K, context: ctx) == 4 * K)
        #expect(d.iovaToPhys(IOVA(boundary)) == PhysicalAddress(size))
        #expect(d.unmap(iova: IOVA(boundary), size: size, context: ctx) == size)
        #expect(leaves(d).isEmpty)
      }
    }
  }

  @Test("mixed: 14 2M, 3 1G and 3 2M pages in one map unmap in one call", arguments: models)
  func mixed(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    // As generic_pt's test_mixed: start 28M below a 1G boundary, end 6M past 3G more.
    let start = G - 28 * M
    let size = 28 * M + 3 * G + 6 * M
    try d.map(iova: IOVA(start), phys: PhysicalAddress(start), size: size, context: ctx)
    let l = leaves(d)
    #expect(l.count == 20)
    #expect(l.filter { $0.size == G }.count == 3 && l.filter { $0.size == 2 * M }.count == 17)
    // From inside the first 2M page: nothing.
    #expect(d.unmap(iova: IOVA(start + 4 * K), size: size - 4 * K, context: ctx) == 0)
    #expect(d.unmap(iova: IOVA(start), size: size, context: ctx) == size)
    #expect(leaves(d).isEmpty)
  }
  @Test("Forged descriptors back to the root: the unmap walk ends, frees no table, and the domain frees cleanly")
  func forgedSelfReference() throws {
    let rig = try Rig(.vtd)
    let d = try rig.paging()
    let initial = rig.memory.freePageCount
    let root = rig.root(d)
    // Root entry 1 points at the root: index 1 at every level reads the root
    // as a page, and at the last level its entry 1 is a leaf, cleared as the
    // kernel's walk would clear it.
    rig.memory.write64(root.advanced(by: 8), root.rawValue | 3)
    let x = 512 * G + G + 2 * M + 4 * K
    #expect(d.iovaToPhys(IOVA(x)) == root)
    #expect(d.unmap(iova: IOVA(x), size: 4 * K, context: ctx) == 4 * K)
    #expect(rig.memory.read64(root.advanced(by: 8)) == 0)
    // Entries 0 and 1 to the root: a 1T unmap enters the root once per
    // level, clears the two "leaves" at the last and stops at entry 2.
    rig.memory.write64(root, root.rawValue | 3)
    rig.memory.write64(root.advanced(by: 8), root.rawValue | 3)
    #expect(d.unmap(iova: IOVA(0), size: 1024 * G, context: ctx) == 8 * K)
    #expect(rig.tables(d).count == 1, "the root is never freed")
    try rig.machine.freeDomain(d, context: ctx)
    #expect(rig.memory.freePageCount == initial + rig.geometry.tablePages)
  }
}
