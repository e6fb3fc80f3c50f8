import MemoryModel
import Synchronization

/// IOMMU map counts per CPU page: the sanitizer's page_ext data.
///
/// As in the kernel's page_ext, every page of online RAM has an atomic
/// count, kept per section. The kernel allocates page_ext for every online
/// section at boot; here a section is allocated on first use, so a 1 TiB
/// machine with a few pages mapped costs a few sections. Above the
/// per-page counts sit coarser levels of a 64-ary radix of "pieces": a
/// piece at level L and index i applies to every page `p` with
/// `p >> 6L == i`, and a page's count is the sum over levels. Adding to a
/// range of pages costs a few pieces per level instead of one operation
/// per page: a 1G map of 4K pages touches one piece, not 262,144 pages.
///
/// Every piece is one atomic cell, updated with one atomic add and no
/// lock, as `atomic_inc_return_relaxed()` updates the kernel's count; the
/// map and unmap hot path of a single page is one add on its own cell.
/// Concurrent maps and unmaps therefore keep every piece exact. (The adds
/// are sequentially consistent, not relaxed: see `mayNeedCheck`.)
final class MapCounts: @unchecked Sendable {
  static let fanoutShift = 6
  /// Cells per section: 4096 counts, 32 KiB.
  static let sectionShift = 12
  private static let sectionCells = 1 << sectionShift

  /// One level of the radix: cells for indices `first..<first + cells`.
  private struct Level {
    let first: UInt64
    let cells: UInt64
    /// Section addresses (0 until allocated), one per `sectionCells` cells.
    let sections: UnsafeMutablePointer<Atomic<UInt>>
    var sectionCount: Int { MapCounts.sectionCount(cells) }

    /// Section `s`, or nil while it was never allocated.
    func section(_ s: Int) -> UnsafeMutablePointer<Atomic<Int64>>? {
      UnsafeMutablePointer(bitPattern: sections[s].load(ordering: .acquiring))
    }
  }

  /// Sections for `cells` cells (at least one, so that every level has an array).
  private static func sectionCount(_ cells: UInt64) -> Int {
    max(1, Int((cells + UInt64(sectionCells) - 1) >> UInt64(sectionShift)))
  }

  /// The pages counted.
  let span: Range<UInt64>
  /// The per-page level, apart for the hot path.
  private let pages: Level
  /// Level 1 and up.
  private let upper: [Level]
  /// How many levels a page's count sums over.
  let levels: Int
  /// How many pieces are negative. Without negative pieces no page's count
  /// can be negative, so decrements need no page total unless their own
  /// piece goes below zero. Touched only when a piece changes sign.
  private let negativePieces = Atomic<Int>(0)
  /// Set once any piece passes `ceiling / levels`: until then no page's
  /// count (a sum of at most `levels` pieces) can pass `ceiling`.
  private let nearCeiling = Atomic<Bool>(false)
  /// `ceiling / levels`: the largest piece that cannot, with the others, take a page past the ceiling.
  private let pieceCeiling: Int64
  /// Where sections are charged (`mapCountSections`), nil for nowhere.
  private let budget: ResidentBudget?
  /// The bytes charged so far, given back by `deinit`.
  private let chargedBytes = Atomic<Int>(0)
  /// What a section costs: its 4096 counts.
  static let sectionBytes = sectionCells * MemoryLayout<Int64>.stride

  /// Counts for the pages `span` (online RAM); pages outside it have no
  /// page_ext and are never counted.
  init(span: Range<UInt64>, ceiling: Int64 = Int64(Int32.max), budget: ResidentBudget? = nil) {
    self.span = span
    self.budget = budget
    func level(_ l: Int) -> Level {
      let shift = UInt64(l * Self.fanoutShift)
      // Sections start on absolute multiples of their size, so a level-0
      // section covers exactly one level-2 piece (`extremes` relies on it).
      let first = (span.lowerBound >> shift) & ~UInt64(Self.sectionCells - 1)
      let cells = span.isEmpty ? 0 : ((span.upperBound - 1) >> shift) - first + 1
      let n = Self.sectionCount(cells)
      let sections = UnsafeMutablePointer<Atomic<UInt>>.allocate(capacity: n)
      for i in 0..<n { (sections + i).initialize(to: Atomic(0)) }
      return Level(first: first, cells: cells, sections: sections)
    }
    pages = level(0)
    // Levels until one has at most 64 pieces: the top level's range loop
    // is then short.
    var more: [Level] = []
    var l = 0
    var top = pages
    while top.cells > 1 << UInt64(Self.fanoutShift) {
      l += 1
      top = level(l)
      more.append(top)
    }
    upper = more
    levels = 1 + more.count
    pieceCeiling = ceiling / Int64(levels)
    // The section directories, one address per section.
    charge(([pages] + more).reduce(0) { $0 + $1.sectionCount } * MemoryLayout<UInt>.stride)
  }

