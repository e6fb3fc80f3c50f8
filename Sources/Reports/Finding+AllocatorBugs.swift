import KernelTypes
import MemoryModel

/// The kernel's own reports of allocator misuse, as a kernel with
/// CONFIG_DEBUG_VM and KASAN (as syzbot runs) prints them.
extension Finding {
  /// Where the kernel stops: the lines are those of iommusan's 7.0 model,
  /// not checked ones (the explanations say so).
  package enum AllocatorSites {
    /// `VM_BUG_ON_PAGE(page_ref_count(page) == 0, page)` in `put_page_testzero()`, inlined in `__free_pages()`.
    package static let putPageTestzero = WarningSite(file: "include/linux/mm.h", line: 1340, function: "__free_pages")
    /// `WARN(1, KERN_ERR "Trying to vfree() nonexistent vm area (%p)\n", addr)` in `vfree()`.
    package static let vfree = WarningSite(file: "mm/vmalloc.c", line: 3463, function: "vfree")
    /// `bad_page()` in mm/page_alloc.c; it prints no file or line.
    package static let badPage = WarningSite(file: "mm/page_alloc.c", line: 0, function: "bad_page")
    /// iommusan's check of the order given to `__free_pages()`, on the page
    /// allocator's path (as `WarningSite.Emulator.badFree`).
    package static let freeOrder = WarningSite(
      file: "mm/page_alloc.c", line: 215, function: "iommusan_check_free_order")
    /// The read of `domain->type` in `iommu_domain_free()`.
    package static let iommuDomainFree = WarningSite(
      file: "drivers/iommu/iommu.c", line: 0, function: "iommu_domain_free")
  }

  /// Why the page's refcount is zero when `__free_pages()` is called on it.
  package enum FreedPage: String, Sendable {
    case freedAlready = "freed already"
    case neverAllocated = "never allocated"
    /// A page inside a live block, not its head (`free_pages pfn=`).
    case tailOfAllocation = "tail page of a live allocation"
  }

  /// `__free_pages()` of a page whose refcount is already zero: with
  /// CONFIG_DEBUG_VM, `put_page_testzero()`'s `VM_BUG_ON_PAGE()` dumps the
  /// page (`dump_page()`, then its page_owner record) and stops in `BUG()`.
  /// `dump_page()`'s flags and raw lines are left out: the model has no
  /// honest values for them. The call trace's first frame must be
  /// `__free_pages` (the `RIP:`). The kernel prints the same text whatever
  /// the reason; the kind tells them apart: `page-double-free` for a page
  /// freed already, `page-free-never-allocated` for one no allocation
  /// handed out as a block head.
  /// The corresponding Linux function is `put_page_testzero()`.
  package static func pageRefcountUnderflow(pfn: PFN, phys: PhysicalAddress, order: Int, page: FreedPage)
    -> Finding
  {
    let because = "page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)"
    var finding = Finding(
      kind: page == .freedAlready ? .pageDoubleFree : .pageFreeNeverAllocated, headline: because,
      warningSite: AllocatorSites.putPageTestzero, frames: [], pfn: pfn, phys: phys,
      details: [
        Detail("order", .int(Int64(order))),
        Detail("page", .string(page.rawValue)),
      ],
      dumpsPageOwner: true)
    finding.splat = .bug(pageDump: [
      "page: refcount:0 mapcount:0 mapping:0000000000000000 index:0x0 pfn:\(pfn)", because,
    ])
    return finding
  }

