import IOMMU
import KernelTypes
import MemoryModel
import Reports

extension Sanitizer: IOMMUDebugHooks {
  /// The corresponding Linux function is `__iommu_debug_map()`.
  public func debugMap(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    let chain = CallPath.map
    // The hot path, exact accounting of one leaf: a supported page size,
    // aligned, phys not 0 and not wrapping (phys - 1 < max - size). No
    // split to compute; a leaf of one CPU page is one atomic add.
    if configuration.accounting == .exact, phys.rawValue &- 1 < UInt64.max - size, size.nonzeroBitCount == 1, size & domain.pgsizeBitmap == size,
      (iova.rawValue | phys.rawValue) & (size &- 1) == 0
    {
      if size == pageSize, countOnePage(phys.rawValue, delta: 1, domain: domain, iova: iova, chain: chain, context: context) { return }
      addLeaves(phys: phys.rawValue, leafShift: size.trailingZeroBitCount, count: 1, delta: 1, domain: domain, iova: iova, chain: chain, context: context)
      return
    }
    guard phys != .zero, phys.adding(size) != nil else {
      reportOverflow(site: WarningSite.debugMap, what: phys == .zero ? "phys is 0" : "phys \(phys) + size \(size.hexAlt) wraps around",
        domain: domain, iova: iova, phys: phys, size: size, chain: chain, context: context)
      // The kernel counts nothing after this WARN, and its unmap then
      // decrements what it never counted. Exact accounting still counts a
      // mapping of phys 0, which the page table really holds.
      guard configuration.accounting == .exact, phys.adding(size) != nil else { return }
      forEachLeafRun(domain: domain, iova: iova.rawValue, phys: phys.rawValue, size: size) { p, shift, n in
        addLeaves(phys: p, leafShift: shift, count: n, delta: 1, domain: domain, iova: iova, chain: chain, context: context)
      }
      return
    }
    switch configuration.accounting {
    case .kernel:
      // One increment per smallest IOMMU page, by physical address.
      let g = domain.granule
      guard withinKernelGranuleLimit(size, domain) else { return }
      var off: UInt64 = 0
      while off < size {
        increment(phys.rawValue &+ off, domain: domain, iova: iova.advanced(by: off), chain: chain, context: context)
        off &+= g
      }
    case .exact:
      forEachLeafRun(domain: domain, iova: iova.rawValue, phys: phys.rawValue, size: size) { p, shift, n in
        addLeaves(phys: p, leafShift: shift, count: n, delta: 1, domain: domain, iova: iova, chain: chain, context: context)
      }
    }
  }

  /// The corresponding Linux function is `__iommu_debug_unmap_begin()`.
  public func debugUnmapBegin(_ domain: Domain, iova: IOVA, size: UInt64, context: CallContext) {
    let chain = CallPath.unmap
    guard iova.adding(size) != nil else {
      reportOverflow(site: WarningSite.updateIOVA, what: "iova \(iova) + size \(size.hexAlt) wraps around", domain: domain, iova: iova, phys: nil, size: size, chain: .frames(["__iommu_debug_update_iova", "__iommu_debug_unmap_begin"].map { KernelFrame($0) } + chain.frames(context)), context: context)
      return
    }
    guard configuration.accounting == .kernel else { return }
    updateIOVA(domain, iova: iova, size: size, inc: false, chain: chain, context: context)
  }

  /// The corresponding Linux function is `__iommu_debug_unmap_end()`.
  public func debugUnmapEnd(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, removed: [RemovedLeaves], context: CallContext) {
    let chain = CallPath.unmap
    switch configuration.accounting {
    case .kernel:
      if unmapped == size { return }
      if unmapped > size {
        if once(WarningSite.unmapEnd.function) {
          reportLargerUnmap(domain, iova: iova, size: size, unmapped: unmapped, chain: chain, context: context)
        }
        return
      }
      // The unmap stopped short: what is still mapped is counted again.
      updateIOVA(domain, iova: iova.advanced(by: unmapped), size: size - unmapped, inc: true, chain: chain, context: context)
    case .exact:
      for run in removed {
        if run.size == pageSize, run.leafShift == pageShift,
          countOnePage(run.phys.rawValue, delta: -1, domain: domain, iova: run.iova, chain: chain, context: context)
        {
          continue
        }
        addLeaves(phys: run.phys.rawValue, leafShift: run.leafShift, count: run.size >> UInt64(run.leafShift), delta: -1, domain: domain, iova: run.iova, chain: chain, context: context)
      }
      if unmapped > size {
        reportLargerUnmap(domain, iova: iova, size: size, unmapped: unmapped, chain: chain, context: context)
      }
    }
  }

