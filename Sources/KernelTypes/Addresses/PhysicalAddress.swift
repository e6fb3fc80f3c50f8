/// A CPU physical address (the kernel's `phys_addr_t`).
package struct PhysicalAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
  package var rawValue: UInt64

  /// Creates a strongly typed physical address from a raw value.
  @inlinable package init(rawValue: UInt64) { self.rawValue = rawValue }
  @inlinable package init(_ rawValue: UInt64) { self.rawValue = rawValue }

  @inlinable package static var zero: PhysicalAddress { PhysicalAddress(0) }

  @inlinable package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  /// The page frame that holds this address, for a CPU page of `pageShift` bits.
  @inlinable package func pfn(pageShift: Int) -> PFN { PFN(rawValue >> UInt64(pageShift)) }

  /// `self + offset`, or nil when it wraps (the kernel's `check_add_overflow()`).
  @inlinable package func adding(_ offset: UInt64) -> PhysicalAddress? {
    let (r, o) = rawValue.addingReportingOverflow(offset)
    return o ? nil : PhysicalAddress(r)
  }

  /// `self + offset` for offsets known not to wrap (internal arithmetic on checked ranges).
  @inlinable package func advanced(by offset: UInt64) -> PhysicalAddress { PhysicalAddress(rawValue &+ offset) }

  package var description: String { "0x" + String(rawValue, radix: 16) }
}

/// An I/O virtual address: what a device puts on the bus (`dma_addr_t`, `unsigned long iova`).
package struct IOVA: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
  package var rawValue: UInt64

  @inlinable package init(rawValue: UInt64) { self.rawValue = rawValue }
  @inlinable package init(_ rawValue: UInt64) { self.rawValue = rawValue }

  @inlinable package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

  /// `self + offset`, or nil when it wraps.
  @inlinable package func adding(_ offset: UInt64) -> IOVA? {
    let (r, o) = rawValue.addingReportingOverflow(offset)
    return o ? nil : IOVA(r)
  }

  @inlinable package func advanced(by offset: UInt64) -> IOVA { IOVA(rawValue &+ offset) }

  package var description: String { "0x" + String(rawValue, radix: 16) }
}

/// A page frame number: a physical address shifted right by the CPU page shift.
package struct PFN: RawRepresentable, Hashable, Comparable, Strideable, Sendable, CustomStringConvertible {
  package var rawValue: UInt64

  @inlinable package init(rawValue: UInt64) { self.rawValue = rawValue }
  @inlinable package init(_ rawValue: UInt64) { self.rawValue = rawValue }

  @inlinable package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
  @inlinable package func distance(to other: PFN) -> Int64 { Int64(bitPattern: other.rawValue &- rawValue) }
  @inlinable package func advanced(by n: Int64) -> PFN { PFN(rawValue &+ UInt64(bitPattern: n)) }

  /// The first physical address of this frame.
  @inlinable package func address(pageShift: Int) -> PhysicalAddress { PhysicalAddress(rawValue << UInt64(pageShift)) }

  package var description: String { "0x" + String(rawValue, radix: 16) }
}

/// A kernel or user virtual address on the emulated CPU.
package struct VirtualAddress: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
  package var rawValue: UInt64
  @inlinable package init(rawValue: UInt64) { self.rawValue = rawValue }
  @inlinable package init(_ rawValue: UInt64) { self.rawValue = rawValue }
  @inlinable package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
  @inlinable package func adding(_ offset: UInt64) -> VirtualAddress? {
    let (r, o) = rawValue.addingReportingOverflow(offset)
    return o ? nil : VirtualAddress(r)
  }
  package var description: String { "0x" + String(rawValue, radix: 16) }
}

/// Hex formatting helpers shared by reports and events.
extension UInt64 {
  /// `0x%016llx`.
  package var hex16: String {
    let s = String(self, radix: 16)
    return "0x" + String(repeating: "0", count: Swift.max(0, 16 - s.count)) + s
  }
  /// `%#llx`: `0x1f`, or `0` for zero, as the kernel's `%#lx` prints.
  package var hexAlt: String { self == 0 ? "0" : "0x" + String(self, radix: 16) }
}
