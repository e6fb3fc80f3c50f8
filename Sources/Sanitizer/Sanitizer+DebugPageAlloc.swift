import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// Where a hook counts and what its counts found out of range: built once
/// per hook and passed to every count it makes, as the real caller and the
/// IOVA being counted. The hook then completes the findings with its domain
/// and call context (`reportCounts`), which no count has to copy.
struct CountSite {
  /// A count out of range, with the IOVA being counted when it was found.
  struct OutOfRange {
    var kind: ReportKind
    var pfn: PFN
    var count: Int64
    var iova: IOVA
  }

  /// The kernel function that counts; nil for exact accounting's release of
  /// a freed domain's leaves, which no kernel code does.
  let caller: DebugPageAllocCaller?
  /// The IOVA a report names: the hook's, or the granule or leaf run being counted.
  var iova: IOVA
  /// What the counts found, in order; nil while nothing is, so that a hook
  /// that finds nothing makes and frees no array.
  private(set) var outOfRange: [OutOfRange]?

  init(caller: DebugPageAllocCaller?, iova: IOVA) {
    self.caller = caller
    self.iova = iova
  }

  mutating func found(_ kind: ReportKind, pfn: PFN, count: Int64) {
    outOfRange = (outOfRange ?? []) + [OutOfRange(kind: kind, pfn: pfn, count: count, iova: iova)]
  }
}

extension Sanitizer: IOMMUDebugHooks {
  /// The corresponding Linux function is `__iommu_debug_map()`.
  package func debugMap(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    if kernelHooksInert { return }
    countMap(domain, iova: iova, phys: phys, size: size, context: context)
  }

  /// 7.0.0's lost map error on classic ops: kernel accounting counts the
  /// whole range (`iommu_debug_map(domain, paddr, size)`); exact accounting
  /// counted and released the part really mapped.
  /// The corresponding Linux function is `iommu_map_nosync()` (7.0.0).
  package func debugMapAfterLostError(
    _ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext
  ) {
    guard configuration.accounting == .kernel else { return }
    countMap(domain, iova: iova, phys: phys, size: size, context: context)
  }

  private func countMap(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    var site = CountSite(caller: configuration.accounting == .kernel ? .map : .exactMap, iova: iova)
    // The hot path, exact accounting of one leaf: a supported page size,
    // aligned, phys not 0 and not wrapping (phys - 1 < max - size). No
    // split to compute; a leaf of one CPU page is one atomic add.
    if configuration.accounting == .exact, phys.rawValue &- 1 < UInt64.max - size, size.nonzeroBitCount == 1,
      size & domain.pgsizeBitmap == size, (iova.rawValue | phys.rawValue) & (size &- 1) == 0
    {
      if size != pageSize || !countOnePage(phys.rawValue, delta: 1, &site) {
        addLeaves(phys: phys.rawValue, leafShift: size.trailingZeroBitCount, count: 1, delta: 1, &site)
      }
      reportCounts(site, domain, context: context)
      return
    }
    guard phys != .zero, phys.adding(size) != nil else {
      var finding = Finding.mapAddressOverflow(phys: phys, size: size, iova: iova)
      finding.domain = domain.name
      report(finding, context: context)
      // The kernel counts nothing after this WARN, and its unmap then
      // decrements what it never counted. Exact accounting still counts a
      // mapping of phys 0, which the page table really holds.
      guard configuration.accounting == .exact, phys.adding(size) != nil else { return }
      addLeafRuns(domain, phys: phys, size: size, &site)
      reportCounts(site, domain, context: context)
      return
    }
    switch configuration.accounting {
    case .kernel:
      // One increment per smallest IOMMU page, by physical address.
      let g = domain.granule
      guard withinKernelGranuleLimit(size, domain) else { return }
      var off: UInt64 = 0
      while off < size {
        site.iova = iova.advanced(by: off)
        increment(phys.rawValue &+ off, &site)
        off &+= g
      }
    case .exact:
      addLeafRuns(domain, phys: phys, size: size, &site)
    }
    reportCounts(site, domain, context: context)
  }

  /// The corresponding Linux function is `__iommu_debug_unmap_begin()`.
  package func debugUnmapBegin(_ domain: Domain, iova: IOVA, size: UInt64, context: CallContext) {
    guard iova.adding(size) != nil else {
      var finding = Finding.unmapAddressOverflow(iova: iova, size: size)
      finding.domain = domain.name
      report(finding, context: context)
      return
    }
    guard configuration.accounting == .kernel, !kernelHooksInert || domain.unit.model == .smmuv3 else { return }
    var site = CountSite(caller: .unmapBegin, iova: iova)
    updateIOVA(domain, size: size, inc: false, &site)
    reportCounts(site, domain, context: context)
  }

