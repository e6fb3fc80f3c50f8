import MemoryModel

/// The IOVA space of a DMA domain over `[startPFN, limit)`, in granule units:
/// size-aligned ranges allocated top-down from a cached node, and per-size
/// caches of freed ranges (`IOVAAllocator+RCache.swift`).
/// The corresponding Linux structure is `struct iova_domain`.
struct IOVAAllocator {
  let granuleShift: Int
  /// The lowest allocatable IOVA page (the kernel reserves IOVA 0).
  let startPFN: UInt64
  /// The first page above the 32-bit space: `dma_32bit_pfn`.
  let dma32BitPFN: UInt64
  /// The allocated ranges, and the anchor above them.
  private(set) var tree = IOVATree()
  /// The node the anchor is: `[~0, ~0]`, above all usable space.
  let anchor: Int
  /// Where the last allocation above the 32-bit space went, or the node
  /// above the last range freed under it: `cached_node`.
  private var cachedNode: Int
  /// The same for the 32-bit space: `cached32_node`.
  private var cached32Node: Int
  /// The smallest size a 32-bit allocation failed at since the last free
  /// below 4G: larger ones fail at once. `max32_alloc_size`.
  private(set) var max32AllocSize: UInt64
  /// The nodes the allocation walks have stepped over, for tests and
  /// benchmarks: a search from the cached node takes a few steps.
  private(set) var walkSteps: UInt64 = 0
  /// The range caches, one per size order: `rcaches`.
  var rcaches = [IOVARCache](repeating: IOVARCache(), count: IOVARCache.rangeCacheMaxSize)
  /// Where node slots and magazines are charged (nil: nowhere).
  let budget: ResidentBudget?
  /// Node slots charged: the tree reuses removed nodes' slots and its array
  /// never shrinks, so this is its largest size, given back with the allocator.
  private(set) var chargedNodeSlots = 0
  /// What one node slot costs: the node and the array's spare capacity.
  static let nodeBytes = 96

  /// The corresponding Linux function is `init_iova_domain()`.
  init(granuleShift: Int, startPFN: UInt64 = 1, budget: ResidentBudget? = nil) {
    self.budget = budget
    self.granuleShift = granuleShift
    self.startPFN = startPFN
    dma32BitPFN = 1 << UInt64(32 - granuleShift)
    max32AllocSize = dma32BitPFN
    anchor = tree.insert(lo: .max, hi: .max)
    cachedNode = anchor
    cached32Node = anchor
  }

  /// The ranges in the tree (allocated or held by a range cache), in order.
  var ranges: [(lo: UInt64, hi: UInt64)] {
    var out: [(lo: UInt64, hi: UInt64)] = []
    var n = tree.first
    while n != anchor {
      out.append(tree[n])
      n = tree.next(n)
    }
    return out
  }

  /// The ranges in the tree, the anchor not counted.
  var allocatedCount: Int { tree.count - 1 }

  // MARK: - Cached nodes

  /// The corresponding Linux function is `__get_cached_rbnode()`.
  private func cachedNode(for limitPFN: UInt64) -> Int {
    limitPFN <= dma32BitPFN ? cached32Node : cachedNode
  }

  /// The corresponding Linux function is `__cached_rbnode_insert_update()`.
  private mutating func cachedNodeInsertUpdate(_ new: Int) {
    if tree[new].hi < dma32BitPFN { cached32Node = new } else { cachedNode = new }
  }

  /// The corresponding Linux function is `__cached_rbnode_delete_update()`.
  private mutating func cachedNodeDeleteUpdate(_ free: Int) {
    let range = tree[free]
    if free == cached32Node || (range.hi < dma32BitPFN && range.lo >= tree[cached32Node].lo) {
      cached32Node = tree.next(free)
    }
    if range.lo < dma32BitPFN { max32AllocSize = dma32BitPFN }
    if range.lo >= tree[cachedNode].lo { cachedNode = tree.next(free) }
  }

  /// The node the retry walks down from: the anchor above the 32-bit space.
  /// The corresponding Linux function is `iova_find_limit()`.
  private func findLimit(_ limitPFN: UInt64) -> Int {
    limitPFN > dma32BitPFN ? anchor : tree.findLimit(limitPFN)
  }

  // MARK: - Allocate and free

  /// Allocates `size` pages below `limitPFN` (exclusive, the kernel's
  /// `limit_pfn + 1`), aligned to the next power of two of the size, and
  /// returns the first page. The walk starts below the cached node and, if
  /// nothing fits there, retries the space above it.
  /// The corresponding Linux functions are `alloc_iova()` and
  /// `__alloc_and_insert_iova_range()`.
  mutating func allocate(pages size: UInt64, limitPFN: UInt64) -> UInt64? {
    guard size > 0 else { return nil }
    let alignMask = UInt64.max << UInt64(64 - (size - 1).leadingZeroBitCount)
    if limitPFN <= dma32BitPFN && size >= max32AllocSize { return nil }
    var curr = cachedNode(for: limitPFN)
    let retryPFN = tree[curr].hi
    var high = limitPFN
    var low = startPFN
    var newPFN: UInt64
    var prev: Int
    while true {
      repeat {
        high = min(high, tree[curr].lo)
        newPFN = (high &- size) & alignMask
        prev = curr
        curr = tree.prev(curr)
        walkSteps &+= 1
      } while curr != IOVATree.none && newPFN <= tree[curr].hi && newPFN >= low
      if high >= size && newPFN >= low { break }
      guard low == startPFN && retryPFN < limitPFN else {
        max32AllocSize = size
        return nil
      }
      high = limitPFN
      low = retryPFN + 1
      curr = findLimit(limitPFN)
    }
    // alloc_iova_mem(): a new node, unless a removed one's slot is reused.
    if !tree.hasFreeSlot, let budget {
      guard budget.charge(Self.nodeBytes, .iovaNodes) else { return nil }
      chargedNodeSlots += 1
    }
    let new = tree.insert(lo: newPFN, hi: newPFN + size - 1, from: prev)
    cachedNodeInsertUpdate(new)
    return newPFN
  }

  /// Keeps `[lo, hi]` out of the allocatable space (a reserved region); a
  /// range that overlaps one already in the tree is skipped.
  /// The corresponding Linux function is `reserve_iova()`.
  mutating func reserve(lo: UInt64, hi: UInt64) {
    guard lo <= hi, lo >= startPFN, hi < tree[anchor].lo else { return }
    var n = tree.first
    while n != anchor {
      if tree[n].lo <= hi && lo <= tree[n].hi { return }
      n = tree.next(n)
    }
    _ = tree.insert(lo: lo, hi: hi)
  }

  /// Frees the range that holds `pfn`, if any.
  /// The corresponding Linux function is `free_iova()`.
  mutating func free(pfn: UInt64) {
    let node = tree.find(containing: pfn)
    guard node != IOVATree.none, node != anchor else { return }
    remove(node)
  }

  /// The corresponding Linux function is `remove_iova()`.
  private mutating func remove(_ node: Int) {
    cachedNodeDeleteUpdate(node)
    tree.remove(node)
  }
}
