/// A name as written in the fixture, with where it was written.
///
/// Used for binding names (`buf = ...`), for names used as arguments and for
/// task names (`@irq`).
package struct NameReference: Sendable, Hashable, CustomStringConvertible {
  /// The name as written.
  package var name: String
  /// Where it was written.
  package var location: SourceLocation

  package init(name: String, location: SourceLocation) {
    self.name = name
    self.location = location
  }

  package var description: String { name }
}