  /// The corresponding Linux function is `__iommu_debug_update_iova()`.
  private func updateIOVA(_ domain: Domain, iova: IOVA, size: UInt64, inc: Bool, chain: CallPath, context: CallContext) {
    let g = domain.granule
    guard withinKernelGranuleLimit(size, domain) else { return }
    var off: UInt64 = 0
    while off < size {
      let p = domain.iovaToPhys(iova.advanced(by: off))
      if p != .zero {
        if inc {
          increment(p.rawValue, domain: domain, iova: iova.advanced(by: off), chain: chain, context: context)
        } else {
          decrement(p.rawValue, domain: domain, iova: iova.advanced(by: off), chain: chain, context: context)
        }
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
      "kernel accounting (emu.accounting=kernel) updates one count per granule, and \(ByteSize.describe(size)) is \(granules) granules of \(ByteSize.describe(domain.granule)): above the emulator's limit of \(limit) (\(ByteSize.describe(limit &* domain.granule))) for one map or unmap; use exact accounting for ranges this large")
    return false
  }

  // MARK: - Counting

  /// The corresponding Linux function is `iommu_debug_inc_page()`.
  private func increment(_ phys: UInt64, domain: Domain, iova: IOVA, chain: CallPath, context: CallContext) {
    let pfn = PFN(phys >> UInt64(pageShift))
    guard machine.memory.hasPageExt(pfn) else { return }
    let v = counts.add(page: pfn.rawValue, 1)
    if v > configuration.mapCountMax || v <= 0 {
      reportCount(.mapCountOverflow, pfn: pfn, count: v, domain: domain, iova: iova, site: WarningSite.incPage, chain: chain, context: context)
    }
  }

  /// The corresponding Linux function is `iommu_debug_dec_page()`.
  private func decrement(_ phys: UInt64, domain: Domain, iova: IOVA, chain: CallPath, context: CallContext) {
    let pfn = PFN(phys >> UInt64(pageShift))
    guard machine.memory.hasPageExt(pfn) else { return }
    let v = counts.add(page: pfn.rawValue, -1)
    if v < 0 {
      reportCount(.mapCountUnderflow, pfn: pfn, count: v, domain: domain, iova: iova, site: WarningSite.decPage, chain: chain, context: context)
    }
  }

  /// Splits a map the way `iommu_pgsize()` does, into runs of equal leaves.
  func forEachLeafRun(domain: Domain, iova: UInt64, phys: UInt64, size: UInt64, _ body: (UInt64, Int, UInt64) -> Void) {
    var done: UInt64 = 0
    while done < size {
      let (pg, n) = iommuPgsize(bitmap: domain.pgsizeBitmap, iova: iova &+ done, paddr: phys &+ done, size: size - done)
      guard pg != 0, n != 0 else { return }
      body(phys &+ done, ByteSize.ffs(pg), n)
      done &+= pg &* n
    }
  }

  /// Exact accounting of one leaf that is exactly one CPU page of the
  /// online range: one atomic add, and the page total only when it may be
  /// out of range. Returns false when the page is not in the one online
  /// range, for `addLeaves` to clip.
  @inline(__always)
  private func countOnePage(_ phys: UInt64, delta: Int64, domain: Domain, iova: IOVA, chain: CallPath, context: CallContext) -> Bool {
    let pfn = phys >> UInt64(pageShift)
    guard let only = onlineRange, only.contains(pfn) else { return false }
    countPages(pfn, pfn + 1, delta: delta, domain: domain, iova: iova, chain: chain, context: context)
    return true
  }

  /// Adds `delta` to every page of `[lo, hi)` (online RAM, one leaf or more
  /// per page) and checks the range when a count may be out of bounds.
  @inline(__always)
  private func countPages(_ lo: UInt64, _ hi: UInt64, delta: Int64, domain: Domain, iova: IOVA, chain: CallPath, context: CallContext) {
    let lowest = hi - lo == 1 ? counts.addPiece(page: lo, delta) : counts.add(pages: lo, hi, delta)
    if counts.mayNeedCheck(lastPiece: lowest) { check(pages: lo, hi, domain: domain, iova: iova, chain: chain, context: context) }
  }

  /// Exact accounting: `count` leaves of `1 << leafShift` bytes at `phys`
  /// add `delta` to every CPU page they overlap, once per leaf. Online RAM
  /// only; a run costs a few radix pieces, not one operation per page.
  func addLeaves(phys: UInt64, leafShift: Int, count n: UInt64, delta: Int64, domain: Domain, iova: IOVA, chain: CallPath, context: CallContext) {
    let ps = UInt64(pageShift)
    let (bytes, o1) = n.multipliedReportingOverflow(by: 1 << UInt64(leafShift))
    let (end, o2) = phys.addingReportingOverflow(bytes)
    guard !o1, !o2, bytes > 0 else { return }
    let firstPage = phys >> ps
    let lastPage = (end - 1) >> ps
    let perPage: Int64 = leafShift >= pageShift ? 1 : Int64(1) << Int64(pageShift - leafShift)
    // Most machines have one online range: clip against it without a loop.
    if perPage == 1, let only = onlineRange, firstPage >= only.lowerBound, lastPage < only.upperBound {
      countPages(firstPage, lastPage + 1, delta: delta, domain: domain, iova: iova, chain: chain, context: context)
      return
    }
    for r in machine.memory.onlineRanges where r.upperBound > firstPage && r.lowerBound <= lastPage {
      let lo = max(firstPage, r.lowerBound)
      let hi = min(lastPage + 1, r.upperBound)
      if perPage == 1 {
        countPages(lo, hi, delta: delta, domain: domain, iova: iova, chain: chain, context: context)
      } else {
        // Sub-page leaves: whole pages get `perPage` each, the ends what they hold.
        func leaves(in p: UInt64) -> Int64 {
          Int64((min(end, (p + 1) << ps) - max(phys, p << ps)) >> UInt64(leafShift))
        }
        var midLo = lo
        var midHi = hi
        if leaves(in: lo) != perPage {
          checkValue(counts.add(page: lo, delta * leaves(in: lo)), pfn: lo, domain: domain, iova: iova, chain: chain, context: context)
          midLo += 1
        }
        if midHi > midLo && leaves(in: midHi - 1) != perPage {
          checkValue(counts.add(page: midHi - 1, delta * leaves(in: midHi - 1)), pfn: midHi - 1, domain: domain, iova: iova, chain: chain, context: context)
          midHi -= 1
        }
        if midLo < midHi {
          counts.add(pages: midLo, midHi, delta * perPage)
          check(pages: midLo, midHi, domain: domain, iova: iova, chain: chain, context: context)
        }
      }
    }
  }

  /// Underflow and overflow checks for exact accounting over a run: the
  /// run's pages changed by the same delta, but their counts differ where
  /// other mappings overlap, so the extremes are taken over the whole run.
  private func check(pages lo: UInt64, _ hi: UInt64, domain: Domain, iova: IOVA, chain: CallPath, context: CallContext) {
    guard let (least, most) = counts.extremes(pages: lo, hi) else { return }
    if least.count < 0 {
      checkValue(least.count, pfn: least.pfn, domain: domain, iova: iova, chain: chain, context: context)
    } else if most.count > configuration.mapCountMax {
      checkValue(most.count, pfn: most.pfn, domain: domain, iova: iova, chain: chain, context: context)
    }
  }

  private func checkValue(_ v: Int64, pfn: UInt64, domain: Domain, iova: IOVA, chain: CallPath, context: CallContext) {
    if v < 0 {
      reportCount(.mapCountUnderflow, pfn: PFN(pfn), count: v, domain: domain, iova: iova, site: WarningSite.decPage, chain: chain, context: context)
    } else if v > configuration.mapCountMax {
      reportCount(.mapCountOverflow, pfn: PFN(pfn), count: v, domain: domain, iova: iova, site: WarningSite.incPage, chain: chain, context: context)
    }
  }

  // MARK: - Reports

  private func reportCount(_ kind: ReportKind, pfn: PFN, count: Int64, domain: Domain, iova: IOVA, site: WarningSite, chain: CallPath, context: CallContext) {
    let outer = kind == .mapCountOverflow ? (configuration.accounting == .kernel ? "__iommu_debug_map" : "iommu_debug_map") : "__iommu_debug_update_iova"
    emit(Report(
      kind: kind,
      headline: kind == .mapCountOverflow
        ? "iommu: map count of pfn \(pfn) passed its maximum (\(configuration.mapCountMax))"
        : "iommu: map count of pfn \(pfn) went below zero: unmapped more than was mapped",
      warningSite: site, callTrace: trace([site.function, outer], chain.frames(context)), statement: nil,
      task: TaskInfo(context.task), pfn: pfn, phys: phys(pfn), iova: iova, domain: domain.name,
      count: count, details: [Detail("accounting", .string(configuration.accounting.rawValue))],
      pageOwner: pageOwner(pfn)))
  }

  private func reportLargerUnmap(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, chain: CallPath, context: CallContext) {
    emit(Report(
      kind: .unmapLargerThanRequested,
      headline: "iommu: unmap of \(size.hexAlt) bytes at iova \(iova) removed \(unmapped.hexAlt) bytes",
      warningSite: WarningSite.unmapEnd, callTrace: trace([WarningSite.unmapEnd.function], chain.frames(context)), statement: nil,
      task: TaskInfo(context.task), iova: iova, domain: domain.name,
      details: [
        Detail("size", .hex(size)), Detail("unmapped", .hex(unmapped)),
        Detail("accounting", .string(configuration.accounting.rawValue)),
        Detail("note", .string(configuration.accounting == .kernel
          ? "kernel accounting adjusts nothing: pages beyond the request keep their counts"
          : "exact accounting released every removed page")),
      ]))
  }

  private func reportOverflow(site: WarningSite, what: String, domain: Domain, iova: IOVA, phys: PhysicalAddress?, size: UInt64, chain: CallPath, context: CallContext) {
    emit(Report(
      kind: .addressOverflow, headline: "iommu: \(what)", warningSite: site,
      callTrace: trace([site.function], chain.frames(context)), statement: nil, task: TaskInfo(context.task),
      phys: phys, iova: iova, domain: domain.name, details: [Detail("size", .hex(size))]))
  }
}

extension Sanitizer: PageAllocatorObserver {
  /// The corresponding Linux function is `__iommu_debug_check_unmapped()`, from `post_alloc_hook()`.
  public func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    checkUnmapped(block, kind: .allocatedWhileMapped, stack: stack, context: context)
  }

