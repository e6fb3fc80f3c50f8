import KernelTypes

/// The ordered tree of an IOVA domain: disjoint ranges `[lo, hi]` in pages,
/// keyed by `lo`, with in-order predecessor and successor steps.
///
/// The kernel keeps `struct iova` nodes in a red-black tree; this is a treap
/// in one array, its priorities drawn from a fixed-seed generator, so every
/// run builds the same tree. Only the order of the nodes is observable: the
/// allocator walks it with `prev(_:)` and `next(_:)` as the kernel walks its
/// tree with `rb_prev()` and `rb_next()`. A node keeps its index from insert
/// to remove (removal relinks nodes and never moves a range to another node),
/// so the allocator can hold indices as the kernel holds `struct rb_node *`.
/// The corresponding Linux structure is `struct rb_root` of `struct iova`.
struct IOVATree {
  /// No node: the kernel's `NULL`.
  static let none = -1

  struct Node {
    var lo: UInt64
    var hi: UInt64
    var left = IOVATree.none
    var right = IOVATree.none
    var parent = IOVATree.none
    /// The heap key: a parent's is at least its children's.
    var priority: UInt64
    init(lo: UInt64, hi: UInt64, priority: UInt64) {
      self.lo = lo
      self.hi = hi
      self.priority = priority
    }
  }

  private var nodes: [Node] = []
  private(set) var root = IOVATree.none
  /// The first of the removed nodes, chained through `left`, for reuse.
  private var freeNode = IOVATree.none
  /// The number of nodes in the tree.
  private(set) var count = 0
  /// The state of the priority generator (SplitMix64, fixed seed).
  private var seed: UInt64 = 0x494F_5641_5452_4545

  /// Whether an insert reuses a removed node's slot (no slot is added).
  var hasFreeSlot: Bool { freeNode != Self.none }

  /// The range of node `i`.
  subscript(i: Int) -> (lo: UInt64, hi: UInt64) { (nodes[i].lo, nodes[i].hi) }

  /// The node before `i` in order, or `none`.
  /// The corresponding Linux function is `rb_prev()`.
  func prev(_ i: Int) -> Int {
    var n = nodes[i].left
    if n != Self.none {
      while nodes[n].right != Self.none { n = nodes[n].right }
      return n
    }
    n = i
    var p = nodes[n].parent
    while p != Self.none && n == nodes[p].left {
      n = p
      p = nodes[p].parent
    }
    return p
  }

  /// The node after `i` in order, or `none`.
  /// The corresponding Linux function is `rb_next()`.
  func next(_ i: Int) -> Int {
    var n = nodes[i].right
    if n != Self.none {
      while nodes[n].left != Self.none { n = nodes[n].left }
      return n
    }
    n = i
    var p = nodes[n].parent
    while p != Self.none && n == nodes[p].right {
      n = p
      p = nodes[p].parent
    }
    return p
  }

  /// The first node in order, or `none`.
  /// The corresponding Linux function is `rb_first()`.
  var first: Int {
    var n = root
    while n != Self.none && nodes[n].left != Self.none { n = nodes[n].left }
    return n
  }

  /// The node whose range holds `pfn`, or `none`.
  /// The corresponding Linux function is `private_find_iova()`.
  func find(containing pfn: UInt64) -> Int {
    var n = root
    while n != Self.none {
      if pfn < nodes[n].lo {
        n = nodes[n].left
      } else if pfn > nodes[n].hi {
        n = nodes[n].right
      } else {
        return n
      }
    }
    return Self.none
  }

  /// The node the allocator's retry walk starts from for `limitPFN`
  /// (exclusive): one whose range ends at or above it, as low as the
  /// descent finds. The corresponding Linux function is `iova_find_limit()`
  /// (its tree walk; the caller takes the anchor above the 32-bit boundary).
  func findLimit(_ limitPFN: UInt64) -> Int {
    var node = root
    while nodes[node].hi < limitPFN { node = nodes[node].right }
    while true {
      while nodes[node].left != Self.none && nodes[nodes[node].left].lo >= limitPFN { node = nodes[node].left }
      guard nodes[node].left != Self.none else { return node }
      var next = nodes[node].left
      var moved = false
      while nodes[next].right != Self.none {
        next = nodes[next].right
        if nodes[next].lo >= limitPFN {
          node = next
          moved = true
          break
        }
      }
      if !moved { return node }
    }
  }

  /// Inserts `[lo, hi]`, descending from `start` (a node the new range sits
  /// just below in order, the kernel's hint) or from the root, and returns
  /// its node. A range whose `lo` is already in the tree is not inserted
  /// (the kernel warns): the result is then `none`.
  /// The corresponding Linux function is `iova_insert_rbtree()`.
  mutating func insert(lo: UInt64, hi: UInt64, from start: Int = IOVATree.none) -> Int {
    var parent = Self.none
    var n = start != Self.none ? start : root
    var goesLeft = false
    while n != Self.none {
      parent = n
      if lo < nodes[n].lo {
        goesLeft = true
        n = nodes[n].left
      } else if lo > nodes[n].lo {
        goesLeft = false
        n = nodes[n].right
      } else {
        assertionFailure("IOVA range at pfn \(lo) inserted twice")
        return Self.none
      }
    }
    let x = makeNode(lo: lo, hi: hi)
    nodes[x].parent = parent
    if parent == Self.none {
      root = x
    } else if goesLeft {
      nodes[parent].left = x
    } else {
      nodes[parent].right = x
    }
    while nodes[x].parent != Self.none && nodes[nodes[x].parent].priority < nodes[x].priority { rotateUp(x) }
    count += 1
    return x
  }

  /// Removes node `i`; its index may be reused by a later insert.
  /// The corresponding Linux function is `rb_erase()`.
  mutating func remove(_ i: Int) {
    while nodes[i].left != Self.none && nodes[i].right != Self.none {
      let l = nodes[i].left
      let r = nodes[i].right
      rotateUp(nodes[l].priority > nodes[r].priority ? l : r)
    }
    let child = nodes[i].left != Self.none ? nodes[i].left : nodes[i].right
    let parent = nodes[i].parent
    if child != Self.none { nodes[child].parent = parent }
    replaceChild(of: parent, i, with: child)
    nodes[i].left = freeNode
    nodes[i].right = Self.none
    nodes[i].parent = Self.none
    freeNode = i
    count -= 1
  }

  private mutating func makeNode(lo: UInt64, hi: UInt64) -> Int {
    seed &+= splitMix64Gamma
    let node = Node(lo: lo, hi: hi, priority: splitMix64Mix(seed))
    guard freeNode != Self.none else {
      nodes.append(node)
      return nodes.count - 1
    }
    let i = freeNode
    freeNode = nodes[i].left
    nodes[i] = node
    return i
  }

  /// Rotates `x` above its parent.
  private mutating func rotateUp(_ x: Int) {
    let p = nodes[x].parent
    let g = nodes[p].parent
    if nodes[p].left == x {
      let b = nodes[x].right
      nodes[p].left = b
      if b != Self.none { nodes[b].parent = p }
      nodes[x].right = p
    } else {
      let b = nodes[x].left
      nodes[p].right = b
      if b != Self.none { nodes[b].parent = p }
      nodes[x].left = p
    }
    nodes[p].parent = x
    nodes[x].parent = g
    replaceChild(of: g, p, with: x)
  }

  private mutating func replaceChild(of parent: Int, _ old: Int, with new: Int) {
    if parent == Self.none {
      root = new
    } else if nodes[parent].left == old {
      nodes[parent].left = new
    } else {
      nodes[parent].right = new
    }
  }
}
