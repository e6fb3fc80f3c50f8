import MemoryModel
import Synchronization

/// IOMMU map counts per CPU page: the sanitizer's page_ext data.
///
/// Counts live in a sparse 64-ary radix of "pieces": a count at level L and
/// index i applies to every page `p` with `p >> 6L == i`. A page's count is
/// the sum over levels, so adding to a range of pages costs a few pieces per
/// level instead of one operation per page: a 1G map of 4K pages touches 4
/// pieces, not 262,144 pages. Pieces are spread over locked shards, so
/// concurrent maps and unmaps keep every count exact.
final class MapCounts: Sendable {
  static let fanoutShift = 6
  static let levels = 8  // 48 bits of PFN
  private static let shardCount = 64

  /// Inline, so taking a shard costs no reference counting.
  private let shards: InlineArray<64, PaddedMutex<FlatCountTable>> = InlineArray { _ in PaddedMutex(FlatCountTable()) }
  /// How many pieces are negative. Without negative pieces no page's count
  /// can be negative, so decrements need no page total unless their own
  /// piece goes below zero. Touched only when a piece changes sign.
  private let negativePieces = Atomic<Int>(0)
  /// Set once any piece passes `ceiling / levels`: until then no page's
  /// count (a sum of at most `levels` pieces) can pass `ceiling`.
  private let nearCeiling = Atomic<Bool>(false)
  let ceiling: Int64

  init(ceiling: Int64 = Int64(Int32.max)) { self.ceiling = ceiling }

  /// Whether a page total may have gone below zero or past the ceiling, so
  /// that the caller must compute it.
  func mayNeedCheck(lastPiece: Int64) -> Bool {
    lastPiece < 0 || negativePieces.load(ordering: .relaxed) > 0 || nearCeiling.load(ordering: .relaxed)
  }

  @inline(__always) private static func key(_ level: Int, _ index: UInt64) -> UInt64 {
    UInt64(level) << 56 | (index & ((1 << 56) - 1))
  }

  @inline(__always) private func shardIndex(_ key: UInt64) -> Int {
    var h = key &* 0x9E37_79B9_7F4A_7C15
    h ^= h >> 29
    return Int(truncatingIfNeeded: h & UInt64(Self.shardCount - 1))
  }

  /// Adds `delta` to one piece and returns the piece's new value.
  @discardableResult
  private func addPiece(_ level: Int, _ index: UInt64, _ delta: Int64) -> Int64 {
    let k = Self.key(level, index)
    // Zero pieces stay in place: a map/unmap loop then updates a slot
    // instead of inserting and removing a key every time.
    let (old, v) = shards[shardIndex(k)].lock.withLock { $0.add(k, delta) }
    if (old < 0) != (v < 0) { negativePieces.add(v < 0 ? 1 : -1, ordering: .relaxed) }
    if v > ceiling / Int64(Self.levels) && !nearCeiling.load(ordering: .relaxed) { nearCeiling.store(true, ordering: .relaxed) }
    return v
  }

  /// Adds `delta` to one page's own piece; returns that piece (for
  /// `mayNeedCheck`). The exact-accounting fast path for a single page.
  @inline(__always)
  func addPiece(page pfn: UInt64, _ delta: Int64) -> Int64 { addPiece(0, pfn, delta) }

  /// Adds `delta` to the count of one page and returns the page's new total.
  @discardableResult
  func add(page pfn: UInt64, _ delta: Int64) -> Int64 {
    let own = addPiece(0, pfn, delta)
    var total = own
    for l in 1..<Self.levels { total &+= piece(l, pfn >> UInt64(l * Self.fanoutShift)) }
    return total
  }

  /// Adds `delta` to every page in `[lo, hi)`; returns the smallest piece
  /// value written (for `mayNeedCheck`).
  @discardableResult
  func add(pages lo: UInt64, _ hi: UInt64, _ delta: Int64) -> Int64 {
    var lowest = Int64.max
    var lo = lo
    var hi = hi
    var level = 0
    while lo < hi {
      let step = Self.fanoutShift
      if level == Self.levels - 1 {
        for i in lo..<hi { lowest = min(lowest, addPiece(level, i, delta)) }
        return lowest
      }
      let mask: UInt64 = (1 << UInt64(step)) - 1
      // Bring lo up and hi down to the next level's alignment.
      while lo < hi && lo & mask != 0 {
        lowest = min(lowest, addPiece(level, lo, delta))
        lo += 1
      }
      while lo < hi && hi & mask != 0 {
        hi -= 1
        lowest = min(lowest, addPiece(level, hi, delta))
      }
      lo >>= UInt64(step)
      hi >>= UInt64(step)
      level += 1
    }
    return lowest
  }

  private func piece(_ level: Int, _ index: UInt64) -> Int64 {
    let k = Self.key(level, index)
    return shards[shardIndex(k)].lock.withLock { $0.value(k) }
  }

  /// The count of one page.
  func count(page pfn: UInt64) -> Int64 {
    var total: Int64 = 0
    for l in 0..<Self.levels { total &+= piece(l, pfn >> UInt64(l * Self.fanoutShift)) }
    return total
  }

  /// Pages in `[lo, hi)` with a non-zero count, with their counts.
  func nonZero(pages lo: UInt64, _ hi: UInt64) -> [(pfn: UInt64, count: Int64)] {
    var out: [(UInt64, Int64)] = []
    var p = lo
    while p < hi {
      let c = count(page: p)
      if c != 0 { out.append((p, c)) }
      p += 1
    }
    return out
  }

  /// Whether every piece is zero.
  var isEmpty: Bool { pieceCount == 0 }
  /// Non-zero pieces, for the memory figures and tests.
  var pieceCount: Int {
    var n = 0
    for i in 0..<Self.shardCount { n += shards[i].lock.withLock { $0.nonZeroCount } }
    return n
  }
}
