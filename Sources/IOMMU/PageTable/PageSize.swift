import KernelTypes
import MemoryModel

/// `GENMASK(h, 0)`.
@inline(__always) func lowMask(through h: Int) -> UInt64 { h >= 63 ? .max : (1 << UInt64(h + 1)) - 1 }

/// Picks the page size and count for the next chunk of a map or unmap.
/// `size` must be non-zero and a supported size must fit (the caller checks
/// alignment to the smallest page first, as `__iommu_map()` does).
/// The corresponding Linux function is `iommu_pgsize()`.
package func iommuPgsize(bitmap: UInt64, iova: UInt64, paddr: UInt64, size: UInt64) -> (pgsize: UInt64, count: UInt64) {
  let addrMerge = paddr | iova
  var pgsizes = bitmap & lowMask(through: ByteSize.fls(size))
  if addrMerge != 0 { pgsizes &= lowMask(through: ByteSize.ffs(addrMerge)) }
  guard pgsizes != 0 else { return (0, 0) }
  let idx = ByteSize.fls(pgsizes)
  let pgsize: UInt64 = 1 << UInt64(idx)
  var size = size
  let larger = bitmap & ~lowMask(through: idx)
  if larger != 0 {
    let next: UInt64 = 1 << UInt64(ByteSize.ffs(larger))
    if (iova ^ paddr) & (next - 1) == 0 {
      let offset = next - (addrMerge & (next - 1))
      let (end, o) = offset.addingReportingOverflow(next)
      if !o && end <= size { size = offset }
    }
  }
  return (pgsize, size >> UInt64(idx))
}

/// The runs of equal leaves that `iommu_pgsize()` splits `size` bytes at
/// `iova` and `phys` into, in order, as the loops of `__iommu_map()` and
/// `__iommu_unmap()` call it. Ends early when no supported size fits.
/// Public, not `package`: the map and unmap paths of other modules must
/// inline `next()`, and this toolchain inlines only package `@inlinable` code.
package struct LeafRuns: Sequence, IteratorProtocol {
  /// `count` leaves of `pgsize` bytes at `iova` and `phys`.
  package struct Run: Hashable, Sendable {
    package var iova: UInt64
    package var phys: UInt64
    package var pgsize: UInt64
    package var count: UInt64
    @inlinable package var leafShift: Int { ByteSize.ffs(pgsize) }
    @inlinable package var bytes: UInt64 { pgsize &* count }
    @inlinable package init(iova: UInt64, phys: UInt64, pgsize: UInt64, count: UInt64) {
      self.iova = iova
      self.phys = phys
      self.pgsize = pgsize
      self.count = count
    }
  }

  @usableFromInline let bitmap: UInt64
  @usableFromInline let iova: UInt64
  @usableFromInline let phys: UInt64
  @usableFromInline let size: UInt64
  /// The bytes split so far, where the next run starts. A caller that did
  /// more or less than its last run (an unmap that removed a larger leaf, or
  /// stopped short) sets it, as `__iommu_unmap()` advances by what it unmapped.
  package var offset: UInt64 = 0

  @inlinable package init(bitmap: UInt64, iova: UInt64, phys: UInt64, size: UInt64) {
    self.bitmap = bitmap
    self.iova = iova
    self.phys = phys
    self.size = size
  }

  @inlinable package mutating func next() -> Run? {
    guard offset < size else { return nil }
    let (pgsize, count) = iommuPgsize(bitmap: bitmap, iova: iova &+ offset, paddr: phys &+ offset, size: size &- offset)
    guard pgsize != 0, count != 0 else { return nil }
    defer { offset &+= pgsize &* count }
    return Run(iova: iova &+ offset, phys: phys &+ offset, pgsize: pgsize, count: count)
  }
}
