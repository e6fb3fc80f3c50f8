import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel

extension Execution {
  /// What `ref` is bound to.
  func lookup(_ ref: NameReference) throws(FatalError) -> Binding {
    if let b = bindings[ref.name] { return b }
    if let line = failedBindings[ref.name] {
      throw fatal(ref.location, "'\(ref.name)' was bound by a statement that failed (line \(line)); it names nothing")
    }
    throw fatal(ref.location, "use of unbound name '\(ref.name)'")
  }

  /// The `T` that `ref` is bound to.
  func bound<T: BindingValue>(_ ref: NameReference, as _: T.Type = T.self) throws(FatalError) -> T {
    let b = try lookup(ref)
    guard let value = T.value(in: b) else { throw fatal(ref.location, T.mismatch(ref.name, b)) }
    return value
  }

  /// Binds the statement's `NAME =`, if it has one, to `value`.
  func bind(_ stmt: Statement, _ value: Binding) {
    guard let b = stmt.binding else { return }
    bindings[b.name] = value
    failedBindings[b.name] = nil
  }

  /// The address an expression stands for.
  func address(_ e: AddressExpression) throws(FatalError) -> UInt64 {
    var base: UInt64 = 0
    if let ref = e.nameReference {
      switch try lookup(ref) {
      case .pages(let p): base = p.head.address(pageShift: machine.memory.pageShift).rawValue
      case .dmaHandle(let h): base = h.address.rawValue
      case .mmap(let m): base = m.area.start.rawValue
      case .vmalloc(let a): base = a.start.rawValue
      case .sgList(let l): base = l.entries.first?.dmaAddress.rawValue ?? 0
      case .slabObject(let o): base = o.address.rawValue
      case .iommu, .device, .domain, .task, .process, .sva:
        throw fatal(ref.location, "'\(ref.name)' is \(try lookup(ref).noun) and has no address")
      }
    }
    guard let v = e.resolve(base: base) else { throw fatal(e.location, "address \(e) wraps around") }
    return v
  }

  /// The PASID a request carries: a number, or an SVA binding's.
  func pasid(_ p: PASIDSelector?) throws(FatalError) -> UInt32? {
    switch p {
    case nil: nil
    case .number(let n, _): n
    case .svaHandle(let ref): try bound(ref, as: SVABond.self).pasid
    }
  }
}