  /// `bad_page()` from `free_pages_prepare()`: a page of the range being
  /// freed is in a state a page to be freed cannot be in. The kernel prints
  /// `BUG: Bad page state`, `dump_page()` with its reason and page_owner
  /// record, the modules and the stack, taints the kernel (`B`) and goes on,
  /// leaving the whole range allocated.
  /// The corresponding Linux function is `bad_page()`.
  package static func badPageState(
    pfn: PFN, phys: PhysicalAddress, reason: String, freedHead: PFN, order: Int, allocatedOrder: Int
  ) -> Finding {
    let because = "page dumped because: " + reason
    // `page_bad_reason()`: the head of a free buddy block has PGTY_buddy
    // (0xf0) in `page_type`, which overlays `_mapcount` (`__free_pages_prepare()`
    // resets it "which overlays _mapcount"), so `_mapcount != -1` gives
    // "nonzero mapcount"; an allocation's head has refcount 1. `__dump_folio()`
    // prints the type as `page_type: %x(%s)` of `page_type >> 24` and
    // `page_type_name()`: `f0(buddy)`, and counts a typed page's mapcount as 0.
    let refcount = reason == "nonzero _refcount" ? 1 : 0
    var finding = Finding(
      kind: .badPageState, headline: because, warningSite: AllocatorSites.badPage, frames: [], pfn: pfn, phys: phys,
      details: [
        Detail("reason", .string(reason)), Detail("freed block", .hex(freedHead.rawValue)),
        Detail("order", .int(Int64(order))), Detail("allocated order", .int(Int64(allocatedOrder))),
      ],
      dumpsPageOwner: true)
    var dump = ["page: refcount:\(refcount) mapcount:0 mapping:0000000000000000 index:0x0 pfn:\(pfn)"]
    if refcount == 0 { dump.append("page_type: f0(buddy)") }
    dump.append(because)
    finding.splat = .badPage(pageDump: dump)
    return finding
  }

  /// `__free_pages()` with the wrong order where the kernel says nothing: a
  /// smaller order leaks the rest of the block, a larger one puts pages the
  /// caller does not own on the buddy lists. iommusan's own WARN.
  /// The corresponding Linux function is `__free_pages()`.
  package static func freeWithWrongOrder(
    pfn: PFN, phys: PhysicalAddress, order: Int, allocatedOrder: Int, pages: UInt64, leaked: Bool
  ) -> Finding {
    let what =
      leaked
      ? "the other \(Plural.count(pages, "page")) of the block stay allocated with no one to free them"
      : "a kernel would put \(Plural.count(pages, "page")) the caller does not own on the buddy lists"
    let headline =
      "iommusan: free_pages of pfn \(pfn) with order \(order), allocated with order \(allocatedOrder): " + what
    return Finding(
      kind: .pageFreeWrongOrder, headline: headline, warnMessage: [headline],
      warningSite: AllocatorSites.freeOrder, frames: [AllocatorSites.freeOrder.function], pfn: pfn, phys: phys,
      details: [
        Detail("order", .int(Int64(order))), Detail("allocated order", .int(Int64(allocatedOrder))),
        Detail(leaked ? "pages leaked" : "pages not owned", .int(Int64(clamping: pages))),
      ],
      dumpsPageOwner: true)
  }

  /// `vfree()` of an address with no vmalloc area: the WARN, with the real
  /// address where a kernel's `%p` prints a hashed one.
  /// The corresponding Linux function is `vfree()`.
  package static func vfreeNonexistent(address: UInt64) -> Finding {
    let message = "Trying to vfree() nonexistent vm area (\(address.hex16.dropFirst(2)))"
    return Finding(
      kind: .vfreeNonexistentArea, headline: message, warnMessage: [message], warningSite: AllocatorSites.vfree,
      frames: ["vfree"], details: [Detail("address", .hex(address))])
  }

  /// `iommu_domain_free()` of a freed domain: KASAN's slab-use-after-free on
  /// the read of `domain->type`. `address` stands in for the object's.
  /// The corresponding Linux function is `iommu_domain_free()`.
  package static func domainUseAfterFree(
    domain: String, iommu: String, address: UInt64, allocated: KASANAccess.Track?, freed: KASANAccess.Track?
  ) -> Finding {
    var finding = Finding(
      kind: .domainUseAfterFree, headline: "BUG: KASAN: slab-use-after-free in iommu_domain_free",
      warningSite: AllocatorSites.iommuDomainFree, frames: ["iommu_domain_free"], domain: domain,
      details: [Detail("object", .hex(address)), Detail("iommu", .string(iommu))])
    finding.splat = .kasan(
      KASANAccess(
        bugType: "slab-use-after-free", isWrite: false, size: 4, address: address, allocated: allocated, freed: freed))
    return finding
  }

  /// The `kasan_track` frames of a `kmalloc()` and a `kfree()`, innermost first.
  package static let kasanAllocFrames = [
    "kasan_save_stack", "kasan_save_track", "__kasan_kmalloc", "__kmalloc_cache_noprof",
  ]
  package static let kasanFreeFrames = [
    "kasan_save_stack", "kasan_save_track", "kasan_save_free_info", "__kasan_slab_free", "kfree",
  ]
}
