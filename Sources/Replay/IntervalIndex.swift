/// Intervals `[start, last]` (inclusive ends, so a range may reach
/// `UInt64.max`) with point and overlap queries in a few hash probes.
///
/// An interval of size `s` belongs to the level `k` whose bucket width
/// `2^(12 + 6k)` is at least `s`, and is listed in the (at most two, or 16 at
/// the top level) buckets of that width it touches. A query probes, per
/// non-empty level, the buckets its range touches, or walks the level's
/// intervals when that is cheaper. Intervals of one address space do not
/// overlap, so a bucket holds at most 66 of them; overlapping input only
/// costs time. Buckets are singly linked lists of nodes in flat arrays.
final class IntervalIndex {
  static let levels = 9

  @exclusivity(unchecked) private(set) var starts = RawColumn<UInt64>()
  @exclusivity(unchecked) private(set) var lasts = RawColumn<UInt64>()
  /// The caller's record for each slot (-1: a free slot).
  @exclusivity(unchecked) private(set) var ids = RawColumn<Int32>()
  @exclusivity(unchecked) private var levelOf = RawColumn<UInt8>()
  @exclusivity(unchecked) private var levelPosition = RawColumn<Int32>()
  @exclusivity(unchecked) private var freeSlots = RawColumn<Int32>()
  private let levelSlots: UnsafeMutablePointer<RawColumn<Int32>>
  private let levelCounts: UnsafeMutablePointer<Int>
  /// Bucket key → first node.
  private let directory = U64Table(capacity: 64)
  @exclusivity(unchecked) private var nodeSlot = RawColumn<Int32>()
  @exclusivity(unchecked) private var nodeNext = RawColumn<Int32>()
  /// Bucket lists are doubly linked, and a slot's nodes (one per bucket it
  /// is listed in, in bucket order) are chained, so removal costs the
  /// interval's buckets, not the length of their lists.
  @exclusivity(unchecked) private var nodePrev = RawColumn<Int32>()
  @exclusivity(unchecked) private var nodeSibling = RawColumn<Int32>()
  @exclusivity(unchecked) private var slotFirstNode = RawColumn<Int32>()
  @exclusivity(unchecked) private var freeNodes = RawColumn<Int32>()
  @exclusivity(unchecked) private(set) var count = 0
  /// A conservative hull of the live intervals, for a fast miss.
  @exclusivity(unchecked) private var lowest = UInt64.max
  @exclusivity(unchecked) private var highest: UInt64 = 0

  @inline(__always) static func level(start: UInt64, last: UInt64) -> Int {
    let size1 = last &- start  // size - 1
    let bits = size1 == 0 ? 0 : 64 - size1.leadingZeroBitCount  // ceil(log2(size))
    if bits <= 12 { return 0 }
    return min((bits - 12 + 5) / 6, levels - 1)
  }

  @inline(__always) static func shift(_ level: Int) -> UInt64 { UInt64(12 + 6 * level) }

  @inline(__always) private static func key(_ level: Int, _ bucket: UInt64) -> UInt64 {
    UInt64(level) << 56 | bucket
  }

  init() {
    levelSlots = .allocate(capacity: Self.levels)
    levelSlots.initialize(repeating: RawColumn(), count: Self.levels)
    levelCounts = .allocate(capacity: Self.levels)
    levelCounts.initialize(repeating: 0, count: Self.levels)
  }

  deinit {
    for l in 0..<Self.levels { levelSlots[l].release() }
    levelSlots.deallocate()
    levelCounts.deallocate()
    starts.release()
    lasts.release()
    ids.release()
    levelOf.release()
    levelPosition.release()
    freeSlots.release()
    nodeSlot.release()
    nodeNext.release()
    nodePrev.release()
    nodeSibling.release()
    slotFirstNode.release()
    freeNodes.release()
  }

  var isEmpty: Bool { count == 0 }

