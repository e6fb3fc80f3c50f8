/// A PASID written as a number or as an SVA handle (`pasid=N|NAME`).
package enum PASIDSelector: Sendable, Hashable {
  /// A PASID number (at most 0xfffff).
  case number(UInt32, location: SourceLocation)
  /// The PASID of an `sva_bind` binding.
  case svaHandle(NameReference)

  /// Where the value was written.
  package var location: SourceLocation {
    switch self {
    case .number(_, let location): return location
    case .svaHandle(let name): return name.location
    }
  }
}
