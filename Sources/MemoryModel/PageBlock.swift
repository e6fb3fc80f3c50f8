import KernelTypes

/// A naturally aligned block of 2^order CPU pages, as `alloc_pages()` returns.
public struct PageBlock: Sendable, Hashable {
  public var head: PFN
  public var order: Int
  public init(head: PFN, order: Int) {
    self.head = head
    self.order = order
  }
  public var pageCount: UInt64 { 1 << UInt64(order) }
  public func contains(_ pfn: PFN) -> Bool { pfn >= head && pfn.rawValue - head.rawValue < pageCount }
}

/// What a page is used for (`page_type` / ptdesc).
public enum PageUse: String, Sendable, Hashable {
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
public struct BlockRecord: Sendable {
  public var block: PageBlock
  public var use: PageUse
  public var gfp: GFPFlags
  public var isAllocated: Bool
  /// Allocation epoch: a machine-wide counter value taken when the block was
  /// handed out. A translation made at an earlier epoch does not belong to
  /// this owner.
  public var generation: UInt64
  public var allocTask: EmulatedTask
  public var allocTime: UInt64
  public var allocStack: [KernelFrame]
  public var freeTask: EmulatedTask?
  public var freeTime: UInt64
  public var freeStack: [KernelFrame]
}

/// The state of one CPU page.
public enum PageState: Sendable, Hashable {
  /// Not RAM (MMIO or a hole): no struct page.
  case notRAM
  /// RAM that is offline: never allocated, no page_ext.
  case offline
  case free
  case allocated(generation: UInt64, use: PageUse)
}