  /// The corresponding Linux function is `__iommu_debug_unmap_end()`.
  package func debugUnmapEnd(
    _ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, removed: [RemovedLeaves], context: CallContext
  ) {
    switch configuration.accounting {
    case .kernel:
      if unmapped == size { return }
      if unmapped > size {
        if once(WarningSite.unmapEnd.function) {
          reportLargerUnmap(domain, iova: iova, size: size, unmapped: unmapped, context: context)
        }
        return
      }
      // The unmap stopped short: what is still mapped is counted again, by
      // `__iommu_debug_update_iova()`, which WARNs and returns when the
      // range wraps (as it did in unmap_begin: two WARNs, no count change).
      guard iova.adding(size) != nil else {
        var finding = Finding.unmapAddressOverflow(iova: iova.advanced(by: unmapped), size: size - unmapped)
        finding.domain = domain.name
        report(finding, context: context)
        return
      }
      var site = CountSite(caller: .unmapEnd, iova: iova.advanced(by: unmapped))
      updateIOVA(domain, size: size - unmapped, inc: true, &site)
      reportCounts(site, domain, context: context)
    case .exact:
      // The removed leaves' decrements stand for the kernel's in unmap_begin.
      var site = CountSite(caller: .unmapBegin, iova: iova)
      release(removed, &site)
      reportCounts(site, domain, context: context)
      if unmapped > size {
        reportLargerUnmap(domain, iova: iova, size: size, unmapped: unmapped, context: context)
      }
    }
  }

  /// Exact accounting: every CPU page the removed leaves overlap loses a
  /// count per leaf, counted at the leaf run's IOVA.
  @inline(__always)
  func release(_ removed: [RemovedLeaves], _ site: inout CountSite) {
    for run in removed {
      site.iova = run.iova
      if run.size == pageSize, run.leafShift == pageShift, countOnePage(run.phys.rawValue, delta: -1, &site) {
        continue
      }
      let count = run.size >> UInt64(run.leafShift)
      addLeaves(phys: run.phys.rawValue, leafShift: run.leafShift, count: count, delta: -1, &site)
    }
  }

  /// The corresponding Linux function is `__iommu_debug_update_iova()`: one
  /// count per granule of `[site.iova, site.iova + size)` that is mapped.
  private func updateIOVA(_ domain: Domain, size: UInt64, inc: Bool, _ site: inout CountSite) {
    let g = domain.granule
    guard withinKernelGranuleLimit(size, domain) else { return }
    let iova = site.iova
    var off: UInt64 = 0
    while off < size {
      site.iova = iova.advanced(by: off)
      let p = domain.iovaToPhys(site.iova)
      if p != .zero {
        if inc { increment(p.rawValue, &site) } else { decrement(p.rawValue, &site) }
      }
      off &+= g
    }
  }

  /// Whether kernel accounting may walk `size` bytes granule by granule;
  /// past `maximumKernelGranules` it records a resource-limit error instead.
  private func withinKernelGranuleLimit(_ size: UInt64, _ domain: Domain) -> Bool {
    let granules = size / domain.granule
    guard granules > configuration.maximumKernelGranules else { return true }
    let limit = configuration.maximumKernelGranules
    resourceLimit(
      "kernel accounting (emu.accounting=kernel) updates one count per granule, and \(ByteSize.describe(size)) is "
        + "\(granules) granules of \(ByteSize.describe(domain.granule)): above the emulator's limit of \(limit) "
        + "(\(ByteSize.describe(limit &* domain.granule))) for one map or unmap; use exact accounting for ranges "
        + "this large")
    return false
  }

  // MARK: - Counting

  /// The corresponding Linux function is `iommu_debug_inc_page()`.
  @inline(__always)
  private func increment(_ phys: UInt64, _ site: inout CountSite) {
    let pfn = PFN(phys >> UInt64(pageShift))
    guard machine.memory.hasPageExt(pfn) else { return }
    let v = counts.add(page: pfn.rawValue, 1)
    if v > configuration.mapCountMax || v <= 0 { site.found(.mapCountOverflow, pfn: pfn, count: v) }
  }

