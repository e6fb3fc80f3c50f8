/// Traced CPU numbers in the order they were added, each at most once, as a
/// doubly linked list through arrays indexed by CPU number: adding, removing
/// and the membership test cost O(1), so a trace on thousands of CPUs does
/// not make each event search a list of them (replay's CPUs with a pending
/// unmap, and those with recent maps).
package struct CPUList {
  /// The next and previous member (-1: none); `Self.absent` in `next` marks a non-member.
  private var next: [Int32] = []
  private var prev: [Int32] = []
  package private(set) var first = -1
  private var last = -1
  package private(set) var count = 0
  private static let absent: Int32 = -2

  package init() {}

  package var isEmpty: Bool { count == 0 }

  package func contains(_ cpu: Int) -> Bool { cpu >= 0 && cpu < next.count && next[cpu] != Self.absent }

  /// Adds `cpu` at the end (nothing if it is a member already).
  package mutating func append(_ cpu: Int) {
    guard cpu >= 0, !contains(cpu) else { return }
    if cpu >= next.count {
      next.append(contentsOf: repeatElement(Self.absent, count: cpu + 1 - next.count))
      prev.append(contentsOf: repeatElement(-1, count: cpu + 1 - prev.count))
    }
    next[cpu] = -1
    prev[cpu] = Int32(last)
    if last >= 0 { next[last] = Int32(cpu) } else { first = cpu }
    last = cpu
    count += 1
  }

  /// Removes `cpu` (nothing if it is not a member).
  package mutating func remove(_ cpu: Int) {
    guard contains(cpu) else { return }
    let n = Int(next[cpu])
    let p = Int(prev[cpu])
    if p >= 0 { next[p] = Int32(n) } else { first = n }
    if n >= 0 { prev[n] = Int32(p) } else { last = p }
    next[cpu] = Self.absent
    prev[cpu] = -1
    count -= 1
  }

  /// The member after `cpu` (-1 at the end). Read it before removing `cpu`.
  package func after(_ cpu: Int) -> Int { contains(cpu) ? Int(next[cpu]) : -1 }

  /// The members, in order (a copy: the list may change while it is walked).
  package var members: [Int] {
    var out: [Int] = []
    out.reserveCapacity(count)
    var c = first
    while c >= 0 {
      out.append(c)
      c = Int(next[c])
    }
    return out
  }
}
