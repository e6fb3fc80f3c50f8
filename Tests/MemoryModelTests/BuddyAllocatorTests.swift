import KernelTypes
import Testing

@testable import MemoryModel

/// The page allocator: `mm/page_alloc.c` semantics, orders 0 to 10.
@Suite("Buddy allocator")
struct BuddyAllocatorTests {
  @Test("Random alloc/free never hands a page out twice, keeps blocks aligned and counts right")
  func randomAllocFreeInvariants() throws {
    let memory = makeMemory(size: 32 << 20)  // 8192 pages: exhaustion happens too
    let total = memory.freePageCount
    #expect(total == 8192)
    var rng = SplitMix64(seed: 0x5EED_0001)
    var live: [PageBlock] = []
    var owner: [UInt64: PageBlock] = [:]  // pfn -> block holding it
    var enomem = 0
    for _ in 0..<3000 {
      if live.isEmpty || rng.next() % 100 < 60 {
        // Favour small orders, as the kernel does.
        let order = [0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].randomElement(using: &rng)!
        let allocated = memory.freePageCount
        do throws(MachineError) {
          let b = try memory.allocPages(order: order, context: ctx)
          #expect(b.order == order)
          #expect(b.head.rawValue % b.pageCount == 0, "order-\(order) block at \(b.head) is not naturally aligned")
          for p in b.head.rawValue..<(b.head.rawValue + b.pageCount) {
            #expect(owner[p] == nil, "pfn \(PFN(p)) handed out twice")
            #expect(memory.hasPageExt(PFN(p)))
            owner[p] = b
          }
          guard case .allocated = memory.state(of: b.head) else {
            Issue.record("freshly allocated \(b.head) is not allocated")
            continue
          }
          live.append(b)
        } catch {
          #expect(error.errno == .ENOMEM)
          #expect(memory.freePageCount == allocated, "a failed allocation changed the free count")
          enomem += 1
        }
      } else {
        let i = Int(rng.next() % UInt64(live.count))
        let b = live.remove(at: i)
        try memory.freePages(b, context: ctx)
        for p in b.head.rawValue..<(b.head.rawValue + b.pageCount) { owner[p] = nil }
        #expect(memory.state(of: b.head) == .free)
      }
      #expect(memory.freePageCount == total - UInt64(owner.count))
      #expect(memory.allocatedBlockCount == live.count)
    }
    #expect(enomem > 0, "the sequence should have exhausted memory at least once")
    // Free everything: every max-order block comes back.
    for b in live { try memory.freePages(b, context: ctx) }
    #expect(memory.freePageCount == total)
    var heads: Set<UInt64> = []
    for _ in 0..<8 { heads.insert(try memory.allocPages(order: 10, context: ctx).head.rawValue) }
    #expect(heads == Set((0..<8).map { basePFN + UInt64($0) * 1024 }))
    #expect(errno { try memory.allocPages(order: 0, context: ctx) } == .ENOMEM)
  }

  @Test(
    "After everything is freed, the order-10 block at the lowest address is whole again",
    arguments: [1 as UInt64, 2, 3])
  func coalescing(seed: UInt64) throws {
    let memory = makeMemory(size: 4 << 20)  // exactly one order-10 block
    var rng = SplitMix64(seed: seed)
    var live: [PageBlock] = []
    // Fill memory completely with random orders.
    while true {
      do throws(MachineError) {
        live.append(try memory.allocPages(order: Int(rng.next() % 4), context: ctx))
      } catch {
        #expect(error.errno == .ENOMEM)
        // Smaller orders may still fit.
        if let b = try? memory.allocPages(order: 0, context: ctx) {
          live.append(b)
          continue
        }
        break
      }
    }
    #expect(memory.freePageCount == 0)
    #expect(live.reduce(0) { $0 + $1.pageCount } == 1024)
    live.shuffle(using: &rng)
    for b in live { try memory.freePages(b, context: ctx) }
    #expect(memory.freePageCount == 1024)
    let big = try memory.allocPages(order: 10, context: ctx)
    #expect(big.head == PFN(basePFN))
  }

  @Test("Order-0 frees are reused last-in first-out")
  func orderZeroLIFO() throws {
    let memory = makeMemory(size: 16 << 20)
    let a = try memory.allocPages(order: 0, context: ctx)
    let b = try memory.allocPages(order: 0, context: ctx)
    #expect(a != b)
    try memory.freePages(a, context: ctx)
    try memory.freePages(b, context: ctx)
    #expect(try memory.allocPages(order: 0, context: ctx) == b)
    #expect(try memory.allocPages(order: 0, context: ctx) == a)
  }

