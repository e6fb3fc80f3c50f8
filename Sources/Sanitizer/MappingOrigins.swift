import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// Where each IOMMU mapping was made: one record per `iommu_map()` call
/// (the `trace_map()` hook), found again by physical address when a report
/// names a page. The page tables stay the truth: a record only names a
/// candidate, and `Sanitizer.liveMappings(of:)` keeps those whose IOVA
/// still translates to the page, so a stale record can never be reported.
///
/// Records leave when an unmap starting at their IOVA covers them, when a
/// later map starts at the same IOVA of the same domain, and when their
/// domain is freed. Partial unmaps can leave a record behind until then.
///
/// For the invalidations in pages' histories, records are also found by
/// IOVA (`overlapping`): live ones through a per-domain index of 2 MiB IOVA
/// buckets, and the last `recentPerDomain` records each domain's unmaps
/// removed, whose IOTLB entries the next invalidations flush.
struct MappingOrigins {
  struct Key: Hashable {
    var domain: Int
    var iova: UInt64
  }

  struct Record {
    var phys: UInt64
    var size: UInt64
    var origin: Int
  }

  /// Who made a mapping: the statement's frame and the kernel path.
  struct Origin: Hashable {
    var caller: KernelFrame
    var statementIndex: Int
    var path: [String]
  }

  /// Physical addresses are indexed in 2 MiB buckets; a record that spans
  /// more than `wideBuckets` of them is kept in `wide` instead.
  static let bucketShift: UInt64 = 21
  static let wideBuckets: UInt64 = 512

  /// Where records are charged (`mappingOrigins`; nil: nowhere). A record
  /// the budget refuses is not kept.
  let budget: ResidentBudget?
  /// What a record costs: its dictionary slot and its key in a bucket.
  static let recordBytes = 160

  private var records: [Key: Record] = [:]
  private var buckets: [UInt64: [Key]] = [:]
  private var wide: Set<Key> = []
  private var origins: [Origin] = []
  private var originIndex: [Origin: Int] = [:]
  /// Live records by domain and IOVA bucket (`bucketShift`); records wider
  /// than `wideBuckets` buckets in `wideIOVA`.
  private var iovaBuckets: [Int: [UInt64: [UInt64]]] = [:]
  private var wideIOVA: [Int: Set<UInt64>] = [:]
  private var liveCount: [Int: Int] = [:]
  /// The records unmaps removed, per domain, oldest first.
  private var recent: [Int: [Span]] = [:]

  /// A mapping's IOVA range and the physical address it mapped.
  struct Span: Equatable {
    var iova: UInt64
    var phys: UInt64
    var size: UInt64
  }

  static let recentPerDomain = 64
  /// A domain-wide (or wider) query looks at the live records of a domain
  /// only when it has at most this many (the cost stays bounded).
  static let maximumLiveScan = 1024

  init(budget: ResidentBudget? = nil) { self.budget = budget }

  var count: Int { records.count }
  /// The bytes charged for the records kept now.
  var chargedBytes: Int { budget == nil ? 0 : records.count * Self.recordBytes }

  mutating func insert(domain: Int, iova: UInt64, phys: UInt64, size: UInt64, origin: Origin) {
    let key = Key(domain: domain, iova: iova)
    remove(key)
    if let budget, !budget.charge(Self.recordBytes, .mappingOrigins) { return }
    let index: Int
    if let i = originIndex[origin] {
      index = i
    } else {
      index = origins.count
      origins.append(origin)
      originIndex[origin] = index
    }
    records[key] = Record(phys: phys, size: size, origin: index)
    let (first, last) = Self.buckets(phys: phys, size: size)
    if last - first >= Self.wideBuckets {
      wide.insert(key)
    } else {
      for b in first...last { buckets[b, default: []].append(key) }
    }
    let (i0, i1) = Self.buckets(phys: iova, size: size)
    if i1 - i0 >= Self.wideBuckets {
      wideIOVA[domain, default: []].insert(iova)
    } else {
      var byBucket = iovaBuckets.removeValue(forKey: domain) ?? [:]
      for b in i0...i1 { byBucket[b, default: []].append(iova) }
      iovaBuckets[domain] = byBucket
    }
    liveCount[domain, default: 0] += 1
  }

  /// Forgets the records an unmap of `[iova, iova + size)` removed: those
  /// that start at `iova` and follow one another inside the range.
  @discardableResult
  mutating func removeCovered(domain: Int, iova: UInt64, size: UInt64) -> [(iova: UInt64, phys: UInt64, size: UInt64)] {
    var removed: [(iova: UInt64, phys: UInt64, size: UInt64)] = []
    guard size > 0 else { return removed }
    let end = iova.addingReportingOverflow(size)
    var at = iova
    while let r = records[Key(domain: domain, iova: at)] {
      let (recordEnd, o) = at.addingReportingOverflow(r.size)
      guard o || end.overflow || recordEnd <= end.partialValue else { return removed }
      remove(Key(domain: domain, iova: at))
      removed.append((at, r.phys, r.size))
      // A mapping made and unmapped again (a ring's buffer) is kept once, as its latest unmap.
      let span = Span(iova: at, phys: r.phys, size: r.size)
      recent[domain, default: []].removeAll { $0 == span }
      recent[domain, default: []].append(span)
      if let n = recent[domain]?.count, n > Self.recentPerDomain {
        recent[domain]?.removeFirst(n - Self.recentPerDomain)
      }
      guard !o, recordEnd > at else { return removed }
      at = recordEnd
    }
    return removed
  }

