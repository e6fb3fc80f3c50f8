import MemoryModel

extension IOVAAllocator {
  /// Allocates `pages` pages below `limitPFN` (exclusive) as the DMA layer
  /// does: sizes under 32 pages are rounded up to a power of two, a range
  /// cached for that order is reused first, and then the tree is searched.
  /// With `flushRCache`, a failed search returns every cached range to the
  /// tree and searches once more.
  /// The corresponding Linux function is `alloc_iova_fast()`.
  mutating func allocateFast(pages: UInt64, limitPFN: UInt64, flushRCache: Bool) -> UInt64? {
    guard pages > 0 else { return nil }
    var size = pages
    // Freeing non-power-of-two sizes into the caches would hand out ranges
    // of the wrong size: round up what is cacheable.
    if size < 1 << UInt64(IOVARCache.rangeCacheMaxSize - 1) { size = 1 << UInt64(Self.orderBase2(size)) }
    if let pfn = rcacheGet(size: size, limitPFN: limitPFN) { return pfn }
    if let pfn = allocate(pages: size, limitPFN: limitPFN) { return pfn }
    guard flushRCache else { return nil }
    freeCPUCachedIOVAs()
    freeGlobalCachedIOVAs()
    return allocate(pages: size, limitPFN: limitPFN)
  }

  /// Frees the range of `pages` pages at `pfn` into its size's cache, or
  /// into the tree if the size is not cached.
  /// The corresponding Linux function is `free_iova_fast()`.
  mutating func freeFast(pfn: UInt64, pages: UInt64) {
    if rcacheInsert(pfn: pfn, size: pages) { return }
    free(pfn: pfn)
  }

  /// `order_base_2()`: the order of the smallest power of two at least `size`.
  static func orderBase2(_ size: UInt64) -> Int { size <= 1 ? 0 : 64 - (size - 1).leadingZeroBitCount }

  /// The corresponding Linux function is `iova_rcache_insert()`.
  private mutating func rcacheInsert(pfn: UInt64, size: UInt64) -> Bool {
    let order = Self.orderBase2(size)
    guard order < IOVARCache.rangeCacheMaxSize else { return false }
    let budget = budget
    return rcaches[order].insert(pfn) { budget?.charge(IOVARCache.magazineBytes, .iovaMagazines) ?? true }
  }

  /// A cached range of `size` pages that ends at or below `limitPFN`.
  /// The corresponding Linux function is `iova_rcache_get()`.
  private mutating func rcacheGet(size: UInt64, limitPFN: UInt64) -> UInt64? {
    let order = Self.orderBase2(size)
    guard order < IOVARCache.rangeCacheMaxSize, limitPFN >= size else { return nil }
    let before = rcaches[order].magazines
    let pfn = rcaches[order].get(limitPFN: limitPFN - size)
    budget?.release((before - rcaches[order].magazines) * IOVARCache.magazineBytes, .iovaMagazines)
    return pfn
  }

  /// Returns the ranges of CPU 0's magazines to the tree.
  /// The corresponding Linux function is `free_cpu_cached_iovas()`.
  mutating func freeCPUCachedIOVAs() {
    for i in rcaches.indices {
      freePFNs(of: rcaches[i].loaded)
      freePFNs(of: rcaches[i].previous)
      rcaches[i].loaded.pfns.removeAll(keepingCapacity: true)
      rcaches[i].previous.pfns.removeAll(keepingCapacity: true)
    }
  }

  /// Returns the ranges of the depots' magazines to the tree.
  /// The corresponding Linux function is `free_global_cached_iovas()`.
  mutating func freeGlobalCachedIOVAs() {
    for i in rcaches.indices {
      let depot = rcaches[i].takeDepot()
      budget?.release(depot.count * IOVARCache.magazineBytes, .iovaMagazines)
      for magazine in depot.reversed() { freePFNs(of: magazine) }
    }
  }

  /// The bytes charged for the magazines and node slots, given back when the allocator goes.
  var chargedBytes: (magazines: Int, nodes: Int) {
    guard budget != nil else { return (0, 0) }
    return (rcaches.reduce(0) { $0 + $1.magazines } * IOVARCache.magazineBytes, chargedNodeSlots * Self.nodeBytes)
  }

  /// The corresponding Linux function is `iova_magazine_free_pfns()`.
  private mutating func freePFNs(of magazine: IOVARCache.Magazine) {
    for pfn in magazine.pfns { free(pfn: pfn) }
  }
}