  /// The corresponding Linux function is `iommu_debug_dec_page()`.
  @inline(__always)
  private func decrement(_ phys: UInt64, _ site: inout CountSite) {
    let pfn = PFN(phys >> UInt64(pageShift))
    guard machine.memory.hasPageExt(pfn) else { return }
    let v = counts.add(page: pfn.rawValue, -1)
    if v < 0 { site.found(.mapCountUnderflow, pfn: pfn, count: v) }
  }

  /// Exact accounting of a map at `site.iova`, split as `iommu_pgsize()` splits it.
  private func addLeafRuns(_ domain: Domain, phys: PhysicalAddress, size: UInt64, _ site: inout CountSite) {
    for run in LeafRuns(bitmap: domain.pgsizeBitmap, iova: site.iova.rawValue, phys: phys.rawValue, size: size) {
      addLeaves(phys: run.phys, leafShift: run.leafShift, count: run.count, delta: 1, &site)
    }
  }

  /// Exact accounting of one leaf that is exactly one CPU page of the
  /// online range: one atomic add, and the page total only when it may be
  /// out of range. Returns false when the page is not in the one online
  /// range, for `addLeaves` to clip.
  @inline(__always)
  private func countOnePage(_ phys: UInt64, delta: Int64, _ site: inout CountSite) -> Bool {
    let pfn = phys >> UInt64(pageShift)
    guard let only = onlineRange, only.contains(pfn) else { return false }
    countPages(pfn, pfn + 1, delta: delta, &site)
    return true
  }

  /// Adds `delta` to every page of `[lo, hi)` (online RAM, one leaf or more
  /// per page) and checks the range when a count may be out of bounds.
  @inline(__always)
  private func countPages(_ lo: UInt64, _ hi: UInt64, delta: Int64, _ site: inout CountSite) {
    let lowest = hi - lo == 1 ? counts.addPiece(page: lo, delta) : counts.add(pages: lo, hi, delta)
    if counts.mayNeedCheck(lastPiece: lowest) { check(pages: lo, hi, &site) }
  }

  /// Exact accounting: `count` leaves of `1 << leafShift` bytes at `phys`
  /// add `delta` to every CPU page they overlap, once per leaf. Online RAM
  /// only; a run costs a few radix pieces, not one operation per page.
  private func addLeaves(phys: UInt64, leafShift: Int, count n: UInt64, delta: Int64, _ site: inout CountSite) {
    let ps = UInt64(pageShift)
    let (bytes, o1) = n.multipliedReportingOverflow(by: 1 << UInt64(leafShift))
    let (end, o2) = phys.addingReportingOverflow(bytes)
    guard !o1, !o2, bytes > 0 else { return }
    let firstPage = phys >> ps
    let lastPage = (end - 1) >> ps
    let perPage: Int64 = leafShift >= pageShift ? 1 : Int64(1) << Int64(pageShift - leafShift)
    // Most machines have one online range: clip against it without a loop.
    if perPage == 1, let only = onlineRange, firstPage >= only.lowerBound, lastPage < only.upperBound {
      countPages(firstPage, lastPage + 1, delta: delta, &site)
      return
    }
    for r in machine.memory.onlineRanges where r.upperBound > firstPage && r.lowerBound <= lastPage {
      let lo = max(firstPage, r.lowerBound)
      let hi = min(lastPage + 1, r.upperBound)
      if perPage == 1 {
        countPages(lo, hi, delta: delta, &site)
      } else {
        // Sub-page leaves: whole pages get `perPage` each, the ends what they hold.
        func leaves(in p: UInt64) -> Int64 {
          Int64((min(end, (p + 1) << ps) - max(phys, p << ps)) >> UInt64(leafShift))
        }
        var midLo = lo
        var midHi = hi
        if leaves(in: lo) != perPage {
          checkValue(counts.add(page: lo, delta * leaves(in: lo)), pfn: lo, &site)
          midLo += 1
        }
        if midHi > midLo && leaves(in: midHi - 1) != perPage {
          checkValue(counts.add(page: midHi - 1, delta * leaves(in: midHi - 1)), pfn: midHi - 1, &site)
          midHi -= 1
        }
        if midLo < midHi {
          counts.add(pages: midLo, midHi, delta * perPage)
          check(pages: midLo, midHi, &site)
        }
      }
    }
  }

