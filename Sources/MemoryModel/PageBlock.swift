import KernelTypes

/// A naturally aligned block of 2^order CPU pages, as `alloc_pages()` returns.
package struct PageBlock: Sendable, Hashable {
  package var head: PFN
  package var order: Int
  package init(head: PFN, order: Int) {
    self.head = head
    self.order = order
  }
  package var pageCount: UInt64 { 1 << UInt64(order) }
  package func contains(_ pfn: PFN) -> Bool { pfn >= head && pfn.rawValue - head.rawValue < pageCount }
}

/// What a page is used for (`page_type` / ptdesc).
package enum PageUse: String, Sendable, Hashable {
  case data
  /// An I/O page-table page of an IOMMU domain.
  case ioPageTable = "iommu page table"
  /// A CPU page-table page of a process (user half).
  case userPageTable = "user page table"
  /// A kernel page-table page (`PT_kernel`).
  case kernelPageTable = "kernel page table"
}

/// The allocator's record of a block: page_owner's data plus the ground
/// truth generation.
package struct BlockRecord: Sendable {
  package var block: PageBlock
  package var use: PageUse
  package var gfp: GFPFlags
  package var isAllocated: Bool
  /// Allocation epoch: a machine-wide counter value taken when the block was
  /// handed out. A translation made at an earlier epoch does not belong to
  /// this owner.
  package var generation: UInt64
  package var allocTask: EmulatedTask
  package var allocTime: UInt64
  package var allocStack: [KernelFrame]
  package var freeTask: EmulatedTask?
  package var freeTime: UInt64
  package var freeStack: [KernelFrame]
  /// The epoch the page's last free took (0: never freed), kept across its
  /// next allocation as the free stack is: a translation made at an earlier
  /// epoch is older than that free.
  package var freeEpoch: UInt64
}

/// The state of one CPU page.
package enum PageState: Sendable, Hashable {
  /// Not RAM (MMIO or a hole): no struct page.
  case notRAM
  /// RAM that is offline: never allocated, no page_ext.
  case offline
  case free
  case allocated(generation: UInt64, use: PageUse)
}