  /// Charges `bytes` to the budget. A refusal cannot stop a count (the
  /// section is needed now): it sets the budget's flag, and the runner
  /// stops the fixture after the statement.
  private func charge(_ bytes: Int) {
    guard let budget, budget.charge(bytes, .mapCountSections) else { return }
    chargedBytes.add(bytes, ordering: .relaxed)
  }

  deinit {
    budget?.release(chargedBytes.load(ordering: .relaxed), .mapCountSections)
    for level in [pages] + upper {
      for s in 0..<level.sectionCount { level.section(s)?.deallocate() }
      level.sections.deallocate()
    }
  }

  @inline(__always) private func level(_ l: Int) -> Level { l == 0 ? pages : upper[l - 1] }

  /// The cell of piece `index` of `level`; nil outside the span, or when
  /// its section was never allocated and `create` is false.
  @inline(__always)
  private func cell(_ level: Level, _ index: UInt64, create: Bool) -> UnsafeMutablePointer<Atomic<Int64>>? {
    let rel = index &- level.first
    guard index >= level.first, rel < level.cells else { return nil }
    let s = Int(truncatingIfNeeded: rel >> UInt64(Self.sectionShift))
    let offset = Int(truncatingIfNeeded: rel) & (Self.sectionCells - 1)
    if let p = level.section(s) { return p + offset }
    guard create else { return nil }
    return newSection(level, s) + offset
  }

  /// Allocates section `s` of `level`, or returns the one another thread installed first.
  @inline(never)
  private func newSection(_ level: Level, _ s: Int) -> UnsafeMutablePointer<Atomic<Int64>> {
    let p = UnsafeMutablePointer<Atomic<Int64>>.allocate(capacity: Self.sectionCells)
    for i in 0..<Self.sectionCells { (p + i).initialize(to: Atomic(0)) }
    let (won, current) = level.sections[s].compareExchange(
      expected: 0, desired: UInt(bitPattern: p), ordering: .acquiringAndReleasing)
    if won {
      charge(Self.sectionBytes)
      return p
    }
    p.deallocate()
    return UnsafeMutablePointer(bitPattern: current)!
  }

  /// Whether a page total may have gone below zero or past the ceiling, so
  /// that the caller must compute it. The piece adds, the flag updates and
  /// these loads are sequentially consistent (on x86 a locked add and plain
  /// loads, as relaxed ones are): of two threads that race, one making a
  /// piece negative and one adding to another, at least one sees the other.
  @inline(__always)
  func mayNeedCheck(lastPiece: Int64) -> Bool {
    lastPiece < 0 || negativePieces.load(ordering: .sequentiallyConsistent) > 0
      || nearCeiling.load(ordering: .sequentiallyConsistent)
  }

  /// Adds `delta` to one piece and returns the piece's new value (0 outside the span).
  @inline(__always)
  private func addPiece(_ level: Level, _ index: UInt64, _ delta: Int64) -> Int64 {
    guard let c = cell(level, index, create: true) else { return 0 }
    let (old, v) = c.pointee.wrappingAdd(delta, ordering: .sequentiallyConsistent)
    if (old < 0) != (v < 0) || v > pieceCeiling { noteExtremes(old: old, new: v) }
    return v
  }

  @inline(never)
  private func noteExtremes(old: Int64, new v: Int64) {
    if (old < 0) != (v < 0) { negativePieces.add(v < 0 ? 1 : -1, ordering: .sequentiallyConsistent) }
    if v > pieceCeiling { nearCeiling.store(true, ordering: .sequentiallyConsistent) }
  }

  /// Adds `delta` to one page's own piece; returns that piece (for
  /// `mayNeedCheck`). The exact-accounting fast path for a single page.
  @inline(__always)
  func addPiece(page pfn: UInt64, _ delta: Int64) -> Int64 { span.contains(pfn) ? addPiece(pages, pfn, delta) : 0 }

  /// Adds `delta` to the count of one page and returns the page's new total.
  @discardableResult
  func add(page pfn: UInt64, _ delta: Int64) -> Int64 {
    guard span.contains(pfn) else { return 0 }
    return addPiece(pages, pfn, delta) &+ upperSum(pfn)
  }

