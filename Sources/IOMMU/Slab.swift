import KernelTypes
import MemoryModel

/// One live kmalloc object, as the slab allocator knows it.
package struct SlabObject: Sendable, Hashable {
  /// `kmalloc-512`.
  package var cache: String
  package var address: PhysicalAddress
  /// The cache's object size (what the object occupies).
  package var objectSize: UInt64
  /// What the caller asked for.
  package var requested: UInt64
  /// A machine-wide serial number: a reused slot is another object.
  package var serial: UInt64
  package var allocStack: [KernelFrame]
  package var allocTask: EmulatedTask

  /// The first byte after the object.
  package var end: UInt64 { address.rawValue &+ objectSize }

  /// What the allocator's record of a live object costs: its dictionary
  /// slot at the dictionary's lowest load and its allocation stack.
  static func residentBytes(stackDepth: Int) -> Int { 400 + 64 * stackDepth }
}

/// What the slab allocator tells its observers.
package enum SlabEvent: Sendable {
  case allocated(SlabObject)
  /// `kfree()` of a live object, before its slot goes back to the freelist.
  case freeing(SlabObject)
}

/// SLUB's kmalloc caches, as far as DMA needs them: size classes, slabs of
/// `2^order` pages with objects packed from the start, a LIFO freelist per
/// slab (no `CONFIG_SLAB_FREELIST_RANDOM`, no debug metadata), and a slab's
/// pages back to the page allocator when its last object is freed (unless it
/// is the cache's CPU slab). Sizes above `KMALLOC_MAX_CACHE_SIZE` go to the
/// page allocator (`kmalloc_large`).
struct SlabAllocator {
  struct Slab {
    var block: PageBlock
    var objectSize: UInt64
    var capacity: Int
    /// Free slot indices, the next one last (LIFO).
    var freelist: [Int]
    var inUse: Int { capacity - freelist.count }

    /// What a slab's bookkeeping costs: its record and its freelist of slot indices.
    static func residentBytes(capacity: Int) -> Int { 160 + 8 * capacity }
  }

  struct Cache {
    var name: String
    var objectSize: UInt64
    var order: Int
    /// Slabs by the PFN of their first page.
    var slabs: [UInt64: Slab] = [:]
    /// The slab allocations come from first, then the partial slabs, the most recent first.
    var cpuSlab: UInt64?
    var partial = PartialList()

    /// The head of the slab that holds `pfn`, if one does: slabs are page
    /// blocks of `2^order` pages, naturally aligned, so one probe finds it.
    func slabHead(of pfn: UInt64) -> UInt64? {
      let head = pfn & ~((UInt64(1) << UInt64(order)) - 1)
      return slabs[head] != nil ? head : nil
    }
  }

  /// SLUB's per-node partial list (`n->partial`, a `list_head`): the slabs
  /// with free and used slots that are not the CPU slab, the most recently
  /// added on top, each at most once; a discarded slab is unlinked in O(1).
  struct PartialList {
    private var links: [UInt64: (below: UInt64?, above: UInt64?)] = [:]
    private var top: UInt64?

    var count: Int { links.count }

    /// Puts `head` on top (`add_partial()` at the head of the list).
    mutating func append(_ head: UInt64) {
      remove(head)
      links[head] = (top, nil)
      if let t = top { links[t]?.above = head }
      top = head
    }

    /// Takes the slab on top (`get_partial_node()`).
    mutating func popLast() -> UInt64? {
      guard let t = top else { return nil }
      remove(t)
      return t
    }

    /// Unlinks `head` if it is listed (`remove_partial()`).
    mutating func remove(_ head: UInt64) {
      guard let l = links.removeValue(forKey: head) else { return }
      if let b = l.below { links[b]?.above = l.above }
      if let a = l.above { links[a]?.below = l.below } else { top = l.below }
    }
  }

  var caches: [UInt64: Cache] = [:]

