import FixtureLanguage
import FixtureRunner
import KernelTypes

/// `iommusan conformance`: checks the checker. Every sequence of up to
/// `depth` operations (maps, unmaps larger than asked and partial, a map
/// failing half-way, free, alloc) runs on a small domain of each page-table
/// format and granule, under exact accounting and under kernel accounting
/// as each release of `KernelVersion.Fix` counts; after each operation the
/// map counts are compared with the ground truth, the leaves of the page
/// tables. A change in how far they differ is a divergence, and each class
/// of divergence is kept with its shortest example (docs/Conformance.md).
package enum Conformance {
  /// Enumerates and classifies. Deterministic: formats, accountings and
  /// operations in a fixed order, sequences breadth first.
  package static func check(_ options: ConformanceOptions) -> ConformanceResult {
    var result = ConformanceResult(depth: options.depth)
    for format in options.formats {
      for accounting in options.accountings {
        explore(format: format, accounting: accounting, depth: options.depth, into: &result)
      }
    }
    result.classes.sort { ($0.explanation == nil ? 1 : 0, $0.key) < ($1.explanation == nil ? 1 : 0, $1.key) }
    return result
  }

  /// One node of the search: the operations that led to a state.
  private struct Node {
    var ops: [ConformanceOperation]
    var allocated: Bool
  }

  /// What a state is made of, for deduplication: equal keys behave alike.
  private struct StateKey: Hashable {
    var counts: [Int64]
    var truth: [Int64]
    var leaves: [UInt64]
    var allocated: Bool
  }

  private static func explore(
    format: ConformanceFormat, accounting: ConformanceAccounting, depth: Int, into result: inout ConformanceResult
  ) {
    var seen: Set<StateKey> = []
    var frontier = [Node(ops: [], allocated: true)]
    for _ in 0..<depth {
      var next: [Node] = []
      for node in frontier {
        for op in format.operations where op.applies(allocated: node.allocated) {
          let ops = node.ops + [op]
          guard let step = run(format: format, accounting: accounting, ops: ops) else { continue }
          result.sequences += 1
          if let divergence = step.divergence {
            result.add(divergence, format: format, accounting: accounting, ops: ops)
          }
          guard seen.insert(step.key).inserted else { continue }
          result.states += 1
          next.append(Node(ops: ops, allocated: op.allocatedAfter(node.allocated)))
        }
      }
      frontier = next
    }
  }

  /// The outcome of running a sequence: its final state and what its last
  /// operation did to the counts and the truth.
  private struct Step {
    var key: StateKey
    var divergence: ConformanceDivergence?
  }

  private static func run(format: ConformanceFormat, accounting: ConformanceAccounting, ops: [ConformanceOperation])
    -> Step?
  {
    let text = fixtureText(format: format, accounting: accounting, ops: ops)
    let parsed = FixtureParser.parse(text: text, file: "conformance.fixture")
    guard case .success(let session) = FixtureSession.start(parsed: parsed, options: RunOptions(), steps: nil)
    else { return nil }
    defer { _ = session.finish() }
    let setup = parsed.statements.count - ops.count
    for i in 0..<setup where !session.runStatement(i) { return nil }
    guard let head = session.pfn(of: "blk") else { return nil }
    let pfns = head..<(head + (UInt64(1) << UInt64(format.blockOrder)))
    for i in setup..<(parsed.statements.count - 1) {
      guard session.runStatement(i) else { return nil }
    }
    let (before, leavesBefore) = session.countsAndTruth(pfns: pfns)
    guard session.runStatement(parsed.statements.count - 1), let outcome = session.lastOutcome else { return nil }
    let (pages, leaves) = session.countsAndTruth(pfns: pfns)
    let after = pages
    let key = StateKey(
      counts: after.map(\.count), truth: after.map(\.truth), leaves: leaves,
      allocated: ops.last!.allocatedAfter(ops.dropLast().reduce(true) { $1.allocatedAfter($0) }))
    // Pages whose difference changed and is not zero now.
    var changed: [Int] = []
    for i in after.indices {
      let d0 = before[i].count - before[i].truth
      let d1 = after[i].count - after[i].truth
      if d1 != d0 && d1 != 0 { changed.append(i) }
    }
    guard !changed.isEmpty, let last = ops.last else { return Step(key: key, divergence: nil) }
    let over = changed.contains { after[$0].count > after[$0].truth }
    let under = changed.contains { after[$0].count < after[$0].truth }
    let pagesPerGranule = Int(format.granule >> 12)
    let tails = pagesPerGranule > 1 && changed.allSatisfy { $0 % pagesPerGranule != 0 }
    let leavesAfter = leafSet(leaves)
    // A map that returned 0 but added no leaf, or left part of its range unmapped, failed.
    var covered = leafSet(leavesBefore) != leavesAfter
    if case .map(let offset, let size) = last {
      var a = ConformanceFormat.base + offset
      while a < ConformanceFormat.base + offset + size {
        covered = covered && leavesAfter.contains { a >= $0[0] && a - $0[0] < 1 << $0[1] }
        a += format.granule
      }
    }
    let trigger = last.trigger(
      errno: outcome.error?.name, unmapped: outcome.unmapped,
      leavesLost: !leafSet(leavesBefore).isSubset(of: leavesAfter),
      covered: covered)
    return Step(
      key: key,
      divergence: ConformanceDivergence(
        trigger: trigger, direction: over && under ? .mixed : over ? .over : .under, granuleTails: tails,
        pages: changed.count))
  }

  /// Each leaf (IOVA, shift) of runs given as (IOVA, size, shift) triples.
  private static func leafSet(_ flat: [UInt64]) -> Set<[UInt64]> {
    var leaves: Set<[UInt64]> = []
    var i = 0
    while i + 2 < flat.count {
      let (iova, size, shift) = (flat[i], flat[i + 1], flat[i + 2])
      var offset: UInt64 = 0
      while offset < size {
        leaves.insert([iova &+ offset, shift])
        offset &+= 1 << shift
      }
      i += 3
    }
    return leaves
  }

  /// The fixture that runs `ops` on `format` under `accounting`: the
  /// machine, a domain, `blk` allocated, then one statement per operation.
  package static func fixtureText(
    format: ConformanceFormat, accounting: ConformanceAccounting, ops: [ConformanceOperation]
  ) -> String {
    var lines = [
      "cmdline \"\(accounting.cmdline)\"",
      "memory 16M",
      "iommu u0 \(format.iommuArguments)",
      "d = domain u0",
      "blk = alloc_pages order=\(format.blockOrder)",
    ]
    lines += ops.map(\.statement)
    return lines.joined(separator: "\n") + "\n"
  }
}
