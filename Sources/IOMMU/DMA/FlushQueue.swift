import MemoryModel

/// The lazy-mode flush queue of dma-iommu: unmapped IOVAs and their freed
/// table pages wait here until an IOTLB flush that started after they were
/// queued has finished.
/// The corresponding Linux structure is `struct iova_fq`.
struct FlushQueue {
  /// `IOVA_DEFAULT_FQ_SIZE`.
  static let capacity = 256
  /// `IOVA_DEFAULT_FQ_TIMEOUT`, 10 ms.
  static let timeoutNS: UInt64 = 10_000_000

  struct Entry {
    var iovaPFN: UInt64
    var iova: UInt64
    var size: UInt64
    var freelist: [PageBlock]
    /// `fq_flush_start_cnt` when queued.
    var counter: UInt64
  }
  var entries: [Entry] = []
  var flushStartCount: UInt64 = 0
  var flushFinishCount: UInt64 = 0
  /// The armed timer's deadline, if any.
  var timerDeadline: UInt64?

  /// What an entry costs while queued: its slot in the queue's array (at
  /// the array's lowest load) and its freelist of table pages.
  /// Charged by `queue_iova()`, given back when the entry is released.
  static func residentBytes(_ e: Entry) -> Int { 96 + (e.freelist.isEmpty ? 0 : 32 + 16 * e.freelist.count) }

  /// The bytes charged for the entries queued now.
  var chargedBytes: Int { entries.reduce(0) { $0 + Self.residentBytes($1) } }

  /// The ring keeps one slot free, as `fq_full()` does: 255 entries fill it.
  var isFull: Bool { entries.count >= Self.capacity - 1 }

  /// Entries whose flush has completed: release them (`fq_ring_free()`).
  mutating func takeReleasable() -> [Entry] {
    let done = entries.filter { $0.counter < flushFinishCount }
    entries.removeAll { $0.counter < flushFinishCount }
    return done
  }

  /// Whether `iova` is inside an entry that still waits for its flush.
  func isPending(_ iova: UInt64) -> Bool {
    entries.contains { iova >= $0.iova && iova - $0.iova < $0.size }
  }
}