  /// The pieces of levels 1 and up that cover page `pfn`, added up.
  private func upperSum(_ pfn: UInt64) -> Int64 {
    var total: Int64 = 0
    for (i, l) in upper.enumerated() { total &+= piece(l, pfn >> UInt64((i + 1) * Self.fanoutShift)) }
    return total
  }

  /// Adds `delta` to every page in `[lo, hi)`; returns the smallest piece
  /// value written (for `mayNeedCheck`).
  @discardableResult
  func add(pages lo: UInt64, _ hi: UInt64, _ delta: Int64) -> Int64 {
    let mask: UInt64 = (1 << UInt64(Self.fanoutShift)) - 1
    var lowest = Int64.max
    // Pages outside the span are never counted: clip first.
    var lo = max(lo, span.lowerBound)
    var hi = min(hi, span.upperBound)
    var l = 0
    while lo < hi {
      if l == levels - 1 {
        let level = level(l)
        for i in lo..<hi { lowest = min(lowest, addPiece(level, i, delta)) }
        return lowest
      }
      // Bring lo up and hi down to the next level's alignment; an aligned
      // range (a 1G map, say) passes through without touching a cell.
      if (lo | hi) & mask != 0 {
        let level = level(l)
        while lo < hi && lo & mask != 0 {
          lowest = min(lowest, addPiece(level, lo, delta))
          lo += 1
        }
        while lo < hi && hi & mask != 0 {
          hi -= 1
          lowest = min(lowest, addPiece(level, hi, delta))
        }
      }
      lo >>= UInt64(Self.fanoutShift)
      hi >>= UInt64(Self.fanoutShift)
      l += 1
    }
    return lowest
  }

  private func piece(_ level: Level, _ index: UInt64) -> Int64 {
    cell(level, index, create: false)?.pointee.load(ordering: .sequentiallyConsistent) ?? 0
  }

  /// The count of one page.
  func count(page pfn: UInt64) -> Int64 {
    guard span.contains(pfn) else { return 0 }
    return piece(pages, pfn) &+ upperSum(pfn)
  }

  /// The smallest and the largest count of the pages in `[lo, hi)`, with
  /// a page that has each. A 4096-page block (one level-0 section, one
  /// level-2 piece) with no level-0 section and no level-1 piece has one
  /// count throughout and costs one page's sum; other blocks are summed
  /// page by page. So a 1T range of which few pages are mapped one by one
  /// costs about 65,536 block tests.
  func extremes(pages lo: UInt64, _ hi: UInt64) -> (min: (pfn: UInt64, count: Int64), max: (pfn: UInt64, count: Int64))?
  {
    let lo = max(lo, span.lowerBound)
    let hi = min(hi, span.upperBound)
    guard lo < hi else { return nil }
    var least = (pfn: lo, count: Int64.max)
    var most = (pfn: lo, count: Int64.min)
    func visit(_ p: UInt64) {
      let c = count(page: p)
      if c < least.count { least = (p, c) }
      if c > most.count { most = (p, c) }
    }
    let blockShift = UInt64(Self.sectionShift)
    var block = lo >> blockShift
    while block << blockShift < hi {
      let from = max(lo, block << blockShift)
      let to = min(hi, (block + 1) << blockShift)
      if isFlat(block: block) {
        visit(from)
      } else {
        for p in from..<to { visit(p) }
      }
      block += 1
    }
    return (least, most)
  }

  /// Whether block `b` (pages `b << 12 ..< (b + 1) << 12`) has no level-0
  /// section and only zero level-1 pieces: every page's count is then the sum of levels 2 and up.
  private func isFlat(block b: UInt64) -> Bool {
    let rel = (b << UInt64(Self.sectionShift)) &- pages.first
    guard rel < pages.cells else { return false }
    if pages.section(Int(truncatingIfNeeded: rel >> UInt64(Self.sectionShift))) != nil { return false }
    guard let one = upper.first else { return true }
    let first = b << UInt64(Self.sectionShift - Self.fanoutShift)
    for i in first..<first + (1 << UInt64(Self.fanoutShift)) where piece(one, i) != 0 { return false }
    return true
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
    for level in [pages] + upper {
      for s in 0..<level.sectionCount {
        guard let p = level.section(s) else { continue }
        for i in 0..<Self.sectionCells where p[i].load(ordering: .relaxed) != 0 { n += 1 }
      }
    }
    return n
  }
}
