import KernelTypes
import MemoryModel

/// A decoded page-table entry.
package enum DecodedPTE: Sendable, Hashable {
  case none
  /// A pointer to the next-level table.
  case table(PhysicalAddress, user: Bool, writable: Bool)
  /// A leaf (page or block) mapping `size` bytes at `phys`.
  case leaf(PhysicalAddress, readable: Bool, writable: Bool, user: Bool)
}

/// An I/O (or CPU) page-table format: level geometry, leaf sizes and the
/// bit layout of an entry. Depth 0 is the top level.
package struct PageTableFormat: Sendable, Hashable {
  package enum Layout: Sendable, Hashable {
    /// VT-d second-stage style: bit 0 R, bit 1 W, bit 7 superpage, address bits 12-51.
    case x86IO
    /// x86-64 CPU (and VT-d first-stage) style: bit 0 P, bit 1 R/W, bit 2 U/S, bit 5 A, bit 7 PS.
    case x86CPU
    /// ARM LPAE stage 1: bits 1:0 = 0b11 table/page, 0b01 block; AP[2] (bit 7) read-only; AF bit 10.
    case lpae
  }

  package let layout: Layout
  package let granuleShift: Int
  package let bitsPerLevel: Int
  package let levels: Int
  package let inputBits: Int
  /// The leaf sizes the hardware supports, one bit per size.
  package let pgsizeBitmap: UInt64

  /// x86 4-level tables for VT-d and AMD, with the page sizes of `IOMMUModel.vtd`.
  package static let x86IO = PageTableFormat(
    layout: .x86IO, granuleShift: 12, bitsPerLevel: 9, levels: 4, inputBits: 48,
    pgsizeBitmap: IOMMUModel.vtd.pgsizeBitmap(granule: .size4K))
  /// x86-64 4-level CPU page tables (SVA).
  package static let x86CPU = PageTableFormat(
    layout: .x86CPU, granuleShift: 12, bitsPerLevel: 9, levels: 4, inputBits: 48,
    pgsizeBitmap: (1 << 12) | (1 << 21) | (1 << 30))

  /// ARM LPAE with a 4K, 16K or 64K granule and the block sizes of `IOMMUModel.smmuv3`
  /// (`arm_lpae_restrict_pgsizes()`).
  package static func lpae(granule: PageSize) -> PageTableFormat {
    let bitsPerLevel = granule.shift - 3
    return PageTableFormat(
      layout: .lpae, granuleShift: granule.shift, bitsPerLevel: bitsPerLevel,
      levels: granule == .size64K ? 3 : 4, inputBits: 48,
      pgsizeBitmap: IOMMUModel.smmuv3.pgsizeBitmap(granule: granule))
  }

  /// The address shift of an entry at `depth`.
  @inlinable package func shift(_ depth: Int) -> Int { granuleShift + bitsPerLevel * (levels - 1 - depth) }
  /// Entries in a table at `depth` (the top level may be smaller).
  @inlinable package func entries(_ depth: Int) -> UInt64 {
    depth == 0 ? 1 << UInt64(inputBits - shift(0)) : 1 << UInt64(bitsPerLevel)
  }
  @inlinable package func index(_ iova: UInt64, _ depth: Int) -> UInt64 {
    (iova >> UInt64(shift(depth))) & (entries(depth) - 1)
  }
  /// The bytes a table occupies: a granule (the top level too, as the kernel allocates it).
  package var tableBytes: UInt64 { 1 << UInt64(granuleShift) }
  /// The depth whose entries map `1 << shift` bytes, if any.
  package func depth(forShift s: Int) -> Int? {
    for d in 0..<levels where shift(d) == s { return d }
    return nil
  }
  /// Whether a leaf may sit at `depth`.
  package func leafAllowed(_ depth: Int) -> Bool { pgsizeBitmap & (1 << UInt64(shift(depth))) != 0 }
  /// IOVAs at or above this are out of range.
  package var inputLimit: UInt64 { 1 << UInt64(inputBits) }

  private var addressMask: UInt64 { ((1 << 52) - 1) & ~((1 << UInt64(granuleShift)) - 1) }

  // MARK: - Encoding

  package func encodeTable(_ next: PhysicalAddress) -> UInt64 {
    switch layout {
    case .x86IO: return (next.rawValue & addressMask) | 0b11
    case .x86CPU: return (next.rawValue & addressMask) | 0b111 | (1 << 5)
    case .lpae: return (next.rawValue & addressMask) | 0b11
    }
  }

  package func encodeLeaf(_ phys: PhysicalAddress, depth: Int, readable: Bool, writable: Bool, user: Bool = true)
    -> UInt64
  {
    let last = depth == levels - 1
    switch layout {
    case .x86IO:
      return (phys.rawValue & addressMask) | (readable ? 1 : 0) | (writable ? 2 : 0) | (last ? 0 : 1 << 7)
    case .x86CPU:
      return (phys.rawValue & addressMask) | 1 | (writable ? 2 : 0) | (user ? 4 : 0) | (1 << 5) | (last ? 0 : 1 << 7)
    case .lpae:
      return (phys.rawValue & addressMask) | (last ? 0b11 : 0b01) | (1 << 10) | (writable ? 0 : 1 << 7) | (1 << 6)
    }
  }

  package func decode(_ pte: UInt64, depth: Int) -> DecodedPTE {
    let last = depth == levels - 1
    let addr = PhysicalAddress(pte & addressMask)
    switch layout {
    case .x86IO:
      guard pte & 0b11 != 0 else { return .none }
      if last || pte & (1 << 7) != 0 { return .leaf(addr, readable: pte & 1 != 0, writable: pte & 2 != 0, user: true) }
      return .table(addr, user: true, writable: true)
    case .x86CPU:
      guard pte & 1 != 0 else { return .none }
      if last || pte & (1 << 7) != 0 { return .leaf(addr, readable: true, writable: pte & 2 != 0, user: pte & 4 != 0) }
      return .table(addr, user: pte & 4 != 0, writable: pte & 2 != 0)
    case .lpae:
      switch pte & 0b11 {
      case 0b11:
        return last
          ? .leaf(addr, readable: true, writable: pte & (1 << 7) == 0, user: true)
          : .table(addr, user: true, writable: true)
      case 0b01: return last ? .none : .leaf(addr, readable: true, writable: pte & (1 << 7) == 0, user: true)
      default: return .none
      }
    }
  }
}