  /// Forgets every record of a domain.
  mutating func removeDomain(_ domain: Int) {
    for key in records.keys where key.domain == domain { remove(key) }
    recent[domain] = nil
  }

  /// The live and recently unmapped mappings of `domain` (every domain when
  /// nil) that overlap `range` (every IOVA when nil), each clipped to the
  /// range, by domain and IOVA. A domain with more than `maximumLiveScan`
  /// live records contributes only its recent ones to an unranged query.
  func overlapping(domain: Int?, range: ClosedRange<UInt64>?) -> [(domain: Int, span: Span)] {
    let domains = domain.map { [$0] } ?? Set(liveCount.keys).union(recent.keys).sorted()
    var out: [(domain: Int, span: Span)] = []
    for d in domains {
      var spans: [Span] = []
      for r in recent[d] ?? [] { if let c = Self.clip(r, to: range), !spans.contains(c) { spans.append(c) } }
      var starts: [UInt64] = wideIOVA[d].map { Array($0) } ?? []
      if let byBucket = iovaBuckets[d] {
        if let range, (range.upperBound >> Self.bucketShift) - (range.lowerBound >> Self.bucketShift) < 4096 {
          for b in (range.lowerBound >> Self.bucketShift)...(range.upperBound >> Self.bucketShift) {
            if let list = byBucket[b] { starts += list }
          }
        } else if liveCount[d, default: 0] <= Self.maximumLiveScan {
          for list in byBucket.values { starts += list }
        }
      }
      if starts.count > 1 { starts = Array(Set(starts)).sorted() }
      for iova in starts {
        guard let r = records[Key(domain: d, iova: iova)],
          let c = Self.clip(Span(iova: iova, phys: r.phys, size: r.size), to: range), !spans.contains(c)
        else { continue }
        spans.append(c)
      }
      out += spans.sorted { ($0.iova, $0.phys) < ($1.iova, $1.phys) }.map { (d, $0) }
    }
    return out
  }

  /// The part of `span` inside `range`, or nil when they do not overlap.
  static func clip(_ span: Span, to range: ClosedRange<UInt64>?) -> Span? {
    guard span.size > 0 else { return nil }
    let (end, o) = span.iova.addingReportingOverflow(span.size - 1)
    let last = o ? UInt64.max : end
    guard let range else { return span }
    let lo = max(span.iova, range.lowerBound)
    let hi = min(last, range.upperBound)
    guard lo <= hi else { return nil }
    return Span(iova: lo, phys: span.phys &+ (lo - span.iova), size: (hi - lo) &+ 1)
  }

  /// The records whose physical range holds `phys`, in a fixed order.
  func covering(_ phys: UInt64) -> [(key: Key, record: Record, origin: Origin)] {
    var keys = buckets[phys >> Self.bucketShift] ?? []
    keys += wide
    var out: [(key: Key, record: Record, origin: Origin)] = []
    for key in keys {
      guard let r = records[key], phys >= r.phys, phys - r.phys < r.size else { continue }
      out.append((key, r, origins[r.origin]))
    }
    return out.sorted { ($0.key.domain, $0.key.iova) < ($1.key.domain, $1.key.iova) }
  }

  private mutating func remove(_ key: Key) {
    guard let r = records.removeValue(forKey: key) else { return }
    budget?.release(Self.recordBytes, .mappingOrigins)
    let d = key.domain
    liveCount[d, default: 1] -= 1
    if liveCount[d] == 0 { liveCount[d] = nil }
    if wideIOVA[d]?.remove(key.iova) != nil {
      if wideIOVA[d]?.isEmpty == true { wideIOVA[d] = nil }
    } else if var byBucket = iovaBuckets.removeValue(forKey: d) {
      let (i0, i1) = Self.buckets(phys: key.iova, size: r.size)
      for b in i0...i1 {
        guard var list = byBucket.removeValue(forKey: b) else { continue }
        list.removeAll { $0 == key.iova }
        if !list.isEmpty { byBucket[b] = list }
      }
      if !byBucket.isEmpty { iovaBuckets[d] = byBucket }
    }
    if wide.remove(key) != nil { return }
    let (first, last) = Self.buckets(phys: r.phys, size: r.size)
    for b in first...last {
      buckets[b]?.removeAll { $0 == key }
      if buckets[b]?.isEmpty == true { buckets[b] = nil }
    }
  }

  private static func buckets(phys: UInt64, size: UInt64) -> (UInt64, UInt64) {
    let last = phys.addingReportingOverflow(max(size, 1) - 1)
    return (phys >> bucketShift, (last.overflow ? .max : last.partialValue) >> bucketShift)
  }
}