  @Test("Otherwise the lowest free block that fits is split")
  func lowestFit() throws {
    let memory = makeMemory(size: 16 << 20)
    let a = try memory.allocPages(order: 0, context: ctx)
    #expect(a.head == PFN(basePFN))
    // Free after the split: order 0 at +1, order 1 at +2, order 2 at +4, order 3 at +8 ...
    let c = try memory.allocPages(order: 3, context: ctx)
    #expect(c.head == PFN(basePFN + 8))
    let d = try memory.allocPages(order: 0, context: ctx)
    #expect(d.head == PFN(basePFN + 1))
    let e = try memory.allocPages(order: 1, context: ctx)
    #expect(e.head == PFN(basePFN + 2))
    let f = try memory.allocPages(order: 10, context: ctx)
    #expect(f.head == PFN(basePFN + 1024))
  }

  @Test("Every order gives a naturally aligned block", arguments: 0...10)
  func naturalAlignment(order: Int) throws {
    let memory = makeMemory(size: 64 << 20)
    // Disturb the free lists first so alignment is not an accident.
    _ = try memory.allocPages(order: 0, context: ctx)
    _ = try memory.allocPages(order: 2, context: ctx)
    for _ in 0..<3 {
      let b = try memory.allocPages(order: order, context: ctx)
      #expect(b.head.rawValue % (1 << UInt64(order)) == 0)
      #expect(b.head.address(pageShift: 12).rawValue % (4096 << UInt64(order)) == 0)
    }
  }

  @Test("ENOMEM when memory is exhausted; ENOMEM above MAX_PAGE_ORDER (the kernel WARNs and returns NULL)")
  func exhaustion() throws {
    let memory = makeMemory(size: 4 << 20)
    for _ in 0..<1024 { _ = try memory.allocPages(order: 0, context: ctx) }
    #expect(memory.freePageCount == 0)
    #expect(errno { try memory.allocPages(order: 0, context: ctx) } == .ENOMEM)
    let fresh = makeMemory(size: 4 << 20)
    _ = try fresh.allocPages(order: 0, context: ctx)
    #expect(errno { try fresh.allocPages(order: 10, context: ctx) } == .ENOMEM)
    #expect(errno { try fresh.allocPages(order: 11, context: ctx) } == .ENOMEM)
    #expect(errno { try fresh.allocPages(order: -1, context: ctx) } == .ENOMEM)
  }

  @Test("Double free and frees of blocks never handed out are EINVAL")
  func doubleFree() throws {
    let memory = makeMemory(size: 16 << 20)
    let b = try memory.allocPages(order: 2, context: ctx)
    let free = memory.freePageCount
    // Wrong order, or a page inside the block, is not the block.
    #expect(errno { try memory.freePages(PageBlock(head: b.head, order: 1), context: ctx) } == .EINVAL)
    #expect(errno { try memory.freePages(PageBlock(head: b.head.advanced(by: 1), order: 0), context: ctx) } == .EINVAL)
    #expect(memory.freePageCount == free)
    try memory.freePages(b, context: ctx)
    #expect(errno { try memory.freePages(b, context: ctx) } == .EINVAL)
    #expect(memory.freePageCount == free + 4)
    // A stale handle whose pages now belong to a smaller block.
    let small = try memory.allocPages(order: 0, context: ctx)
    #expect(b.contains(small.head))
    #expect(errno { try memory.freePages(b, context: ctx) } == .EINVAL)
    #expect(errno { try memory.freePages(PageBlock(head: PFN(1), order: 0), context: ctx) } == .EINVAL)
  }

  @Test("BuddyAllocator directly: drain of the per-CPU list coalesces")
  func directDrain() {
    var buddy = BuddyAllocator(ranges: [0..<2048])
    var pages: [UInt64] = []
    for _ in 0..<2048 { pages.append(buddy.allocate(order: 0)!) }
    #expect(Set(pages).count == 2048)
    #expect(buddy.allocate(order: 0) == nil)
    for p in pages { buddy.free(p, order: 0) }
    #expect(buddy.pcp.count == 2048)
    #expect(buddy.freePages == 2048)
    // No order-10 block in the buddy lists until the pcp list drains.
    #expect(buddy.allocate(order: 10) == 0)
    #expect(buddy.pcp.isEmpty)
    #expect(buddy.allocate(order: 10) == 1024)
    #expect(buddy.allocate(order: 0) == nil)
  }

  @Test("Ranges that are not max-order aligned are split into aligned blocks")
  func unalignedRanges() {
    var buddy = BuddyAllocator(ranges: [3..<1030, 2048..<2050])
    #expect(buddy.freePages == 1027 + 2)
    var got: [(UInt64, Int)] = []
    for order in stride(from: 10, through: 0, by: -1) {
      while let p = buddy.allocate(order: order) {
        #expect(p % (1 << UInt64(order)) == 0)
        got.append((p, order))
      }
    }
    #expect(buddy.freePages == 0)
    var covered: Set<UInt64> = []
    for (p, o) in got {
      for q in p..<(p + (1 << UInt64(o))) { #expect(covered.insert(q).inserted) }
    }
    #expect(covered == Set(Array(3..<1030) + [2048, 2049]))
    // The largest block that fits is order 9 (512..1023).
    #expect(got.first.map { $0.1 } == 9)
  }
}
