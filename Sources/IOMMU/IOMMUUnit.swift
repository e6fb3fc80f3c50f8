import KernelTypes
import MemoryModel
import Synchronization

/// Counters a unit keeps for `--stats`.
package struct CacheStats: Sendable, Hashable {
  package var iotlbHits: UInt64 = 0
  package var iotlbMisses: UInt64 = 0
  package var walkCacheHits: UInt64 = 0
  package var walks: UInt64 = 0
  package var walkFaults: UInt64 = 0
  package var iotlbFills: UInt64 = 0
  package var walkCacheFills: UInt64 = 0
  package var iotlbEvictions: UInt64 = 0
  package var walkCacheEvictions: UInt64 = 0
  /// Invalidation commands by hardware name.
  package var invalidations: [String: UInt64] = [:]
  /// Entries dropped by invalidations.
  package var iotlbEntriesInvalidated: UInt64 = 0
  package var walkEntriesInvalidated: UInt64 = 0
}

/// One IOMMU (a DMAR unit, an AMD IOMMU, an SMMUv3) with its leaf IOTLB and
/// paging-structure caches.
package final class IOMMUUnit: Sendable {
  /// What a unit costs before its caches fill: the object and its empty caches.
  static let residentBytes = 2048

  package let name: String
  package let model: IOMMUModel
  package let format: PageTableFormat
  /// Page sizes domains of this unit use (`pgsizes=` may restrict them).
  package let pgsizeBitmap: UInt64
  package let sva: Bool
  /// A virtual AMD IOMMU with NpCache: its table gathers with
  /// `PT_FEAT_FLUSH_RANGE_NO_GAPS` only (amd_iommu_domain_alloc_paging_v1()).
  package let npcache: Bool
  /// Whether the driver fills the IOTLB gather; one that does not flushes
  /// the whole domain in `iotlb_sync` (tegra-smmu).
  package let gathers: Bool

  struct Caches {
    var iotlb: LeafCache
    var walk: WalkCache
    var stats = CacheStats()
  }
  let caches: Mutex<Caches>

  package init(
    name: String, model: IOMMUModel, granule: PageSize = .size4K, pgsizes: UInt64? = nil, iotlbEntries: Int = 256,
    walkCacheEntries: Int = 64, sva: Bool = false, npcache: Bool = false, gathers: Bool = true,
    budget: ResidentBudget? = nil
  ) {
    self.npcache = npcache && model == .amd
    self.gathers = gathers
    self.name = name
    self.model = model
    let format: PageTableFormat = model == .smmuv3 ? .lpae(granule: granule) : .x86IO
    self.format = format
    self.pgsizeBitmap = pgsizes.map { $0 & format.pgsizeBitmap } ?? format.pgsizeBitmap
    self.sva = sva
    self.caches = Mutex(
      Caches(
        iotlb: LeafCache(capacity: iotlbEntries, budget: budget, category: .iotlbEntries),
        walk: WalkCache(capacity: walkCacheEntries, budget: budget)))
  }

  /// Gives back what the cached entries were charged.
  deinit {
    caches.withLock { c in
      c.iotlb.budget?.release(c.iotlb.chargedBytes, .iotlbEntries)
      c.walk.budget?.release(c.walk.chargedBytes, .walkCacheEntries)
    }
  }

  /// The kernel code this model's unmap follows: io-pgtable-arm for SMMUv3;
  /// the generic page table for VT-d (`IOMMU_PT_DOMAIN_OPS(vtdss)`) and AMD
  /// (`IOMMU_PT_DOMAIN_OPS(amdv1)`), as their drivers use it since 6.19.
  package var unmapAlgorithm: UnmapAlgorithm { model == .smmuv3 ? .ioPgtableARM : .genericPT }

  /// The reserved regions dma-iommu keeps out of a DMA domain's IOVA space:
  /// VT-d's IOAPIC/MSI window (`intel_iommu_get_resv_regions()`), AMD's MSI
  /// window and HyperTransport range (`amd_iommu_get_resv_regions()`).
  /// SMMUv3's software MSI window is IOMMU_RESV_SW_MSI, which
  /// `iova_reserve_iommu_regions()` skips ("We ARE the software that manages
  /// these!").
  package var reservedIOVARegions: [ClosedRange<UInt64>] {
    switch model {
    case .vtd: [0xfee0_0000...0xfeef_ffff]
    case .amd: [0xfee0_0000...0xfeef_ffff, 0xfd_0000_0000...0xff_ffff_ffff]
    case .smmuv3: []
    }
  }

  package var stats: CacheStats {
    caches.withLock { c in
      var s = c.stats
      s.iotlbEvictions = c.iotlb.evictions
      s.walkCacheEvictions = c.walk.evictions
      return s
    }
  }

  // MARK: - Invalidation commands, by model

  /// A range invalidation: VT-d page-selective with IH, SMMUv3 TLBI_NH_VA
  /// with Leaf, AMD INVALIDATE_IOMMU_PAGES with PDE.
  package func rangeCommand(domainID: Int, pasid: UInt32?, range: ClosedRange<UInt64>, leafOnly: Bool)
    -> InvalidationCommand
  {
    rangeCommand(domainID: domainID, tag: .some(pasid), range: range, leafOnly: leafOnly)
  }

  /// A range invalidation of every cache tag of a domain (its RID and
  /// every PASID attached to it), as `cache_tag_flush_range()` walks them.
  package func rangeCommand(domainID: Int, range: ClosedRange<UInt64>, leafOnly: Bool) -> InvalidationCommand {
    rangeCommand(domainID: domainID, tag: nil, range: range, leafOnly: leafOnly)
  }

  private func rangeCommand(domainID: Int, tag pasid: UInt32??, range: ClosedRange<UInt64>, leafOnly: Bool)
    -> InvalidationCommand
  {
    let name: String
    switch model {
    case .vtd: name = (pasid.map { $0 != nil } ?? false ? "P_IOTLB PSI" : "IOTLB PSI") + " IH=\(leafOnly ? 1 : 0)"
    case .smmuv3: name = "TLBI_NH_VA Leaf=\(leafOnly ? 1 : 0)"
    case .amd: name = "INVALIDATE_IOMMU_PAGES PDE=\(leafOnly ? 0 : 1)"
    }
    return InvalidationCommand(
      name: name, unit: self.name, target: .iommu(domainID: domainID, pasid: pasid, leafOnly: leafOnly), range: range)
  }

  /// A range invalidation as the driver sends it. SMMUv3 (with
  /// ARM_SMMU_FEAT_RANGE_INV) splits the range into TLBI commands of
  /// `(NUM + 1) << SCALE` pages each, NUM five bits: TG from the domain's
  /// smallest page (`tg = __ffs(pgsize_bitmap)`, encoded `(tg - 10) / 2`),
  /// TTL the level of `granule` for a leaf invalidation (`4 - ((ilog2(granule)
  /// - 3) / (tg - 3))`), 0 for a walk, whose page count, when it is 1 modulo
  /// 32, goes one up so that NUM and SCALE are not both 0. The other models
  /// send one command.
  /// The corresponding Linux function is `__arm_smmu_tlb_inv_range()`.
  package func rangeCommands(
    domainID: Int, pasid: UInt32?? = nil, range: ClosedRange<UInt64>, leafOnly: Bool, granule: UInt64,
    pgsizeBitmap: UInt64
  ) -> [InvalidationCommand] {
    let one = rangeCommand(domainID: domainID, tag: pasid, range: range, leafOnly: leafOnly)
    guard model == .smmuv3, pgsizeBitmap != 0 else { return [one] }
    let tg = ByteSize.ffs(pgsizeBitmap)
    guard tg >= 12, tg <= 16 else { return [one] }
    let (size, wraps) = (range.upperBound - range.lowerBound).addingReportingOverflow(1)
    guard !wraps else { return [one] }
    var numPages = max(1, size >> UInt64(tg))
    var ttl = 0
    if leafOnly {
      let g = ByteSize.isPowerOfTwo(granule) && granule >= 1 << UInt64(tg) ? granule : 1 << UInt64(tg)
      ttl = 4 - ((ByteSize.ffs(g) - 3) / (tg - 3))
    } else if numPages & 31 == 1 {
      numPages += 1
    }
    let prefix = "TLBI_NH_VA Leaf=\(leafOnly ? 1 : 0) TG=\((tg - 10) / 2) TTL=\(ttl)"
    var commands: [InvalidationCommand] = []
    var iova = range.lowerBound
    var left = size
    while left > 0 && numPages > 0 {
      let scale = ByteSize.ffs(numPages)
      let num = (numPages >> UInt64(scale)) & 31
      let span = num << UInt64(scale + tg)
      numPages -= num << UInt64(scale)
      let last = span >= left ? range.upperBound : iova &+ span &- 1
      var c = one
      c.name = prefix + " NUM=\(num - 1) SCALE=\(scale)"
      c.range = iova...last
      commands.append(c)
      if span >= left { break }
      left -= span
      iova &+= span
    }
    return commands
  }

  /// Everything of one domain (leaf and non-leaf).
  package func domainCommand(domainID: Int, pasid: UInt32?? = nil) -> InvalidationCommand {
    let name: String
    let withPASID = pasid.map { $0 != nil } ?? false
    switch model {
    case .vtd: name = withPASID ? "P_IOTLB PASID" : "IOTLB DSI"
    case .smmuv3: name = "TLBI_NH_ASID"
    case .amd: name = "INVALIDATE_IOMMU_PAGES S=1 PDE=1"
    }
    return InvalidationCommand(
      name: name, unit: self.name, target: .iommu(domainID: domainID, pasid: pasid ?? nil, leafOnly: false), range: nil)
  }

  /// Everything the unit caches.
  package func globalCommand() -> InvalidationCommand {
    let name: String
    switch model {
    case .vtd: name = "IOTLB GLOBAL"
    case .smmuv3: name = "TLBI_NSNH_ALL"
    case .amd: name = "INVALIDATE_IOMMU_ALL"
    }
    return InvalidationCommand(
      name: name, unit: self.name, target: .iommu(domainID: nil, pasid: nil, leafOnly: false), range: nil)
  }

  /// An ATC invalidation for a device: VT-d device-TLB, SMMUv3
  /// CMD_ATC_INV, AMD INVALIDATE_IOTLB_PAGES.
  package func atcCommand(device: String, pasid: UInt32?, range: ClosedRange<UInt64>?, allPASIDs: Bool = false)
    -> InvalidationCommand
  {
    let name: String
    switch model {
    case .vtd: name = pasid == nil ? "DEV_TLB" : "DEV_PIOTLB"
    case .smmuv3: name = "CMD_ATC_INV"
    case .amd: name = "INVALIDATE_IOTLB_PAGES"
    }
    return InvalidationCommand(
      name: name, unit: self.name, target: .atc(device: device, pasid: allPASIDs ? nil : .some(pasid)), range: range)
  }

  /// The wait that completes a batch: VT-d wait descriptor, CMD_SYNC, COMPLETION_WAIT.
  var syncCommandName: String {
    switch model {
    case .vtd: "INV_WAIT"
    case .smmuv3: "CMD_SYNC"
    case .amd: "COMPLETION_WAIT"
    }
  }

  /// Applies an IOMMU-side command to the caches. Returns (leaf, walk) entries dropped.
  @discardableResult
  func apply(_ cmd: InvalidationCommand) -> (Int, Int) {
    guard case .iommu(let did, let pasid, let leafOnly) = cmd.target else { return (0, 0) }
    let lo = cmd.range?.lowerBound ?? 0
    let hi = cmd.range?.upperBound ?? .max
    return caches.withLock { c in
      c.stats.invalidations[cmd.name, default: 0] += 1
      let l = c.iotlb.invalidate(domainID: did, pasid: pasid, start: lo, end: hi)
      let w = leafOnly ? 0 : c.walk.invalidate(domainID: did, pasid: pasid, start: lo, end: hi)
      c.stats.iotlbEntriesInvalidated += UInt64(l)
      c.stats.walkEntriesInvalidated += UInt64(w)
      return (l, w)
    }
  }

  func count(_ name: String) {
    caches.withLock { $0.stats.invalidations[name, default: 0] += 1 }
  }

  /// IOTLB entries that can still reach the page at `phys`.
  package func iotlbEntries(reaching phys: PhysicalAddress) -> [LeafEntry] {
    caches.withLock { $0.iotlb.reaching(phys.rawValue) }
  }

  /// Walk-cache entries pointing into `[phys, phys+length)`.
  package func walkEntries(pointingInto phys: PhysicalAddress, length: UInt64) -> [WalkEntry] {
    caches.withLock { $0.walk.pointing(into: phys.rawValue, length: length) }
  }

  package var cachedEntryCounts: (iotlb: Int, walk: Int) { caches.withLock { ($0.iotlb.count, $0.walk.count) } }
}
