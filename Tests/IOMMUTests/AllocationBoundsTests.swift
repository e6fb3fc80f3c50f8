import IOMMUSanTestSupport
import KernelTypes
import Synchronization
import Testing

@testable import IOMMU
@testable import MemoryModel

/// A mapping that reaches a page which was free when it was made: the
/// ground truth names no free that did not happen. And the I/O page-table
/// pages are allocated through the model's own driver path.
@Suite("Ground truth and stacks for pages beyond an allocation")
struct AllocationBoundsTests {
  @Test("A page free when mapped, allocated later: not freed after the translation", arguments: Geometry.models)
  func freeWhenMapped(_ g: Geometry) throws {
    let rig = try Rig(g)
    let dev = try rig.device()
    // A first map builds the page tables, so that the next map allocates none.
    let warm = try rig.memory.allocPages(order: 0, context: ctx)
    _ = try rig.machine.dmaMap(dev, phys: rig.address(warm), size: 4096, direction: .bidirectional, context: ctx)
    let buf = try rig.memory.allocPages(order: 0, context: ctx)
    // 4K from the middle of a one-page block: the next page is free.
    let iova = try rig.machine.dmaMap(
      dev, phys: rig.address(buf).advanced(by: 0x800), size: 4096, direction: .bidirectional, context: ctx)
    let next = rig.address(buf).advanced(by: 0x1000)
    let r = rig.write(dev, iova.rawValue + 0x900, 1)
    guard case .useAfterFree(_, let isFree, _, _, let freedAfter) = r.verdict else {
      Issue.record("expected the free page to be flagged, got \(r.verdict)")
      return
    }
    #expect(isFree && !freedAfter)
    // The next page is handed out (page tables or data): still no free after the translation.
    let other = try rig.memory.allocPages(order: 0, context: ctx)
    #expect(rig.address(other) == next, "the lowest free block comes next")
    guard case .useAfterFree(_, false, _, _, false) = rig.write(dev, iova.rawValue + 0x900, 2).verdict else {
      Issue.record("the reallocated page is not blamed on a free")
      return
    }
  }

  @Test("A page freed after the translation: freed after it", arguments: Geometry.models)
  func freedAfterMapped(_ g: Geometry) throws {
    let rig = try Rig(g)
    let dev = try rig.device()
    let buf = try rig.memory.allocPages(order: 0, context: ctx)
    let iova = try rig.machine.dmaMap(dev, phys: rig.address(buf), size: 4096, direction: .bidirectional, context: ctx)
    try rig.memory.freePages(buf, context: ctx)
    guard case .useAfterFree(_, true, _, _, true) = rig.read(dev, iova.rawValue).verdict else {
      Issue.record("a page freed after the translation was made is a use-after-free")
      return
    }
    _ = try rig.memory.allocPages(order: 0, context: ctx)
    guard case .useAfterFree(_, false, _, _, true) = rig.read(dev, iova.rawValue).verdict else {
      Issue.record("freed and allocated again after the translation")
      return
    }
  }

  final class StackRecorder: PageAllocatorObserver {
    let stacks = Synchronization.Mutex<[[String]]>([])
    func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
      if use == .ioPageTable { stacks.withLock { $0.append(stack.map(\.function)) } }
    }
    func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {}
  }

  @Test("I/O page-table pages are allocated through the model's driver", arguments: Geometry.models)
  func pageTableAllocationPath(_ g: Geometry) throws {
    let rig = try Rig(g)
    let rec = StackRecorder()
    rig.memory.observer = rec
    let d = try rig.paging()
    let buf = try rig.memory.allocPages(order: 0, context: ctx)
    try d.map(iova: IOVA(0x10_0000), phys: rig.address(buf), size: 4096, readable: true, writable: true, context: ctx)
    let stacks = rec.stacks.withLock { $0 }
    #expect(stacks.count >= 2)
    let allocator = [
      "post_alloc_hook", "get_page_from_freelist", "__alloc_frozen_pages_noprof", "__folio_alloc_noprof",
    ]
    let (root, table): ([String], [String]) =
      switch g.model {
      case .vtd:
        (["iommu_alloc_pages_node_sz", "paging_domain_alloc"], ["iommu_alloc_pages_node_sz", "pfn_to_dma_pte"])
      case .amd: (["iommu_alloc_pages_node_sz", "v1_alloc_pgtable"], ["iommu_alloc_pages_node_sz", "alloc_pte"])
      case .smmuv3:
        (
          ["iommu_alloc_pages_node_sz", "__arm_lpae_alloc_pages", "arm_64_lpae_alloc_pgtable_s1"],
          ["iommu_alloc_pages_node_sz", "__arm_lpae_alloc_pages", "__arm_lpae_map"]
        )
      }
    #expect(Array(stacks[0].prefix(allocator.count + root.count)) == allocator + root)
    #expect(Array(stacks[1].prefix(allocator.count + table.count)) == allocator + table)
    #expect(stacks[1].contains("iommu_map"))
    if g.model != .smmuv3 { #expect(!stacks.joined().contains { $0.contains("arm_lpae") }) }
    rig.memory.observer = nil
  }
}