  /// Runs `body` on the cache of `objectSize` in place (nil: no such cache).
  /// A copy taken out and stored back would copy its slabs on every write.
  mutating func withCache<R>(_ objectSize: UInt64, _ body: (inout Cache) -> R) -> R? {
    guard caches[objectSize] != nil else { return nil }
    return body(&caches[objectSize]!)
  }
  /// Live objects by physical address.
  var objects: [UInt64: SlabObject] = [:]
  /// The start addresses of live objects, for lookups by range (kept sorted on demand).
  var nextSerial: UInt64 = 1
  /// `kmalloc_large` blocks by physical address.
  var large: [UInt64: PageBlock] = [:]

  /// The kmalloc size classes up to `KMALLOC_MAX_CACHE_SIZE` (two pages).
  /// The corresponding Linux function is `kmalloc_index()` (`kmalloc_caches[]`).
  static func sizeClass(_ size: UInt64, pageSize: UInt64) -> UInt64? {
    guard size <= 2 * pageSize else { return nil }
    if size <= 8 { return 8 }
    if size > 64 && size <= 96 { return 96 }
    if size > 128 && size <= 192 { return 192 }
    return UInt64(1) << UInt64(64 - (size - 1).leadingZeroBitCount)
  }

  /// The slab order of a cache: the smallest order from which `min_objects`
  /// objects fit and at most 1/16 of the slab is left over, `slub_max_order` 3.
  /// With one CPU `min_objects` is `4 * (fls(1) + 1)` = 8.
  /// The corresponding Linux functions are `calculate_order()` and `calc_slab_order()`.
  static func slabOrder(objectSize size: UInt64, pageSize: UInt64) -> Int {
    let maxOrder = 3
    let maxObjects = max((pageSize << UInt64(maxOrder)) / size, 1)
    let minObjects = min(8, maxObjects)
    var fraction: UInt64 = 16
    while fraction > 1 {
      var order = getOrder(minObjects * size, pageSize: pageSize)
      while order <= maxOrder {
        let slabSize = pageSize << UInt64(order)
        if slabSize % size <= slabSize / fraction { return order }
        order += 1
      }
      fraction /= 2
    }
    return getOrder(size, pageSize: pageSize)
  }

  /// The corresponding Linux function is `get_order()`.
  static func getOrder(_ size: UInt64, pageSize: UInt64) -> Int {
    let pages = (size + pageSize - 1) / pageSize
    return pages <= 1 ? 0 : 64 - (pages - 1).leadingZeroBitCount
  }
}

