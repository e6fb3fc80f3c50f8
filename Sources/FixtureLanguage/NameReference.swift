/// A name as written in the fixture, with where it was written.
///
/// Used for binding names (`buf = ...`), for names used as arguments and for
/// task names (`@irq`). An element of an indexed name is written `rx[17]`
/// (then `name` is `rx[17]`, the index in decimal) or, inside a `repeat`
/// block, `rx[i]` or `rx[i+1]` (then `index` says how the runner computes the
/// element's name from the loop variable).
package struct NameReference: Sendable, Hashable, CustomStringConvertible {
  /// The name as written (`rx[i]`), or the element's name (`rx[17]`).
  package var name: String
  /// Where it was written.
  package var location: SourceLocation
  /// For `NAME[VAR]`, `NAME[VAR+N]`, `NAME[VAR-N]`: how to name the element; nil otherwise.
  package var index: NameIndex?

  package init(name: String, location: SourceLocation, index: NameIndex? = nil) {
    self.name = name
    self.location = location
    self.index = index
  }

  package var description: String { name }

  /// The reference with the loop variables of `environment` substituted; nil
  /// when the index is negative or its variable is not set.
  package func resolved(in environment: LoopEnvironment) -> NameReference? {
    guard let index else { return self }
    guard let element = index.elementName(in: environment) else { return nil }
    return NameReference(name: element, location: location)
  }
}

/// The index of `NAME[VAR+OFFSET]` (an iommusan extension of v1: loops).
package struct NameIndex: Sendable, Hashable {
  /// The name before `[`.
  package var base: String
  /// The loop variable.
  package var variable: String
  /// What is added to the variable.
  package var offset: Int64

  package init(base: String, variable: String, offset: Int64) {
    self.base = base
    self.variable = variable
    self.offset = offset
  }

  /// The element's name, `base[N]`; nil when N is negative or the variable is unset.
  package func elementName(in environment: LoopEnvironment) -> String? {
    guard let value = environment[variable] else { return nil }
    let (n, overflow) = value.addingReportingOverflow(offset)
    guard !overflow, n >= 0 else { return nil }
    return Self.elementName(base, n)
  }

  /// The name before its index: `rx` of `rx[17]` and of `rx[i]`; a name without one as is.
  package static func base(of name: String) -> String {
    name.firstIndex(of: "[").map { String(name[..<$0]) } ?? name
  }

  /// `base[n]`, the canonical spelling of an element (the index in decimal).
  package static func elementName(_ base: String, _ n: Int64) -> String { base + "[" + String(n) + "]" }
}

/// The values of the loop variables of the `repeat` blocks being run, by name.
package struct LoopEnvironment: Sendable {
  private var values: [(name: String, value: Int64)] = []

  package init() {}

  package subscript(_ name: String) -> Int64? {
    values.last { $0.name == name }?.value
  }

  package mutating func push(_ name: String, _ value: Int64) { values.append((name, value)) }
  package mutating func pop() { values.removeLast() }
  package mutating func setInnermost(_ value: Int64) { values[values.count - 1].value = value }
  package var isEmpty: Bool { values.isEmpty }
  /// `i=17, j=3`, for statement texts in reports.
  package var description: String { values.map { "\($0.name)=\($0.value)" }.joined(separator: ", ") }
}
