import KernelTypes
import MemoryModel

/// `GENMASK(h, 0)`.
@inline(__always) func lowMask(through h: Int) -> UInt64 { h >= 63 ? .max : (1 << UInt64(h + 1)) - 1 }

/// Picks the page size and count for the next chunk of a map or unmap.
/// `size` must be non-zero and a supported size must fit (the caller checks
/// alignment to the smallest page first, as `__iommu_map()` does).
/// The corresponding Linux function is `iommu_pgsize()`.
public func iommuPgsize(bitmap: UInt64, iova: UInt64, paddr: UInt64, size: UInt64) -> (pgsize: UInt64, count: UInt64) {
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