extension Machine {
  /// `kmalloc()`: an object of the size class of `size`, or pages above the largest class.
  /// The corresponding Linux function is `__kmalloc_noprof()` (`slab_alloc_node()`, `kmalloc_large_noprof()`).
  package func kmalloc(size: UInt64, gfp: GFPFlags, context: CallContext) throws(MachineError) -> SlabObject {
    guard size > 0 else { throw MachineError(.EINVAL, "kmalloc(0) returns ZERO_SIZE_PTR") }
    let pageSize = memory.pageSize
    let via = context.through(["__kmalloc_noprof"])
    let allocStack = via.chain([])
    // The object's record is charged first: a refusal leaves nothing to undo.
    let recordBytes = SlabObject.residentBytes(stackDepth: allocStack.count)
    guard memory.budget.charge(recordBytes, .slabObjects) else { throw .residentLimit }
    var recorded = false
    defer { if !recorded { memory.budget.release(recordBytes, .slabObjects) } }
    guard let objectSize = SlabAllocator.sizeClass(size, pageSize: pageSize) else {
      let order = SlabAllocator.getOrder(size, pageSize: pageSize)
      let block = try memory.allocPages(
        order: order, gfp: gfp, context: via,
        stack: via.chain([
          "post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof",
          "___kmalloc_large_node", "__kmalloc_large_node_noprof",
        ]))
      let address = block.head.address(pageShift: memory.pageShift)
      let object = slab.withLock { s -> SlabObject in
        let o = SlabObject(
          cache: "kmalloc-large", address: address, objectSize: pageSize << UInt64(order), requested: size,
          serial: s.nextSerial, allocStack: allocStack, allocTask: context.task)
        s.nextSerial += 1
        s.large[address.rawValue] = block
        s.objects[address.rawValue] = o
        return o
      }
      recorded = true
      observer?.slabEvent(.allocated(object), context: context)
      return object
    }
    let name = objectSize >= 1024 ? "kmalloc-\(objectSize / 1024)k" : "kmalloc-\(objectSize)"
    // A free slot of the CPU slab or a partial slab, else a new slab.
    func take(_ s: inout SlabAllocator) -> (UInt64, Int)? {
      s.withCache(objectSize) { cache in takeSlot(&cache) } ?? nil
    }
    func takeSlot(_ cache: inout SlabAllocator.Cache) -> (UInt64, Int)? {
      if let cpu = cache.cpuSlab, let slot = cache.slabs[cpu]?.freelist.popLast() { return (cpu, slot) }
      while let next = cache.partial.popLast() {
        guard let slot = cache.slabs[next]?.freelist.popLast() else { continue }
        cache.cpuSlab = next
        return (next, slot)
      }
      return nil
    }
    var found = slab.withLock { s in take(&s) }
    if found == nil {
      let order = SlabAllocator.slabOrder(objectSize: objectSize, pageSize: pageSize)
      let block = try memory.allocPages(
        order: order, gfp: gfp, context: via,
        stack: via.chain([
          "post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof",
          "alloc_slab_page", "allocate_slab", "new_slab", "___slab_alloc",
        ]))
      let capacity = Int((pageSize << UInt64(order)) / objectSize)
      guard memory.budget.charge(SlabAllocator.Slab.residentBytes(capacity: capacity), .slabObjects) else {
        try? memory.freePages(block, context: via)
        throw .residentLimit
      }
      found = slab.withLock { s -> (UInt64, Int)? in
        // In place: a copy of the cache stored back would copy its slabs.
        let new = SlabAllocator.Cache(name: name, objectSize: objectSize, order: order)
        s.caches[objectSize, default: new].slabs[block.head.rawValue] = SlabAllocator.Slab(
          block: block, objectSize: objectSize, capacity: capacity, freelist: Array((0..<capacity).reversed()))
        s.caches[objectSize]?.cpuSlab = block.head.rawValue
        return take(&s)
      }
    }
    guard let (head, slot) = found else { throw MachineError(.ENOMEM, "no slab object") }
    let base = PFN(head).address(pageShift: memory.pageShift).rawValue
    let address = PhysicalAddress(base + UInt64(slot) * objectSize)
    let object = slab.withLock { s -> SlabObject in
      let o = SlabObject(
        cache: name, address: address, objectSize: objectSize, requested: size, serial: s.nextSerial,
        allocStack: allocStack, allocTask: context.task)
      s.nextSerial += 1
      s.objects[address.rawValue] = o
      return o
    }
    recorded = true
    observer?.slabEvent(.allocated(object), context: context)
    return object
  }

