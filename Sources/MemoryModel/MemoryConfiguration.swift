/// The layout of emulated physical memory (`memory SIZE base= page= mmio= offline=`).
public struct MemoryConfiguration: Sendable, Hashable {
  /// The largest RAM the emulator accepts unless configured otherwise: 1 TiB.
  public static let defaultMaximumRAM: UInt64 = 1 << 40
  /// The most emulated memory that may hold data (and so costs real
  /// memory) unless configured otherwise: 1 GiB.
  public static let defaultMaximumResident: UInt64 = 1 << 30

  public var base: PhysicalAddress
  public var size: UInt64
  /// CPU page shift: 12, 14 or 16.
  public var pageShift: Int
  /// Device memory: no struct page, never counted. Inclusive ends.
  public var mmio: [ClosedRange<UInt64>]
  /// RAM that is offline: a memmap but no page_ext, never allocated. Inclusive ends.
  public var offline: [ClosedRange<UInt64>]

  public init(
    base: PhysicalAddress = PhysicalAddress(0x8000_0000), size: UInt64 = 1 << 30, pageShift: Int = 12,
    mmio: [ClosedRange<UInt64>] = [], offline: [ClosedRange<UInt64>] = []
  ) {
    self.base = base
    self.size = size
    self.pageShift = pageShift
    self.mmio = mmio
    self.offline = offline
  }

  public var pageSize: UInt64 { 1 << UInt64(pageShift) }

  /// Checks the layout: sizes, alignment and wrap-around.
  public func validate(maximumRAM: UInt64 = defaultMaximumRAM) -> MachineError? {
    guard [12, 14, 16].contains(pageShift) else { return MachineError(.EINVAL, "page size must be 4K, 16K or 64K") }
    guard size > 0 else { return MachineError(.EINVAL, "memory size is 0") }
    guard size <= maximumRAM else {
      return MachineError(.E2BIG, "memory \(ByteSize.describe(size)) exceeds the limit of \(ByteSize.describe(maximumRAM))")
    }
    guard size % pageSize == 0 else { return MachineError(.EINVAL, "memory size is not a multiple of the page size") }
    guard base.rawValue % pageSize == 0 else { return MachineError(.EINVAL, "memory base is not page aligned") }
    guard base.adding(size) != nil, base.rawValue &+ size <= (1 << 52) else {
      return MachineError(.ERANGE, "memory base+size exceeds the 52-bit physical address space")
    }
    return nil
  }

  /// RAM frames that are online (not offline, not MMIO), as sorted PFN ranges.
  public func onlineRanges() -> [Range<UInt64>] {
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
