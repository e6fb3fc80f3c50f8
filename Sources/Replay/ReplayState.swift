import KernelTypes

/// The replay engine's records.

/// An address space the trace's map and unmap events are sorted into.
/// A trace names no domain, so spaces are told apart by the device of the
/// `dma:` events next to a map or unmap (or the device's IOMMU group, when
/// `add_device_to_group` was traced); maps with no such neighbour go to an
/// unattributed space, and to a further one when they overlap a live IOVA
/// there (a real IOMMU domain never maps one IOVA twice).
///
/// A space is a few words: its name is derived (`TraceReplayer.spaceName`)
/// and its index of live pieces exists only while it maps something (an
/// emptied space gives it back, to a small pool of spares). Released records
/// keep naming the space by its number, so a space is never renumbered;
/// 150,000 devices that each map and unmap once keep 150,000 of these
/// (24 bytes each) and no index.
struct AddressSpace {
  enum Kind: UInt8 { case unattributed, device, group }
  let kind: Kind
  /// Device spaces: the device. Unattributed spaces: the ordinal (1, 2, ...).
  let device: Int32
  /// Group spaces: the IOMMU group.
  let group: Int64
  /// The live pieces, by IOVA; nil while the space maps nothing.
  var live: IntervalIndex?

  init(kind: Kind, device: Int32 = -1, group: Int64 = 0) {
    self.kind = kind
    self.device = device
    self.group = group
  }
}

/// A live mapping piece: `[iova, last]` → `paddr`.
struct Mapping {
  var iova: UInt64
  var last: UInt64
  var paddr: UInt64
  var space: Int32
  var slot: Int32 = -1
  /// Slot in `TraceReplayer.allLive`, the index of every space's pieces.
  var globalSlot: Int32 = -1
  /// Slot in the physical index, for mappings too large to count page by page.
  var physSlot: Int32 = -1
  var line: Int
  var ts: TraceTimestamp
  var pid: Int32
  var dmaLine = 0
  var dmaTS = TraceTimestamp.zero
  var dmaType = TraceEventType.other
  var live = true

  var isLarge: Bool { physSlot >= 0 }
}

/// An IOVA range that a traced unmap released, remembered for
/// `fault-after-unmap` in a ring of `ReplayOptions.releasedHistory` records.
/// A later map of the range does not erase it: a fault is matched to the
/// latest release of its IOVA in a space where the IOVA is not live again.
struct Released {
  var iova: UInt64
  var last: UInt64
  var paddr: UInt64
  var hasPaddr: Bool
  var space: Int32
  var mapLine = 0
  var mapTS = TraceTimestamp.zero
  var dmaMapLine = 0
  var dmaMapTS = TraceTimestamp.zero
  var dmaMapType = TraceEventType.other
  var unmapLine: Int
  var unmapTS: TraceTimestamp
  var releaseLine = 0
  var releaseTS = TraceTimestamp.zero
  var releaseType = TraceEventType.other
  var releaseDevice: Int32 = -1
  var pageFreeLine = 0
  var pageFreeTS = TraceTimestamp.zero
  var live = true
  var marked = false
  /// Slot in `TraceReplayer.releasedIndex` while live.
  var indexSlot: Int32 = -1
}

/// A `dma:` release event waiting for the unmap that follows it on its CPU
/// (`dma_free`, `dma_unmap_sg` and `dma_free_pages` trace before the IOMMU
/// unmap), or naming the unmap just before it (`dma_unmap_page`, `_resource`).
struct DMARelease {
  var device: Int32
  var lo: UInt64
  var hi: UInt64
  var line: Int
  var ts: TraceTimestamp
  var type: TraceEventType

  func overlaps(_ start: UInt64, _ last: UInt64) -> Bool { lo <= last && start <= hi }
}

/// An unmap whose address space was ambiguous, waiting for a `dma:` event on
/// the same CPU to name its device.
struct PendingUnmap {
  var start: UInt64
  var last: UInt64
  var line: Int
  var ts: TraceTimestamp
  var pid: Int32
}

/// What replay remembers per traced CPU.
struct CPUState {
  /// Maps on this CPU since its last other event: a `dma:` map event that
  /// follows names their device.
  var recentMaps: [RecentMap] = []
  var pendingUnmap: PendingUnmap?
  /// The pending unmap's slot in `TraceReplayer.pendingIndex`.
  var pendingSlot: Int32 = -1
  var preRelease: DMARelease?
  /// Released records the previous event on this CPU (an unmap) created.
  var lastReleased: [Int] = []
}

/// One address space that an unmap's range overlaps, and how well.
struct Candidate {
  var space: Int32
  var bytes: UInt64
  var exact: Bool
  var latestLine: Int
}

/// An IOVA range `[start, last]`, the key of the candidate cache
/// (`TraceReplayer.candidateCacheIndex`).
struct CandidateRange: Hashable {
  var start: UInt64
  var last: UInt64
}

/// A map on a CPU that a following `dma:` map event may attribute.
struct RecentMap {
  var id: Int32
  var line: Int
}