  /// Adds `[start, last]` for record `id`; returns its slot.
  @discardableResult
  func insert(start: UInt64, last: UInt64, id: Int32) -> Int32 {
    let level = Self.level(start: start, last: last)
    let slot: Int32
    if let s = freeSlots.popLast() {
      slot = s
      let i = Int(s)
      starts[i] = start
      lasts[i] = last
      ids[i] = id
      levelOf[i] = UInt8(level)
    } else {
      slot = Int32(starts.count)
      starts.append(start)
      lasts.append(last)
      ids.append(id)
      levelOf.append(UInt8(level))
      levelPosition.append(0)
      slotFirstNode.append(-1)
    }
    levelPosition[Int(slot)] = Int32(levelSlots[level].count)
    levelSlots[level].append(slot)
    levelCounts[level] += 1
    let sh = Self.shift(level)
    var b = start >> sh
    let lastBucket = last >> sh
    var previousSibling: Int32 = -1
    while true {
      let k = Self.key(level, b)
      let node: Int32
      if let f = freeNodes.popLast() {
        node = f
        nodeSlot[Int(f)] = slot
        nodePrev[Int(f)] = -1
        nodeSibling[Int(f)] = -1
      } else {
        node = Int32(nodeSlot.count)
        nodeSlot.append(slot)
        nodeNext.append(-1)
        nodePrev.append(-1)
        nodeSibling.append(-1)
      }
      // The node becomes the bucket's head (one probe of the directory).
      let head = directory.exchangeFirst(k, node) ?? -1
      nodeNext[Int(node)] = head
      if head >= 0 { nodePrev[Int(head)] = node }
      if previousSibling >= 0 { nodeSibling[Int(previousSibling)] = node } else { slotFirstNode[Int(slot)] = node }
      previousSibling = node
      if b == lastBucket { break }
      b += 1
    }
    count += 1
    if start < lowest { lowest = start }
    if last > highest { highest = last }
    return slot
  }

  /// Removes the interval in `slot`.
  func remove(slot: Int32) {
    let i = Int(slot)
    guard i >= 0, i < starts.count, ids[i] >= 0 else { return }
    let level = Int(levelOf[i])
    let sh = Self.shift(level)
    var b = starts[i] >> sh
    var n = slotFirstNode[i]
    while n >= 0 {
      let next = nodeNext[Int(n)]
      let prev = nodePrev[Int(n)]
      if prev < 0 {
        let k = Self.key(level, b)
        if next < 0 { directory.remove(k) } else { directory.set(k, next, 0) }
      } else {
        nodeNext[Int(prev)] = next
      }
      if next >= 0 { nodePrev[Int(next)] = prev }
      freeNodes.append(n)
      n = nodeSibling[Int(n)]
      b &+= 1
    }
    slotFirstNode[i] = -1
    let pos = Int(levelPosition[i])
    let moved = levelSlots[level][levelSlots[level].count - 1]
    levelSlots[level][pos] = moved
    levelPosition[Int(moved)] = Int32(pos)
    levelSlots[level].removeLast()
    levelCounts[level] -= 1
    ids[i] = -1
    freeSlots.append(slot)
    count -= 1
    if count == 0 {
      lowest = .max
      highest = 0
    }
  }

  /// Calls `body(slot)` once for each interval overlapping `[start, last]`.
  @inline(__always)
  func forEachOverlap(start: UInt64, last: UInt64, _ body: (Int32) -> Void) {
    guard count > 0, start <= highest, last >= lowest else { return }
    for level in 0..<Self.levels {
      let n = levelCounts[level]
      if n == 0 { continue }
      let sh = Self.shift(level)
      let firstBucket = start >> sh
      let lastBucket = last >> sh
      if lastBucket - firstBucket >= UInt64(n) {
        for s in levelSlots[level] where starts[Int(s)] <= last && lasts[Int(s)] >= start { body(s) }
        continue
      }
      var b = firstBucket
      while true {
        if let (head, _) = directory.get(Self.key(level, b)) {
          var node = head
          while node >= 0 {
            let s = nodeSlot[Int(node)]
            node = nodeNext[Int(node)]
            let si = Int(s)
            let st = starts[si]
            guard st <= last, lasts[si] >= start else { continue }
            // Report an interval listed in several buckets only from the first one the query visits.
            if b == firstBucket || st >> sh == b { body(s) }
          }
        }
        if b == lastBucket { break }
        b += 1
      }
    }
  }

  /// True when some interval overlaps `[start, last]` (stops at the first; no closure).
  func overlaps(start: UInt64, last: UInt64) -> Bool {
    guard count > 0, start <= highest, last >= lowest else { return false }
    for level in 0..<Self.levels {
      let n = levelCounts[level]
      if n == 0 { continue }
      let sh = Self.shift(level)
      let firstBucket = start >> sh
      let lastBucket = last >> sh
      if lastBucket - firstBucket >= UInt64(n) {
        for s in levelSlots[level] where starts[Int(s)] <= last && lasts[Int(s)] >= start { return true }
        continue
      }
      var b = firstBucket
      while true {
        if let (head, _) = directory.get(Self.key(level, b)) {
          var node = head
          while node >= 0 {
            let si = Int(nodeSlot[Int(node)])
            if starts[si] <= last, lasts[si] >= start { return true }
            node = nodeNext[Int(node)]
          }
        }
        if b == lastBucket { break }
        b += 1
      }
    }
    return false
  }
}
