import KernelTypes

/// An address as written: a number, or a binding with an optional offset
/// (`buf`, `buf+0x10`, `buf-4K`).
///
/// A page block stands for its first physical address, a DMA mapping or
/// coherent buffer for its IOVA, a vmalloc area for its kernel virtual
/// address and an mmap area for its user virtual address.
package enum AddressExpression: Sendable, Hashable, CustomStringConvertible {
  /// A number (a size suffix is accepted: `2M`).
  case literal(UInt64, location: SourceLocation)
  /// A binding plus a signed byte offset (0 when none is written).
  case name(NameReference, offset: Int64)
  /// In a `repeat` block, `NAME+VAR*SCALE` (an iommusan extension): the
  /// binding plus the loop variable times a number; a statement's
  /// instantiation makes it a `.name` (`Statement.instantiated`).
  case scaled(NameReference, variable: String, scale: Int64)

  /// Where the expression starts.
  package var location: SourceLocation {
    switch self {
    case .literal(_, let location): return location
    case .name(let name, _), .scaled(let name, _, _): return name.location
    }
  }

  /// The binding the expression refers to, if any.
  package var nameReference: NameReference? {
    switch self {
    case .name(let name, _), .scaled(let name, _, _): return name
    case .literal: return nil
    }
  }

  /// The address, given the value of the binding; nil when it wraps around.
  package func resolve(base: UInt64) -> UInt64? {
    switch self {
    case .literal(let value, _):
      return value
    case .name(_, let offset):
      if offset >= 0 {
        let (sum, overflow) = base.addingReportingOverflow(UInt64(offset))
        return overflow ? nil : sum
      }
      let (difference, overflow) = base.subtractingReportingOverflow(offset.magnitude)
      return overflow ? nil : difference
    case .scaled:
      return nil
    }
  }

  /// The expression in fixture syntax (`buf+0x10`, `0x1000`).
  package var description: String {
    switch self {
    case .literal(let value, _):
      return "0x" + String(value, radix: 16)
    case .name(let name, let offset):
      if offset == 0 { return name.name }
      return name.name + (offset < 0 ? "-" : "+") + "0x" + String(offset.magnitude, radix: 16)
    case .scaled(let name, let variable, let scale):
      return name.name + "+" + variable + "*0x" + String(scale, radix: 16)
    }
  }
}
