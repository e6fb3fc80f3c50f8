/// The layout of emulated physical memory (`memory SIZE [base=] [page=] [mmio=]... [offline=]...`).
package struct MemoryConfiguration: Sendable, Hashable {
  /// The default base, `0x8000_0000`.
  package static let defaultBase = PhysicalAddress(0x8000_0000)
  /// The largest RAM the emulator accepts unless configured otherwise: 1 TiB.
  package static let defaultMaximumRAM: UInt64 = 1 << 40
  /// The most memory the emulated machine may keep (frames that hold data,
  /// page tables, domains, ...) unless configured otherwise: 1 GiB.
  package static let defaultMaximumResident: UInt64 = 1 << 30
  /// `memory 1G`, the machine of a fixture without a `memory` line.
  package static let defaults = MemoryConfiguration(size: 1 << 30)

  /// The first physical address of RAM (page-aligned).
  package var base: PhysicalAddress
  /// The RAM size in bytes (a non-zero multiple of `page`).
  package var size: UInt64
  /// The CPU page size.
  package var page: PageSize
  /// Device memory: no struct page, never counted. Inclusive ends, in the order written.
  package var mmio: [ClosedRange<UInt64>]
  /// RAM that is offline: a memmap but no page_ext, never allocated. Inclusive ends, in the order written.
  package var offline: [ClosedRange<UInt64>]

  package init(
    size: UInt64, base: PhysicalAddress = MemoryConfiguration.defaultBase, page: PageSize = .size4K,
    mmio: [ClosedRange<UInt64>] = [], offline: [ClosedRange<UInt64>] = []
  ) {
    self.base = base
    self.size = size
    self.page = page
    self.mmio = mmio
    self.offline = offline
  }

  /// The CPU page shift: 12, 14 or 16.
  package var pageShift: Int { page.shift }
  /// The CPU page size in bytes.
  package var pageSize: UInt64 { page.bytes }

  /// RAM frames that are online (not offline, not MMIO), as sorted PFN ranges.
  package func onlineRanges() -> [Range<UInt64>] {
    let first = base.rawValue >> UInt64(pageShift)
    var ranges: [Range<UInt64>] = [first..<(first + (size >> UInt64(pageShift)))]
    for hole in mmio + offline {
      let lo = hole.lowerBound >> UInt64(pageShift)
      let hi = hole.upperBound >> UInt64(pageShift)  // inclusive page
      var next: [Range<UInt64>] = []
      for r in ranges {
        if hi < r.lowerBound || lo >= r.upperBound {
          next.append(r)
          continue
        }
        if lo > r.lowerBound { next.append(r.lowerBound..<lo) }
        if hi &+ 1 < r.upperBound { next.append((hi + 1)..<r.upperBound) }
      }
      ranges = next
    }
    return ranges.sorted { $0.lowerBound < $1.lowerBound }
  }
}
