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
      guard !o, recordEnd > at else { return removed }
      at = recordEnd
    }
    return removed
  }

  /// Forgets every record of a domain.
  mutating func removeDomain(_ domain: Int) {
    for key in records.keys where key.domain == domain { remove(key) }
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
