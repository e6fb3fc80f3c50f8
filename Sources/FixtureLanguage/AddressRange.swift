/// An inclusive physical address range, written `START-END` (`mmio=`, `offline=`).
public struct AddressRange: Sendable, Hashable, CustomStringConvertible {
  /// The first byte of the range.
  public var first: UInt64
  /// The last byte of the range (inclusive, so `first <= last`).
  public var last: UInt64
  /// Where the range was written.
  public var location: SourceLocation

  public init(first: UInt64, last: UInt64, location: SourceLocation) {
    self.first = first
    self.last = last
    self.location = location
  }

  /// Whether `address` lies in the range.
  public func contains(_ address: UInt64) -> Bool { address >= first && address <= last }

  public var description: String { "0x\(String(first, radix: 16))-0x\(String(last, radix: 16))" }
}
