import Synchronization

/// What the emulator keeps for a machine, by kind, for the resident budget.
package enum ResidentCategory: Int, CaseIterable, Sendable {
  /// 4 KiB frames of emulated memory that hold data (written pages, page tables).
  case frames
  /// The allocator's page records (owner, stacks), one per block ever allocated.
  case pageRecords
  /// Per table page of an I/O or CPU page table: depth and the leaves' epochs.
  case pageTableMetadata
  case domains
  case devices
  /// IOMMU units with their caches' fixed parts.
  case units
  /// Leaf IOTLB entries of the units.
  case iotlbEntries
  /// Paging-structure (walk) cache entries of the units.
  case walkCacheEntries
  /// Address translation cache entries of ATS devices.
  case atcEntries
  /// Node slots of the IOVA allocators' trees (`struct iova`).
  case iovaNodes
  /// Magazines of the IOVA range caches (`struct iova_magazine`).
  case iovaMagazines
  /// dma-iommu's records of live DMA mappings.
  case dmaMappings
  /// Entries of the lazy flush queues (`struct iova_fq_entry`).
  case flushQueueEntries
  /// Records of live kmalloc objects and the slabs' freelists.
  case slabObjects
  /// The sanitizer's DMA-API debug entries (`struct dma_debug_entry`).
  case dmaDebugEntries
  /// The sanitizer's map-count sections (its page_ext counts).
  case mapCountSections
  /// The sanitizer's record of where each live mapping was made.
  case mappingOrigins
  /// The sanitizer's page histories (the events reports show).
  case pageHistory

  /// How the limit error names it.
  package var label: String {
    switch self {
    case .frames: "memory frames"
    case .pageRecords: "page records"
    case .pageTableMetadata: "page-table metadata"
    case .domains: "domains"
    case .devices: "devices"
    case .units: "IOMMU units"
    case .iotlbEntries: "IOTLB entries"
    case .walkCacheEntries: "walk-cache entries"
    case .atcEntries: "ATC entries"
    case .iovaNodes: "IOVA nodes"
    case .iovaMagazines: "IOVA magazines"
    case .dmaMappings: "DMA mappings"
    case .flushQueueEntries: "flush-queue entries"
    case .slabObjects: "kmalloc objects"
    case .dmaDebugEntries: "DMA-API debug entries"
    case .mapCountSections: "map-count sections"
    case .mappingOrigins: "mapping origins"
    case .pageHistory: "page history"
    }
  }
}

/// The one account of the real memory a machine uses (`--max-resident`).
/// Every structure that grows with input charges its own estimate of its
/// size here before it grows, and releases it when it shrinks; a charge past
/// the limit is refused and sets `limitReached`, the structure does not grow
/// (a page allocation fails with ENOMEM, a write is dropped) and the runner
/// stops the fixture with an error listing `usage`. Charged sizes are the
/// emulator's estimates, not samples of the process's RSS, so the error is
/// the same on every run.
package final class ResidentBudget: Sendable {
  /// The most bytes that may be charged (`.max`: no limit).
  package let limit: UInt64
  private let total = Atomic<UInt64>(0)
  private let peakBytes = Atomic<UInt64>(0)
  private let hit = Atomic<Bool>(false)
  private let byCategory: InlineArray<18, Atomic<UInt64>> = InlineArray { _ in Atomic(0) }

  package init(limit: UInt64 = .max) { self.limit = limit }

  /// Charges `bytes` to `category`; false (nothing charged, `limitReached`
  /// set) when the total would pass the limit.
  @discardableResult
  package func charge(_ bytes: Int, _ category: ResidentCategory) -> Bool {
    guard bytes > 0 else { return true }
    let b = UInt64(bytes)
    let new = total.wrappingAdd(b, ordering: .relaxed).newValue
    if new > limit || new < b {
      total.wrappingSubtract(b, ordering: .relaxed)
      hit.store(true, ordering: .relaxed)
      return false
    }
    byCategory[category.rawValue].wrappingAdd(b, ordering: .relaxed)
    peakBytes.max(new, ordering: .relaxed)
    return true
  }

  /// Gives back what `charge` took.
  package func release(_ bytes: Int, _ category: ResidentCategory) {
    guard bytes > 0 else { return }
    byCategory[category.rawValue].wrappingSubtract(UInt64(bytes), ordering: .relaxed)
    total.wrappingSubtract(UInt64(bytes), ordering: .relaxed)
  }

  /// Whether a charge was refused: the machine no longer did all it was asked.
  package var limitReached: Bool { hit.load(ordering: .relaxed) }
  /// The bytes charged now.
  package var used: UInt64 { total.load(ordering: .relaxed) }
  /// The most bytes ever charged at once (never above `limit`).
  package var peak: UInt64 { peakBytes.load(ordering: .relaxed) }
  /// The bytes charged now to `category`.
  package func used(_ category: ResidentCategory) -> UInt64 {
    byCategory[category.rawValue].load(ordering: .relaxed)
  }

  /// The categories in use, largest first (ties in declaration order):
  /// `memory frames 812K, domains 190K`.
  package var usageDescription: String {
    var parts: [(category: ResidentCategory, bytes: UInt64)] = []
    for c in ResidentCategory.allCases where used(c) > 0 { parts.append((c, used(c))) }
    parts.sort { a, b in a.bytes != b.bytes ? a.bytes > b.bytes : a.category.rawValue < b.category.rawValue }
    guard !parts.isEmpty else { return "nothing charged" }
    return parts.map { p in "\(p.category.label) \(Self.describe(p.bytes))" }.joined(separator: ", ")
  }

  /// Bytes in the largest unit they reach, rounded down, with one decimal
  /// below 10 of it: `812K`, `1.9M`, `2K`, `480B`.
  static func describe(_ bytes: UInt64) -> String {
    for (shift, suffix) in [(30, "G"), (20, "M"), (10, "K")] where bytes >= 1 << UInt64(shift) {
      let whole = bytes >> UInt64(shift)
      let tenths = ((bytes - (whole << UInt64(shift))) * 10) >> UInt64(shift)
      return whole < 10 && tenths > 0 ? "\(whole).\(tenths)\(suffix)" : "\(whole)\(suffix)"
    }
    return "\(bytes)B"
  }
}
