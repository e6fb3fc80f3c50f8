@testable import IOMMU

/// A slow, straightforward transcription of `drivers/iommu/iova.c` over a
/// sorted array: what `IOVAAllocator` must answer, step for step. Nodes
/// are named by their `pfn_lo` (the anchor's is `~0`), so the cached nodes
/// survive inserts and removes as the kernel's pointers do.
struct ReferenceIOVADomain {
  let startPFN: UInt64 = 1
  let dma32BitPFN: UInt64
  /// Sorted by `lo`; the anchor `[~0, ~0]` last.
  var ranges: [(lo: UInt64, hi: UInt64)] = [(.max, .max)]
  var cachedNode: UInt64 = .max
  var cached32Node: UInt64 = .max
  var max32AllocSize: UInt64
  /// Per order: CPU 0's loaded and previous magazines and the depot.
  var loaded = [[UInt64]](repeating: [], count: 6)
  var previous = [[UInt64]](repeating: [], count: 6)
  var depot = [[[UInt64]]](repeating: [], count: 6)

  init(granuleShift: Int) {
    dma32BitPFN = 1 << UInt64(32 - granuleShift)
    max32AllocSize = dma32BitPFN
  }

  func index(_ lo: UInt64) -> Int { ranges.firstIndex { $0.lo == lo }! }

  /// `__alloc_and_insert_iova_range()`.
  mutating func allocate(size: UInt64, limitPFN: UInt64) -> UInt64? {
    var shift = 0
    while (UInt64(1) << UInt64(shift)) < size { shift += 1 }
    let alignMask = UInt64.max << UInt64(shift)
    if limitPFN <= dma32BitPFN && size >= max32AllocSize { return nil }
    var curr: Int? = index(limitPFN <= dma32BitPFN ? cached32Node : cachedNode)
    let retryPFN = ranges[curr!].hi
    var high = limitPFN
    var low = startPFN
    var newPFN: UInt64 = 0
    while true {
      repeat {
        high = min(high, ranges[curr!].lo)
        newPFN = (high &- size) & alignMask
        curr = curr! > 0 ? curr! - 1 : nil
      } while curr != nil && newPFN <= ranges[curr!].hi && newPFN >= low
      if high >= size && newPFN >= low { break }
      if low == startPFN && retryPFN < limitPFN {
        high = limitPFN
        low = retryPFN + 1
        curr = limitPFN > dma32BitPFN ? ranges.count - 1 : ranges.firstIndex { $0.hi >= limitPFN }
        continue
      }
      max32AllocSize = size
      return nil
    }
    let at = ranges.firstIndex { $0.lo > newPFN }!
    ranges.insert((newPFN, newPFN + size - 1), at: at)
    if newPFN + size - 1 < dma32BitPFN { cached32Node = newPFN } else { cachedNode = newPFN }
    return newPFN
  }

  /// `free_iova()`, with `__cached_rbnode_delete_update()`.
  mutating func free(pfn: UInt64) {
    guard let i = ranges.firstIndex(where: { $0.lo <= pfn && pfn <= $0.hi }), i < ranges.count - 1 else { return }
    let free = ranges[i]
    let next = ranges[i + 1].lo
    if free.lo == cached32Node || (free.hi < dma32BitPFN && free.lo >= cached32Node) { cached32Node = next }
    if free.lo < dma32BitPFN { max32AllocSize = dma32BitPFN }
    if free.lo >= cachedNode { cachedNode = next }
    ranges.remove(at: i)
  }

  static func order(_ size: UInt64) -> Int {
    var o = 0
    while (UInt64(1) << UInt64(o)) < size { o += 1 }
    return o
  }

  /// `alloc_iova_fast()`.
  mutating func allocateFast(pages: UInt64, limitPFN: UInt64, flushRCache: Bool) -> UInt64? {
    let size = pages < 32 ? UInt64(1) << UInt64(Self.order(pages)) : pages
    let o = Self.order(size)
    if o < 6 {
      if loaded[o].isEmpty {
        if !previous[o].isEmpty {
          swap(&loaded[o], &previous[o])
        } else if let full = depot[o].popLast() {
          loaded[o] = full
        }
      }
      if let i = loaded[o].lastIndex(where: { $0 <= limitPFN - size }) {
        let pfn = loaded[o][i]
        loaded[o][i] = loaded[o].last!
        loaded[o].removeLast()
        return pfn
      }
    }
    if let pfn = allocate(size: size, limitPFN: limitPFN) { return pfn }
    guard flushRCache else { return nil }
    for o in 0..<6 {
      for pfn in loaded[o] + previous[o] { free(pfn: pfn) }
      loaded[o] = []
      previous[o] = []
    }
    for o in 0..<6 {
      while let m = depot[o].popLast() { for pfn in m { free(pfn: pfn) } }
    }
    return allocate(size: size, limitPFN: limitPFN)
  }

  /// `free_iova_fast()`.
  mutating func freeFast(pfn: UInt64, pages: UInt64) {
    let o = Self.order(pages)
    guard o < 6 else { return free(pfn: pfn) }
    if loaded[o].count == 127 {
      if previous[o].count < 127 {
        swap(&loaded[o], &previous[o])
      } else {
        depot[o].append(loaded[o])
        loaded[o] = []
      }
    }
    loaded[o].append(pfn)
  }
}
