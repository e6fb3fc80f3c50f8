import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// Random map/unmap sequences checked against a plain dictionary, in the
/// spirit of generic_pt's `test_random_map`.
@Suite("Random page-table sequences")
struct RandomPageTableTests {
  /// A mapping the reference remembers: `count` leaves of `size` bytes.
  struct Ref {
    var iova: UInt64
    var phys: UInt64
    var size: UInt64
    var count: UInt64
    var end: UInt64 { iova + size * count }
  }

  @Test("Map/unmap with overlaps and holes agrees with a reference dictionary", arguments: Geometry.all)
  func randomSequence(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    var rng = SplitMix64(seed: 0xA11CE ^ UInt64(g.granuleShift) ^ UInt64(g.model.rawValue.count) << 8)
    let sizes = g.pageSizes
    // Each slot holds leaves of one size only, so no large page ever lands on
    // a table an earlier unmap emptied (see largePageOverEmptyTable).
    let slotBytes = 64 * g.largest
    let slots = 2 * sizes.count
    var refs: [UInt64: Ref] = [:]  // by first iova
    var leafOwner: [UInt64: UInt64] = [:]  // leaf iova -> first iova of its mapping
    func position(_ slot: Int, _ i: UInt64) -> UInt64 {
      let size = sizes[slot % sizes.count]
      // Odd slots spread small pages over many tables.
      let spread = slot / sizes.count == 1 ? max(1, g.largest / size / 8) : 1
      return UInt64(slot) * slotBytes + i * spread * size
    }
    var stats = (maps: 0, eexist: 0, unmaps: 0, holes: 0)
    for step in 0..<500 {
      let slot = Int(rng.next() % UInt64(slots))
      let size = sizes[slot % sizes.count]
      let slotLeaves = slot / sizes.count == 1 ? UInt64(48) : 32
      let op = rng.next() % 10
      if op < 6 {
        // Map 1...3 leaves; phys an odd multiple of the size so no larger page fits.
        let contiguous = position(slot, 1) - position(slot, 0) == size
        let count = contiguous ? 1 + rng.next() % 3 : 1
        let i = rng.next() % (slotLeaves - count + 1)
        let iova = position(slot, i)
        let phys = (2 * (rng.next() % 1024) + 1) * size
        let overlaps = (0..<count).contains { leafOwner[iova + $0 * size] != nil }
        let result = errno {
          try d.map(iova: IOVA(iova), phys: PhysicalAddress(phys), size: size * count, context: ctx)
        }
        if overlaps {
          #expect(result == .EEXIST, "step \(step): map over a mapping")
          stats.eexist += 1
        } else {
          #expect(result == nil, "step \(step): map of a free range")
          if result == nil {
            refs[iova] = Ref(iova: iova, phys: phys, size: size, count: count)
            for j in 0..<count { leafOwner[iova + j * size] = iova }
            stats.maps += 1
          }
        }
      } else if op < 9, let victim = refs.values.sorted(by: { $0.iova < $1.iova }).randomElement(using: &rng) {
        // Unmap a whole mapping.
        #expect(
          d.unmap(iova: IOVA(victim.iova), size: victim.size * victim.count, context: ctx) == victim.size
            * victim.count, "step \(step)")
        refs[victim.iova] = nil
        for j in 0..<victim.count { leafOwner[victim.iova + j * victim.size] = nil }
        stats.unmaps += 1
      } else {
        // Unmap a hole: nothing to remove.
        let iova = position(slot, rng.next() % slotLeaves)
        if leafOwner[iova] == nil {
          #expect(d.unmap(iova: IOVA(iova), size: size, context: ctx) == 0, "step \(step): unmap of a hole")
          stats.holes += 1
        }
      }
      if step % 50 == 49 { check(d, refs, g, &rng) }
    }
    check(d, refs, g, &rng)
    #expect(stats.maps > 100 && stats.eexist > 10 && stats.unmaps > 50 && stats.holes > 5)
    for r in refs.values {
      #expect(d.unmap(iova: IOVA(r.iova), size: r.size * r.count, context: ctx) == r.size * r.count)
    }
    #expect(d.mappedLeaves().isEmpty)
  }

  func check(_ d: Domain, _ refs: [UInt64: Ref], _ g: Geometry, _ rng: inout SplitMix64) {
    var expected: [Leaf] = []
    for r in refs.values {
      for j in 0..<r.count { expected.append(Leaf(iova: r.iova + j * r.size, phys: r.phys + j * r.size, size: r.size)) }
    }
    expected.sort { $0.iova < $1.iova }
    #expect(leaves(d) == expected)
    for l in expected {
      let off = rng.next() % l.size
      #expect(d.iovaToPhys(IOVA(l.iova + off)) == PhysicalAddress(l.phys + off))
    }
  }

  @Test("Random ranges split into the largest pages, exactly as a greedy split would", arguments: Geometry.all)
  func randomRangesSplit(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    var rng = SplitMix64(seed: 0xB0B ^ UInt64(g.granuleShift))
    let sizes = g.pageSizes
    let gran = g.granule
    var area: UInt64 = g.largest
    // 64K-granule tables have 8192 entries each, and every check walks them all.
    for _ in 0..<(g.granuleShift == 16 ? 8 : 24) {
      let base = area
      area += 8 * g.largest
      // A random start inside the area and a physical address that agrees
      // with it modulo some page size (or only the granule).
      let level = Int(rng.next() % UInt64(sizes.count))
      let agree = sizes[level]
      // A few pages of each smaller size before the first largest boundary.
      let iova = base + sizes.dropLast().reduce(0) { $0 + (rng.next() % 4) * $1 }
      let physBase = (16 + rng.next() % 64) * g.largest
      var phys = physBase + iova % agree
      if level + 1 < sizes.count && phys % sizes[level + 1] == iova % sizes[level + 1] { phys += agree }
      // Long enough to use the next size when it could, short enough to keep the leaf count small.
      let bound = min(level + 1 < sizes.count ? 3 * sizes[level + 1] : 3 * g.largest, 256 * agree)
      let length = gran * (1 + rng.next() % (bound / gran))
      try d.map(iova: IOVA(iova), phys: PhysicalAddress(phys), size: length, context: ctx)
      // Reference split: page by page, the largest that fits and is aligned.
      var expected: [Leaf] = []
      var off: UInt64 = 0
      while off < length {
        let s = sizes.last { $0 <= length - off && (iova + off) % $0 == 0 && (phys + off) % $0 == 0 }!
        expected.append(Leaf(iova: iova + off, phys: phys + off, size: s))
        off += s
      }
      #expect(leaves(d) == expected)
      for _ in 0..<8 {
        let o = rng.next() % length
        #expect(d.iovaToPhys(IOVA(iova + o)) == PhysicalAddress(phys + o))
      }
      #expect(d.iovaToPhys(IOVA(iova + length)) == .zero)
      if iova > base { #expect(d.iovaToPhys(IOVA(iova - 1)) == .zero) }
      // An overlapping map that starts before and ends inside fails and leaves nothing behind.
      let before = iova >= base + gran ? iova - gran : iova
      if before < iova {
        #expect(
          errno { try d.map(iova: IOVA(before), phys: PhysicalAddress(phys - gran), size: 2 * gran, context: ctx) }
            == .EEXIST)
        #expect(leaves(d) == expected)
      }
      #expect(d.unmap(iova: IOVA(iova), size: length, context: ctx) == length)
      #expect(d.mappedLeaves().isEmpty)
    }
  }

  @Test("A large page can replace an empty table that earlier unmaps left", arguments: Geometry.all)
  func largePageOverEmptyTable(_ g: Geometry) throws {
    let rig = try Rig(g)
    let d = try rig.paging()
    let big = g.pageSizes[1]
    try d.map(iova: IOVA(2 * big), phys: PhysicalAddress(0), size: g.granule, context: ctx)
    #expect(d.unmap(iova: IOVA(2 * big), size: g.granule, context: ctx) == g.granule)
    #expect(d.mappedLeaves().isEmpty)
    // Nothing is mapped in [2*big, 3*big): the kernel's drivers free the
    // empty table and install the block (generic_pt pt_iommu_clear_contig(),
    // VT-d switch_to_super_page(), io-pgtable-arm arm_lpae_init_pte(), AMD
    // v1 free_clear_pte()).
    try d.map(iova: IOVA(2 * big), phys: PhysicalAddress(big), size: big, context: ctx)
    #expect(d.iovaToPhys(IOVA(2 * big + 42)) == PhysicalAddress(big + 42))
  }
}
