import KernelTypes

/// `iommusan explain KIND`: what each report kind means, where a real kernel
/// would see it, the driver bug behind it, the fix, and the `expect` line.
extension ReportKind {
  /// A one-line description (the fixture language's "what happened").
  public var title: String { info.title }

  /// Several paragraphs for `iommusan explain KIND`, wrapped at 78 columns,
  /// ending in a newline.
  public var explanation: String {
    var out = "\(rawValue) (\(source.rawValue))\n"
    for line in ReportKind.wrap(info.title, width: 76) { out += "  \(line)\n" }
    let sections: [(String, String)] = [
      ("What happened", info.what),
      ("Where a real kernel sees it", info.kernel),
      ("Typical driver bug", info.bug),
      ("How to fix it", info.fix),
    ]
    for (heading, text) in sections {
      out += "\n\(heading)\n"
      for paragraph in text.split(separator: "\n", omittingEmptySubsequences: false) {
        for line in ReportKind.wrap(String(paragraph), width: 76) { out += "  \(line)\n" }
      }
    }
    out += "\nAssert it in a fixture\n"
    for line in info.expect.split(separator: "\n") { out += "  \(line)\n" }
    return out
  }

  /// The report kind that `name` most likely means, for "did you mean"
  /// messages. In order: the name itself, written with `_` or spaces, in
  /// another case or as the Swift case (`freedWhileIOTLBCached`); a unique
  /// prefix of at least 3 characters; a name whose words all belong to exactly
  /// one kind (`ats-timeout`, `leak`); the nearest name by edit distance
  /// (optimal string alignment: a swapped pair of letters is one edit), if at
  /// most 1 edit away for names up to 4 characters, else at most a third of
  /// the name's length (at least 2). Nil otherwise.
  public static func suggest(_ name: String) -> ReportKind? {
    let normalized = normalize(name)
    if normalized.isEmpty { return nil }
    if let exact = ReportKind(rawValue: normalized) { return exact }
    let prefixed = allCases.filter { $0.rawValue.hasPrefix(normalized) }
    if prefixed.count == 1, normalized.count >= 3 { return prefixed[0] }
    // Every word of the input is a word of exactly one kind: `ats-timeout`, `leak`.
    let words = Set(normalized.split(separator: "-"))
    let containing = allCases.filter { words.isSubset(of: Set($0.rawValue.split(separator: "-"))) }
    if containing.count == 1 { return containing[0] }
    let input = Array(normalized.unicodeScalars)
    var best: (kind: ReportKind, distance: Int)?
    for kind in allCases {
      let d = editDistance(input, Array(kind.rawValue.unicodeScalars))
      if best == nil || d < best!.distance { best = (kind, d) }
    }
    guard let best else { return nil }
    let limit = input.count <= 4 ? 1 : max(2, input.count / 3)
    return best.distance <= limit ? best.kind : nil
  }

  // MARK: - Internals