/// A page a check found mapped: its IOMMU map count and a mapping that
/// counts it, and the DMA-API entries that cover it and the first of them.
struct PageHit {
  var pfn: UInt64
  var count: Int64 = 0
  var owner: Int32 = -1
  var dmaCount: Int64 = 0
  var dmaEntry: Int32 = -1
}

/// Device names by their bytes: 64 slots, each the exact bytes of a name
/// (up to 64) and its device id. A slot is verified byte for byte, so a
/// collision only costs the dictionary lookup it replaces.
final class DeviceCache {
  static let slots = 64
  static let maxName = 64
  private let bytes = UnsafeMutablePointer<UInt8>.allocate(capacity: DeviceCache.slots * DeviceCache.maxName)
  private let lengths = UnsafeMutablePointer<Int>.allocate(capacity: DeviceCache.slots)
  private let ids = UnsafeMutablePointer<Int32>.allocate(capacity: DeviceCache.slots)

  init() {
    lengths.initialize(repeating: -1, count: Self.slots)
    ids.initialize(repeating: -1, count: Self.slots)
    bytes.initialize(repeating: 0, count: Self.slots * Self.maxName)
  }

  deinit {
    bytes.deallocate()
    lengths.deallocate()
    ids.deallocate()
  }

  @inline(__always) func lookup(_ slot: Int, _ name: UnsafePointer<UInt8>, _ length: Int) -> Int32? {
    guard lengths[slot] == length else { return nil }
    let stored = bytes + slot * Self.maxName
    for k in 0..<length where stored[k] != name[k] { return nil }
    return ids[slot]
  }

  func store(_ slot: Int, _ name: UnsafePointer<UInt8>, _ length: Int, _ id: Int32) {
    guard length <= Self.maxName else { return }
    (bytes + slot * Self.maxName).update(from: name, count: length)
    lengths[slot] = length
    ids[slot] = id
  }
}

/// The IOTLB flushes a VT-d trace shows (`intel_iommu:cache_tag_flush_range`,
/// `_range_np`, `_all`), for the verdict "unmap never followed by an IOTLB
/// sync". It answers one question in O(1): was IOVA page `x` flushed after
/// line `L`? The last flush line of each 4 KiB IOVA page of small ranges (up
/// to `maxPagesPerRange` pages) is kept for the last `capacity` pages
/// flushed; a larger range, a `cache_tag_flush_all`, or a page evicted from
/// the history count as flushing everything before them, so the answer errs
/// only towards "synced" and the verdict is never claimed without evidence.
/// Pages are not told apart by domain: a flush of the same IOVA in any domain
/// counts (again erring towards "synced").
final class FlushLog {
  static let maxPagesPerRange: UInt64 = 64
  static let capacity = 65_536
  /// IOVA page → slot in the ring.
  private let pages = U64Table(capacity: 1024)
  @exclusivity(unchecked) private var ringPage: [UInt64] = []
  @exclusivity(unchecked) private var ringLine: [Int] = []
  @exclusivity(unchecked) private var head = 0
  /// Everything unmapped before this line counts as flushed (flush_all, a large range, an eviction).
  @exclusivity(unchecked) private(set) var everythingBefore = 0
  /// The first flush event's line (0: the trace has none).
  @exclusivity(unchecked) private(set) var firstLine = 0

  /// A flush of the IOVA range `[start, last]` at `line`.
  func flush(start: UInt64, last: UInt64, line: Int) {
    if firstLine == 0 { firstLine = line }
    guard start <= last, (last >> 12) - (start >> 12) < Self.maxPagesPerRange else {
      everythingBefore = line
      return
    }
    var p = start >> 12
    while true {
      record(p, line)
      if p == last >> 12 { break }
      p += 1
    }
  }

  /// A `cache_tag_flush_all` (the flush queue's `flush_iotlb_all`) at `line`.
  func flushAll(line: Int) {
    if firstLine == 0 { firstLine = line }
    everythingBefore = line
  }

  private func record(_ page: UInt64, _ line: Int) {
    if let (slot, _) = pages.get(page) {
      ringLine[Int(slot)] = line
      return
    }
    let slot: Int
    if ringPage.count < Self.capacity {
      slot = ringPage.count
      ringPage.append(page)
      ringLine.append(line)
    } else {
      slot = head
      head = (head + 1) % Self.capacity
      let old = ringPage[slot]
      if let (s, _) = pages.get(old), Int(s) == slot { pages.remove(old) }
      // What that page's flush showed is forgotten: count it as a flush of everything.
      everythingBefore = max(everythingBefore, ringLine[slot])
      ringPage[slot] = page
      ringLine[slot] = line
    }
    pages.set(page, Int32(slot), 0)
  }

  /// The line of a flush of IOVA `iova` after line `after`, if any (the
  /// first line that counts); nil when there was none.
  func flushed(_ iova: UInt64, after: Int) -> Int? {
    if let (slot, _) = pages.get(iova >> 12), ringLine[Int(slot)] > after { return ringLine[Int(slot)] }
    return everythingBefore > after ? everythingBefore : nil
  }
}