  /// `kfree()`: the slot goes back to its slab's freelist; an empty slab
  /// that is not the CPU slab goes back to the page allocator. A `kfree` of
  /// an address with no live object does nothing (the kernel would oops or
  /// KASAN would report a double free).
  /// The corresponding Linux functions are `kfree()`, `do_slab_free()` and `discard_slab()`.
  package func kfree(_ address: PhysicalAddress, serial: UInt64? = nil, context: CallContext) throws(MachineError) {
    guard let object = slab.withLock({ $0.objects[address.rawValue] }), serial == nil || object.serial == serial else {
      throw MachineError(.EINVAL, "no live kmalloc object at \(address): it was freed already")
    }
    observer?.slabEvent(.freeing(object), context: context)
    let via = context.through(["kfree"])
    let largeBlock = slab.withLock { s -> PageBlock? in
      s.objects[address.rawValue] = nil
      return s.large.removeValue(forKey: address.rawValue)
    }
    memory.budget.release(SlabObject.residentBytes(stackDepth: object.allocStack.count), .slabObjects)
    if let block = largeBlock {
      try memory.freePages(
        block, context: via, stack: via.chain(["free_pages_prepare", "__free_frozen_pages", "free_large_kmalloc"]))
      return
    }
    let pageShift = memory.pageShift
    func freeSlot(_ cache: inout SlabAllocator.Cache) -> PageBlock? {
      let pfn = object.address.rawValue >> UInt64(pageShift)
      // The slab's head: the page block that holds the object (one probe, as
      // the kernel's `virt_to_slab()`).
      guard let head = cache.slabHead(of: pfn), let wasFull = cache.slabs[head]?.freelist.isEmpty else { return nil }
      let base = PFN(head).address(pageShift: pageShift).rawValue
      // In place: a copy of the slab stored back would copy its freelist.
      cache.slabs[head]?.freelist.append(Int((object.address.rawValue - base) / object.objectSize))
      if let slab = cache.slabs[head], slab.inUse == 0 && cache.cpuSlab != head {
        cache.slabs[head] = nil
        cache.partial.remove(head)
        return slab.block
      }
      if wasFull && cache.cpuSlab != head { cache.partial.append(head) }
      return nil
    }
    let discard = slab.withLock { s -> PageBlock? in
      s.withCache(object.objectSize) { cache in freeSlot(&cache) } ?? nil
    }
    if let block = discard {
      let capacity = Int((memory.pageSize << UInt64(block.order)) / object.objectSize)
      memory.budget.release(SlabAllocator.Slab.residentBytes(capacity: capacity), .slabObjects)
      try memory.freePages(
        block, context: via,
        stack: via.chain(["free_pages_prepare", "__free_frozen_pages", "__free_slab", "discard_slab", "__slab_free"]))
    }
  }

  /// Whether any kmalloc object is live (the sanitizer's object checks cost nothing without one).
  package var hasSlabObjects: Bool { slab.withLock { !$0.objects.isEmpty } }

  /// The live kmalloc objects that overlap `[start, start + length)`, by address.
  package func slabObjects(overlapping start: UInt64, length: UInt64) -> [SlabObject] {
    let pageSize = memory.pageSize
    return slab.withLock { s in
      guard !s.objects.isEmpty else { return [] }
      var found: [SlabObject] = []
      // Objects are at most KMALLOC_MAX_CACHE_SIZE (or kmalloc_large blocks,
      // found by their head): look at the candidate starts page by page.
      let end = start &+ length
      var page = (start & ~(pageSize - 1)) &- (pageSize * 2)
      if page > start { page = 0 }
      var seen = Set<UInt64>()
      while page < end {
        for (_, cache) in s.caches {
          let step = cache.objectSize
          var a = page
          while a < page &+ pageSize {
            if let o = s.objects[a], o.end > start, o.address.rawValue < end, seen.insert(a).inserted {
              found.append(o)
            }
            a &+= step
          }
        }
        if let o = s.objects[page], o.end > start, o.address.rawValue < end, seen.insert(page).inserted {
          found.append(o)
        }
        page &+= pageSize
      }
      return found.sorted { $0.address < $1.address }
    }
  }
}

extension Machine {
  /// A CPU store of `width` bytes at `phys`.
  package func cpuWrite(_ phys: PhysicalAddress, value: UInt64, width: Int, context: CallContext) {
    memory.write(phys, value: value, width: width)
    observer?.cpuWrote(phys, length: UInt64(width), context: context)
  }

  /// A CPU fill of a whole page block.
  package func cpuFill(_ block: PageBlock, value: UInt64, width: Int, context: CallContext) {
    memory.fill(block, value: value, width: width)
    observer?.cpuWrote(
      block.head.address(pageShift: memory.pageShift), length: UInt64(block.pageCount) << UInt64(memory.pageShift),
      context: context)
  }
}