  /// Lower case, `_` and white space as `-`, camelCase and acronym
  /// boundaries as `-` (`freedWhileIOTLBCached` gives `freed-while-iotlb-cached`).
  static func normalize(_ name: String) -> String {
    let scalars = Array(name.trimmingSpaces().unicodeScalars)
    func isUpper(_ s: Unicode.Scalar) -> Bool { (0x41...0x5A).contains(s.value) }
    func isLowerOrDigit(_ s: Unicode.Scalar) -> Bool {
      (0x61...0x7A).contains(s.value) || (0x30...0x39).contains(s.value)
    }
    var out = ""
    for (i, scalar) in scalars.enumerated() {
      if scalar == "_" || scalar == "-" || scalar.properties.isWhitespace {
        if !out.isEmpty && !out.hasSuffix("-") { out += "-" }
        continue
      }
      if isUpper(scalar) {
        let previous = i > 0 ? scalars[i - 1] : nil
        let next = i + 1 < scalars.count ? scalars[i + 1] : nil
        let boundary =
          previous.map { isLowerOrDigit($0) } ?? false
          || (previous.map(isUpper) ?? false) && (next.map { (0x61...0x7A).contains($0.value) } ?? false)
        if boundary && !out.isEmpty && !out.hasSuffix("-") { out += "-" }
        out.unicodeScalars.append(Unicode.Scalar(scalar.value + 0x20)!)
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
    while out.hasSuffix("-") { out.removeLast() }
    return out
  }

  /// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
  static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev2 = [Int](repeating: 0, count: b.count + 1)
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      cur[0] = i
      for j in 1...b.count {
        let cost = a[i - 1] == b[j - 1] ? 0 : 1
        var d = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
          d = min(d, prev2[j - 2] + 1)
        }
        cur[j] = d
      }
      (prev2, prev, cur) = (prev, cur, prev2)
    }
    return prev[b.count]
  }

  /// Greedy word wrap; a word longer than `width` gets a line of its own.
  static func wrap(_ text: String, width: Int) -> [String] {
    if text.isEmpty { return [""] }
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ") {
      if line.isEmpty {
        line = String(word)
      } else if line.count + 1 + word.count <= width {
        line += " " + word
      } else {
        lines.append(line)
        line = String(word)
      }
    }
    if !line.isEmpty { lines.append(line) }
    return lines
  }

  struct Info {
    var title: String
    var what: String
    var kernel: String
    var bug: String
    var fix: String
    var expect: String
  }

  var info: Info {
    switch self {
    case .freedWhileMapped:
      return Info(
        title: "a page was freed while IOMMU mappings still counted it",
        what: """
          A page went back to the page allocator (free_pages(), __free_pages(), or put_page() dropping the last \
          reference) while an IOMMU page table still mapped it: its IOMMU_DEBUG_PAGEALLOC map count was not zero. \
          The device can still DMA into the page after the allocator hands it to someone else: a DMA \
          use-after-free waiting to happen.
          """,
        kernel: """
          CONFIG_IOMMU_DEBUG_PAGEALLOC with iommu.debug_pagealloc=1: free_pages_prepare() calls \
          debug_pagealloc_unmap_pages(), which calls iommu_debug_check_unmapped() first. \
          __iommu_debug_check_unmapped() does WARN_ON() for each page with a non-zero count, then prints \
          "iommu: Detected page leak!" and dump_page_owner() (page_owner=on). A high-order block gives one WARN \
          per mapped page.
          The count drops when the IOMMU PTE is cleared, not at the IOTLB flush, so in lazy mode \
          (iommu.strict=0) a free inside the flush-queue window is not reported; iommusan reports a device access \
          in that window as dma-use-after-free.
          """,
        bug: """
          The driver frees a buffer before unmapping it: an error path that frees in the wrong order, a teardown \
          (remove(), queue free) that releases pages while the ring still holds their DMA addresses, or a \
          completion that frees before the unmap. Unmapping a smaller size than was mapped leaves the rest counted.
          """,
        fix: """
          Unmap before free: call dma_unmap_page()/dma_unmap_sg()/dma_unmap_single() (or iommu_unmap()) before \
          put_page()/free_pages()/kfree(), with the size that was mapped. Stop the device from using the buffer \
          first. Check every error path: undo in the reverse order of setup.
          """,
        expect: """
          buf = alloc_pages
          h = dma_map nvme0 buf size=4K
          free_pages buf                  # still mapped: dma_unmap h first
          expect report freed-while-mapped page=buf
          """)
    case .allocatedWhileMapped:
      return Info(
        title: "a page was allocated while mappings still counted it",
        what: """
          The page allocator handed out a page that an IOMMU page table still mapped. The new owner's data is \
          exposed to a device that was given the page earlier, and that device can overwrite it.
          """,
        kernel: """
          CONFIG_IOMMU_DEBUG_PAGEALLOC: post_alloc_hook() calls debug_pagealloc_map_pages(), which calls \
          iommu_debug_check_unmapped(): the same WARN_ON(), "iommu: Detected page leak!" and dump_page_owner() as \
          on free. set_page_owner() runs later in post_alloc_hook(), so page_owner still shows the previous \
          allocation and its free stack: the owner that left the mapping behind.
          """,
        bug: """
          A mapping was made of a page the driver no longer owned: iommu_map() or dma_map_page() of a stale \
          physical address or struct page kept in a descriptor after the buffer was freed. Or an earlier \
          freed-while-mapped went unfixed and the page came back from the allocator still mapped.
          """,
        fix: """
          Map only pages you own and hold a reference (get_page()) for as long as the mapping lives; clear stored \
          addresses when the buffer is freed. Fix the first report of the run first: a freed-while-mapped on the \
          same page explains this one.
          """,
        expect: """
          free_pages buf                  # while mapped
          expect report freed-while-mapped page=buf
          buf2 = alloc_pages              # the same page, still mapped
          expect report allocated-while-mapped page=buf2
          """)
    case .mapCountUnderflow:
      return Info(
        title: "an unmap took a page's count below zero",
        what: """
          An unmap removed a translation to a page whose map count was already zero: the page table held an \
          entry that no counted map created.
          """,
        kernel: """
          CONFIG_IOMMU_DEBUG_PAGEALLOC: __iommu_unmap() calls iommu_debug_unmap_begin() before the driver \
          unmaps; for each smallest-IOMMU-page unit it looks the physical address up with iommu_iova_to_phys() \
          and decrements, WARN_ON(atomic_dec_return_relaxed(&d->ref) < 0). Units that are not mapped are skipped, \
          so a plain double iommu_unmap() does not underflow.
          """,
        bug: """
          Page-table entries installed without iommu_map() (a forged or hand-written PTE, an IOMMU driver or \
          error path that maps behind the core), mappings made before iommu.debug_pagealloc took effect, or a map \
          error path that unmaps a range it never recorded (fixed by "iommu: Handle unmap error when iommu_debug \
          is enabled", CVE-2026-64152). With emu.accounting=kernel a mapping whose unit is larger than a CPU page \
          counts only the first page of each unit.
          """,
        fix: """
          Every unmap must undo a map that went through iommu_map()/dma_map_*(). Never write I/O page tables \
          directly; on a map failure unmap only what was mapped. If the report comes from a forged entry, it is \
          the entry that is the bug.
          """,
        expect: """
          iommu_unmap dom iova=0x100000 size=4K   # an entry no map counted
          expect report map-count-underflow
          """)
    case .mapCountOverflow:
      return Info(
        title: "a map took a page's count past its maximum",
        what: """
          A map incremented a page's map count past the largest value it holds (the kernel's atomic_t, \
          2^31 - 1): the page was mapped again and again without being unmapped. Kernel accounting reports \
          each page as it passes; exact accounting reports once per map, at the page of the range with the \
          highest count.
          """,
        kernel: """
          CONFIG_IOMMU_DEBUG_PAGEALLOC: iommu_map() calls iommu_debug_map() after a successful map, which \
          increments every unit and does WARN_ON(atomic_inc_return_relaxed(&d->ref) <= 0). The count wraps; the \
          sanitizer only guarantees that the count itself is not corrupted.
          """,
        bug: """
          A mapping leak in a hot path: dma_map_*() per request or packet with the unmap skipped on some \
          completion or error path. dma-debug hints at the same leak with "dma_debug_entry pool grown".
          """,
        fix: """
          Pair every dma_map_*() with exactly one dma_unmap_*(); map a long-lived buffer once and reuse the \
          mapping (dma_sync_*() for ownership changes) instead of mapping it per use.
          """,
        expect: """
          iommu_map dom iova=0x100000 phys=buf size=4K
          expect report map-count-overflow page=buf
          """)
    case .unmapLargerThanRequested:
      return Info(
        title: "an unmap removed more than it was asked to",
        what: """
          iommu_unmap() returned more bytes than requested: the range cut through a larger page (a 2M or 1G \
          block mapping), and the IOMMU driver removed the whole block. Everything else in that block is unmapped \
          too, though its owner did not ask for it.
          """,
        kernel: """
          CONFIG_IOMMU_DEBUG_PAGEALLOC: iommu_debug_unmap_end() does WARN_ON_ONCE(unmapped > size) and returns. \
          The kernel's accounting cannot follow it: units past the requested range keep their counts (map 2M, \
          unmap 4K: 511 pages stay at 1 and report falsely when freed). emu.accounting=kernel reproduces that and \
          reports only once, as WARN_ON_ONCE does; exact (the default) reports every time and accounts in full.
          """,
        bug: """
          Unmapping part of a mapping: a driver maps a large region in one call, which gets block mappings, then \
          unmaps it in smaller pieces, or unmaps with a size or IOVA that does not match the map.
          """,
        fix: """
          Unmap exactly what you mapped: the same IOVA and size, checking iommu_unmap()'s return value. If parts \
          must be unmapped independently, map them separately (or restrict the domain's page sizes).
          """,
        expect: """
          blk = alloc_pages order=9
          iommu_map dom iova=0x200000 phys=blk size=2M    # one 2M block
          iommu_unmap dom iova=0x200000 size=4K
          expect report unmap-larger-than-requested
          expect unmapped=2M
          """)
    case .addressOverflow:
      return Info(
        title: "phys+size or iova+size wrapped around",
        what: """
          A map's physical range (phys + size) or an unmap's IOVA range (iova + size) wrapped past the top of \
          the 64-bit address space, or a map was given physical address 0. The sanitizer does not count that call.
          """,
        kernel: """
          CONFIG_IOMMU_DEBUG_PAGEALLOC: __iommu_debug_map() does WARN_ON(!phys || check_add_overflow(phys, size, \
          &end)); the unmap side does WARN_ON(check_add_overflow(iova, size, &end)).
          """,
        bug: """
          A length computed from unchecked input (a negative int turned into size_t), an uninitialised or error \
          DMA handle used as an IOVA, or page_to_phys()/virt_to_phys() of a NULL or bogus pointer.
          """,
        fix: """
          Validate lengths before mapping, check dma_mapping_error() before using a handle, and never map \
          physical address 0.
          """,
        expect: """
          iommu_unmap dom iova=0xffff_ffff_ffff_f000 size=8K
          expect report address-overflow
          """)
    case .freedWhileIOTLBCached:
      return Info(
        title: "a page was freed while an IOTLB or ATC entry could still reach it",
        what: """
          A page was freed after its page-table entry was cleared but while a cached translation to it was still \
          valid: an IOTLB entry in the IOMMU or an ATC entry in an ATS-capable device. The map count is already \
          zero, so IOMMU_DEBUG_PAGEALLOC is silent, yet the device can still reach the page until the \
          invalidation. This is outside the lazy flush-queue window, which the DMA API allows (iommu.strict=0 \
          accepts that risk); here nothing would ever invalidate in time.
          """,
        kernel: """
          A real kernel cannot see it: nothing checks cached translations when a page is freed. iommusan models \
          each IOMMU's IOTLB and each device's ATC and knows which entries can still translate to the page.
          """,
        bug: """
          iommu_unmap_fast() or a gather-based unmap without the iommu_iotlb_sync() before the pages are freed; an \
          IOMMU driver that skips the ATS invalidation of a device's ATC on unmap; freeing pages of a custom \
          domain before flush_iotlb_all.
          """,
        fix: """
          After iommu_unmap_fast(), call iommu_iotlb_sync() with the same gather before freeing the pages (or use \
          iommu_unmap(), which syncs). Make sure ATS invalidations are sent and completed for every device with \
          ATS enabled.
          """,
        expect: """
          iommu_unmap_fast dom iova=0x100000 size=4K   # no iotlb_sync
          free_pages buf
          expect report freed-while-iotlb-cached page=buf
          """)
    case .pageTableFreedWhileCached:
      return Info(
        title: "a page-table page was freed while a paging-structure cache could still point at it",
        what: """
          A page-table page (an I/O page-table page, or a kernel page-table page that SVA walks share) went back \
          to the allocator while an IOMMU paging-structure (walk) cache still held an entry pointing at it. Once \
          the page is reused, a walk can read its new contents as page-table entries: whoever controls the page \
          controls the device's translations.
          """,
        kernel: """
          A real kernel cannot see it. For the kernel half under SVA this is the bug of "iommu/sva: Invalidate \
          KVA range on kernel TLB flush" (Lu Baolu, 2025); the merged fix frees kernel page-table pages only after \
          a worker invalidates every SVA IOMMU's caches for the range (emu.kva_flush=deferred-free). Leaf-only \
          invalidation keeps walk caches: VT-d with IH=1, SMMUv3 with Leaf=1, AMD without PDE=1.
          """,
        bug: """
          Freeing an emptied table before the IOTLB sync, or invalidating leaf entries only after tables were \
          freed; vfree()/vunmap freeing kernel PTE pages while SVA devices may have cached the kernel half \
          (emu.kva_flush=none).
          """,
        fix: """
          Put freed table pages on the gather's freelist and free them only after an invalidation that includes \
          non-leaf entries has completed. For SVA, invalidate the kernel range in every SVA domain before kernel \
          page-table pages are freed (the deferred-free design).
          """,
        expect: """
          cmdline "emu.kva_flush=none"
          v = vmalloc 4K
          vfree v                         # kernel PTE page freed, SVA walk caches kept
          expect report page-table-freed-while-cached
          """)
    case .secondaryTLBStale:
      return Info(
        title: "a page was freed or remapped before the IOMMU's copy of the translation was invalidated",
        what: """
          A page (or page-table page) of user memory shared with a device through SVA was freed or remapped while \
          the IOMMU still cached the old translation for that PASID (IOTLB, ATC or paging-structure caches). The \
          device can keep using the old page.
          """,
        kernel: """
          A real kernel cannot see it. Secondary TLBs are invalidated through the mmu_notifier: since 6.6 \
          arch_invalidate_secondary_tlbs() runs where the CPU TLB is flushed, leaf and non-leaf entries alike. \
          Before, IOMMU SVA drivers invalidated in invalidate_range_end(), after the pages and tables had gone \
          back to the allocator (Jann Horn, "some likely bugs in IOMMUv2", 2022); emu.notifier=deferred-end \
          reproduces that.
          """,
        bug: """
          An SVA driver that invalidates only in invalidate_range_end(), or misses a path (munmap, mremap, THP \
          split or collapse), or invalidates leaf entries only when page tables are freed.
          """,
        fix: """
          Invalidate from arch_invalidate_secondary_tlbs() (the mmu_notifier's secondary-TLB hook) for the whole \
          range, non-leaf entries included, before pages and page tables are freed.
          """,
        expect: """
          cmdline "emu.notifier=deferred-end"
          munmap area                     # pages freed before the IOMMU is told
          expect report secondary-tlb-stale device=dev0
          """)
    case .atsInvalidationTimeout:
      return Info(
        title: "an ATS invalidation went to a device that could not complete it",
        what: """
          The IOMMU sent an ATS invalidation to a device that did not answer, typically because it was in a \
          reset: PCIe lets a function ignore ATS invalidation requests while it processes a reset. The IOMMU's \
          wait for completion timed out, and the device's ATC may still hold the entry.
          """,
        kernel: """
          A real kernel does see it: VT-d raises an Invalidation Time-out Error (ITE) in the invalidation queue, \
          SMMUv3 times out on CMD_SYNC, AMD-Vi's completion wait times out. The fix is \
          pci_dev_reset_iommu_prepare()/..._done() around every reset (Nicolin Chen, 2025): the device sits in \
          the blocking domain during the reset, with ATS disabled and its ATC invalidated before the reset \
          starts, and an attach meanwhile fails with EBUSY (emu.reset=ebusy).
          """,
        bug: """
          A reset path (FLR, bus or slot reset, a vendor-specific reset) not enclosed by the prepare/done calls; \
          a domain attach, SVA unbind or unmap racing with the reset.
          """,
        fix: """
          Enclose every reset with pci_dev_reset_iommu_prepare() and pci_dev_reset_iommu_done(); do not change \
          the device's domain or unmap its mappings while it is in reset, and handle EBUSY from an attach during \
          the reset.
          """,
        expect: """
          cmdline "emu.reset=none"
          flr_begin nic0
          iommu_unmap dom iova=0x100000 size=4K   # ATS invalidation during the reset
          expect report ats-invalidation-timeout device=nic0
          """)
    case .mappingLeak:
      return Info(
        title: "a domain was freed, a device detached or a process ended with mappings left",
        what: """
          A domain was freed, a device detached from it, or an SVA process ended while mappings remained. The \
          pages stay counted as mapped forever: IOMMU_DEBUG_PAGEALLOC will report them when they are freed, far \
          from the real bug.
          """,
        kernel: """
          A real kernel does not check it at this point. dma-debug reports the DMA API variant when the driver \
          unbinds: "device driver has pending DMA allocations while released from device".
          """,
        bug: """
          A remove() or teardown path that does not unmap its rings and buffers, a domain freed with live \
          mappings, or an SVA bind never unbound before the process exits.
          """,
        fix: """
          Unmap everything before iommu_domain_free() or detaching; release all DMA mappings in remove(); call \
          iommu_sva_unbind_device() before the mm goes away.
          """,
        expect: """
          free_domain dom                 # mappings still in it
          expect report mapping-leak domain=dom
          """)
    case .dmaUnmapMismatch:
      return Info(
        title: "dma_unmap with another size or direction than the map",
        what: """
          dma_unmap_*() was called with a size or a direction that differs from the dma_map_*() that created the \
          mapping. With dma-iommu the size decides how much is unmapped, so part of the mapping can stay behind \
          or a neighbour's can be torn down. iommusan reports it, then unmaps the whole original mapping.
          """,
        kernel: """
          CONFIG_DMA_API_DEBUG, check_unmap(): WARN with "DMA-API: <driver> <device>: device driver frees DMA \
          memory with different size [device address=...] [map size=... bytes] [unmap size=... bytes]" (or \
          "with different direction ... [mapped with ...] [unmapped with ...]"), then "Mapped at:" and the \
          mapping's stack.
          """,
        bug: """
          Passing the current buffer length instead of the mapped length, or the direction of the current \
          transfer instead of the one used to map; a size field that is reused after mapping.
          """,
        fix: """
          Store the DMA address, length and direction when mapping (dma_unmap_addr_set()/dma_unmap_len_set()) and \
          pass exactly those to dma_unmap_*().
          """,
        expect: """
          h = dma_map nvme0 buf size=8K
          dma_unmap h size=4K
          expect report dma-unmap-mismatch device=nvme0
          """)
    case .dmaUnmapNotMapped:
      return Info(
        title: "dma_unmap of an address not mapped",
        what: """
          dma_unmap_*() was called for a DMA address that has no mapping for this device: a double unmap, an \
          address never returned by dma_map_*(), or one that belongs to another device. With an IOMMU the IOVA \
          may already be reused, so the unmap can tear down someone else's mapping.
          """,
        kernel: """
          CONFIG_DMA_API_DEBUG, check_unmap(): WARN with "DMA-API: <driver> <device>: device driver tries to free \
          DMA memory it has not allocated [device address=0x%016llx] [size=%llu bytes]".
          """,
        bug: """
          Unmapping on both the error path and the completion path, unmapping after dma_mapping_error() said the \
          map failed, or a stale handle left in a reused descriptor.
          """,
        fix: """
          Unmap in exactly one place, and clear the stored handle after unmapping (check it before unmapping); \
          never unmap a handle for which dma_mapping_error() returned true.
          """,
        expect: """
          dma_unmap h
          dma_unmap h                     # the second unmap
          expect report dma-unmap-not-mapped device=nvme0
          """)
    case .dmaUseAfterFree:
      return Info(
        title: "a device accessed a page that is no longer the one it was given",
        what: """
          A device read or wrote a page that is free, or that was freed and allocated again since the mapping or \
          cached translation the access used was created. Data leaks to the device or gets corrupted under the \
          page's new owner.
          """,
        kernel: """
          A real kernel never sees device accesses: the symptom is memory corruption far away, or at best an \
          IOMMU fault later. iommusan knows every page's owner (ground truth) and checks each access, whether it \
          went through the page table, the IOTLB or the ATC.
          """,
        bug: """
          Freeing or unmapping a buffer the device still uses (a queue not stopped before teardown), a \
          freed-while-mapped page, a stale IOTLB or ATC entry after a missing invalidation, or a free inside the \
          lazy flush-queue window while the device is still active.
          """,
        fix: """
          Quiesce the device (stop the queue, wait for outstanding DMA) before dma_unmap_*(), then unmap, then \
          free. In lazy mode the IOTLB may keep the entry until the flush queue runs, so the device must be idle \
          before the unmap; use iommu.strict=1 for devices you do not trust.
          """,
        expect: """
          cmdline "iommu.strict=0"
          dma nic0 read h                 # the IOTLB caches h
          dma_unmap h
          free_pages buf
          dma nic0 write h value=0x41     # lazy mode: the IOTLB still holds h
          expect report dma-use-after-free page=buf device=nic0
          """)
    case .dmaStaleWalk:
      return Info(
        title: "a device's translation walked a freed page-table page",
        what: """
          A device's address translation walked through a page-table page that had been freed, by way of a stale \
          paging-structure cache entry or a table freed while still linked. Whatever the walk then reached, the \
          translation came from memory the IOMMU no longer owns.
          """,
        kernel: """
          A real kernel cannot see it (ground truth). It is the exploitable end of page-table-freed-while-cached: \
          the SVA kernel-range bug (Lu Baolu, 2025), where a freed kernel page-table page is reused and an \
          attacker's data is walked as page-table entries. One access gives one report: a walk through a freed \
          table is dma-stale-walk whatever page it reaches.
          """,
        bug: """
          Page-table pages freed before a non-leaf invalidation: leaf-only IOTLB invalidation (VT-d IH=1, SMMUv3 \
          Leaf=1, AMD PDE=0), kernel page-table pages freed without invalidating SVA IOMMUs.
          """,
        fix: """
          As for page-table-freed-while-cached: free table pages only after an invalidation that includes \
          paging-structure caches has completed.
          """,
        expect: """
          dma dev0 read 0xffff_8880_0000_0000 pasid=p
          expect report dma-stale-walk device=dev0
          """)
    case .faultAfterUnmap:
      return Info(
        title: "an I/O page fault hit an IOVA that a traced unmap had released",
        what: """
          While replaying an ftrace log, an iommu:io_page_fault arrived for an IOVA that an earlier traced \
          iommu:unmap (or dma_unmap/dma_free) had released: the device was still using a buffer after the driver \
          unmapped, and probably freed, it.
          """,
        kernel: """
          A real kernel prints the fault (AMD-Vi IO_PAGE_FAULT, a DMAR fault, an SMMU event) but does not connect \
          it to the unmap. The ath12k report on 6.12 (Baochen Qiang, 2025) is this shape: dma_free and unmap of \
          an IOVA, then an io_page_fault on the same IOVA a few milliseconds later.
          """,
        bug: """
          The device or its firmware still writes to a ring or buffer that the driver freed during teardown or \
          reconfiguration, without stopping the device first.
          """,
        fix: """
          Stop the device's DMA (firmware command, queue disable, wait for completion) before \
          dma_free_coherent()/dma_unmap_*(). In strict mode the fault shows the device used the IOVA after the \
          unmap; in lazy mode it may instead have written the freed page before the flush, without a fault.
          """,
        expect: "Replay only: reported when replaying an ftrace log;\nno fixture statement produces it.")
    }
  }
}

extension String {
  fileprivate func trimmingSpaces() -> String {
    let scalars = unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
    let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
    return String(scalars[first...last])
  }
}