  /// Underflow and overflow checks for exact accounting over a run: the
  /// run's pages changed by the same delta, but their counts differ where
  /// other mappings overlap, so the extremes are taken over the whole run.
  private func check(pages lo: UInt64, _ hi: UInt64, _ site: inout CountSite) {
    guard let (least, most) = counts.extremes(pages: lo, hi) else { return }
    if least.count < 0 {
      checkValue(least.count, pfn: least.pfn, &site)
    } else if most.count > configuration.mapCountMax {
      checkValue(most.count, pfn: most.pfn, &site)
    }
  }

  private func checkValue(_ v: Int64, pfn: UInt64, _ site: inout CountSite) {
    if v < 0 {
      site.found(.mapCountUnderflow, pfn: PFN(pfn), count: v)
    } else if v > configuration.mapCountMax {
      site.found(.mapCountOverflow, pfn: PFN(pfn), count: v)
    }
  }

  // MARK: - Reports

  /// Completes what a hook's counts found into reports, with the hook's
  /// domain and call context.
  @inline(__always)
  func reportCounts(_ site: CountSite, _ domain: Domain, context: CallContext) {
    if let found = site.outOfRange { report(found, caller: site.caller, domain, context: context) }
  }

  private func report(
    _ found: [CountSite.OutOfRange], caller: DebugPageAllocCaller?, _ domain: Domain, context: CallContext
  ) {
    for c in found {
      var finding =
        c.kind == .mapCountOverflow
        ? Finding.mapCountOverflow(
          pfn: c.pfn, phys: phys(c.pfn), count: c.count, maximum: configuration.mapCountMax, iova: c.iova,
          caller: caller)
        : Finding.mapCountUnderflow(pfn: c.pfn, phys: phys(c.pfn), count: c.count, iova: c.iova, caller: caller)
      finding.domain = domain.name
      finding.details.append(Detail("accounting", .string(configuration.accounting.rawValue)))
      report(finding, context: context)
    }
  }

  private func reportLargerUnmap(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext) {
    var finding = Finding.largerUnmap(iova: iova, size: size, unmapped: unmapped)
    finding.domain = domain.name
    finding.details += [
      Detail("accounting", .string(configuration.accounting.rawValue)),
      Detail(
        "note",
        .string(
          configuration.accounting == .kernel
            ? "kernel accounting adjusts nothing: pages beyond the request keep their counts"
            : "exact accounting released every removed page")),
    ]
    report(finding, context: context)
  }
}

extension Sanitizer: PageAllocatorObserver {
  /// The corresponding Linux function is `__iommu_debug_check_unmapped()`, from `post_alloc_hook()`.
  package func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    note(.alloc(order: block.order, use: use), pfn: block.head.rawValue, count: block.pageCount, context: context)
    checkUnmapped(block, kind: .allocatedWhileMapped, stack: stack, context: context)
  }

  /// The corresponding Linux function is `__iommu_debug_check_unmapped()`, from `free_pages_prepare()`.
  package func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    note(.free(order: block.order), pfn: block.head.rawValue, count: block.pageCount, context: context)
    let leaked = checkUnmapped(block, kind: .freedWhileMapped, stack: stack, context: context)
    checkCachedOnFree(block, use: use, skip: leaked, stack: stack, context: context)
  }

  /// The corresponding Linux function is `put_page_testzero()`, from `__free_pages()`.
  package func badFree(_ block: PageBlock, last: BlockRecord?, stack: [KernelFrame], context: CallContext) {
    reportBadFree(block, last: last, stack: stack, context: context)
  }

  /// The corresponding Linux function is `free_pages_prepare()`, from `__free_pages()`.
  package func wrongOrderFree(
    _ allocated: BlockRecord, order: Int, outcome: WrongOrderFree, stack: [KernelFrame], context: CallContext
  ) {
    reportWrongOrderFree(allocated, order: order, outcome: outcome, stack: stack, context: context)
  }

  @discardableResult
  private func checkUnmapped(_ block: PageBlock, kind: ReportKind, stack: [KernelFrame], context: CallContext)
    -> Set<UInt64>
  {
    #if IOMMU_DEBUG_PAGEALLOC
      guard configuration.debugPageAlloc else { return [] }
      var leaked: Set<UInt64> = []
      let lo = block.head.rawValue
      for (pfn, count) in counts.nonZero(pages: lo, lo + block.pageCount) {
        leaked.insert(pfn)
        let p = PFN(pfn)
        report(.pageLeak(kind, pfn: p, phys: phys(p), count: count, order: block.order), stack: stack, context: context)
      }
      return leaked
    #else
      return []
    #endif
  }
}
