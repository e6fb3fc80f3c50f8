/// A growable column of plain values in unsafe storage, for the replay
/// engine's per-event tables (`IntervalIndex`, the replayer's mappings and
/// released records): reading or writing an
/// element through a class property costs no uniqueness check, no
/// retain/release and no copy-on-write, which `Array` in a class property
/// does on every access. The owner calls `release()` in its `deinit`; a
/// column is never copied to two owners.
struct RawColumn<Element: BitwiseCopyable> {
  private(set) var base: UnsafeMutablePointer<Element>?
  private(set) var count = 0
  private var capacity = 0

  init() {}

  @inline(__always) var isEmpty: Bool { count == 0 }

  @inline(__always) subscript(i: Int) -> Element {
    get {
      precondition(i >= 0 && i < count, "RawColumn index out of range")
      return base.unsafelyUnwrapped[i]
    }
    nonmutating set {
      precondition(i >= 0 && i < count, "RawColumn index out of range")
      base.unsafelyUnwrapped[i] = newValue
    }
    // In place: `column[i].field = x` writes one field, not the element.
    nonmutating _modify {
      precondition(i >= 0 && i < count, "RawColumn index out of range")
      yield &base.unsafelyUnwrapped[i]
    }
  }

  /// Makes room for `n` elements in all, at once.
  mutating func reserveCapacity(_ n: Int) {
    guard n > capacity else { return }
    let fresh = UnsafeMutablePointer<Element>.allocate(capacity: n)
    if let old = base {
      fresh.initialize(from: old, count: count)
      old.deallocate()
    }
    base = fresh
    capacity = n
  }

  @inline(__always) var last: Element? { count > 0 ? base.unsafelyUnwrapped[count - 1] : nil }

  @inline(__always) mutating func append(_ v: Element) {
    if count == capacity { grow() }
    base.unsafelyUnwrapped[count] = v
    count += 1
  }

  /// Appends `v` and returns where it is (valid until the next append).
  @inline(__always) mutating func appendSlot(_ v: Element) -> UnsafeMutablePointer<Element> {
    append(v)
    return base.unsafelyUnwrapped + (count - 1)
  }

  /// The elements, for reading in place.
  @inline(__always) var buffer: UnsafeBufferPointer<Element> { UnsafeBufferPointer(start: base, count: count) }

  /// Empties it, keeping the storage.
  @inline(__always) mutating func removeAll() { count = 0 }

  @inline(__always) mutating func popLast() -> Element? {
    guard count > 0 else { return nil }
    count -= 1
    return base.unsafelyUnwrapped[count]
  }

  @inline(__always) mutating func removeLast() {
    precondition(count > 0, "RawColumn is empty")
    count -= 1
  }

  private mutating func grow() { reserveCapacity(Swift.max(16, capacity * 2)) }

  /// Frees the storage (the owner's `deinit`).
  mutating func release() {
    base?.deallocate()
    base = nil
    count = 0
    capacity = 0
  }
}

extension RawColumn: Sequence {
  struct Iterator: IteratorProtocol {
    let base: UnsafeMutablePointer<Element>?
    let count: Int
    var i = 0
    mutating func next() -> Element? {
      guard i < count else { return nil }
      defer { i += 1 }
      return base.unsafelyUnwrapped[i]
    }
  }

  func makeIterator() -> Iterator { Iterator(base: base, count: count) }
}
