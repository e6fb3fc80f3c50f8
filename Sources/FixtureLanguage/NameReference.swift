/// A name as written in the fixture, with where it was written.
///
/// Used for binding names (`buf = ...`), for names used as arguments and for
/// task names (`@irq`).
public struct NameReference: Sendable, Hashable, CustomStringConvertible {
  /// The name as written.
  public var name: String
  /// Where it was written.
  public var location: SourceLocation

  public init(name: String, location: SourceLocation) {
    self.name = name
    self.location = location
  }

  public var description: String { name }
}