  /// The corresponding Linux function is `__iommu_debug_check_unmapped()`, from `free_pages_prepare()`.
  public func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    let leaked = checkUnmapped(block, kind: .freedWhileMapped, stack: stack, context: context)
    checkCachedOnFree(block, use: use, skip: leaked, stack: stack, context: context)
  }

  @discardableResult
  private func checkUnmapped(_ block: PageBlock, kind: ReportKind, stack: [KernelFrame], context: CallContext) -> Set<UInt64> {
    #if IOMMU_DEBUG_PAGEALLOC
      guard configuration.debugPageAlloc else { return [] }
      var leaked: Set<UInt64> = []
      let lo = block.head.rawValue
      for (pfn, count) in counts.nonZero(pages: lo, lo + block.pageCount) {
        leaked.insert(pfn)
        let p = PFN(pfn)
        emit(Report(
          kind: kind, headline: "iommu: Detected page leak!", warningSite: WarningSite.checkUnmapped,
          callTrace: trace([WarningSite.checkUnmapped.function], stack), statement: nil,
          task: TaskInfo(context.task), pfn: p, phys: phys(p), count: count,
          details: [Detail("order", .int(Int64(block.order)))], pageOwner: pageOwner(p)))
      }
      return leaked
    #else
      return []
    #endif
  }
}

/// The kernel call path of a hook, turned into frames only for a report.
enum CallPath {
  case map, unmap
  case frames([KernelFrame])

  func frames(_ context: CallContext) -> [KernelFrame] {
    switch self {
    case .map: context.chain("iommu_map_nosync", "iommu_map")
    case .unmap: context.chain("__iommu_unmap", "iommu_unmap")
    case .frames(let f): f
    }
  }
}
