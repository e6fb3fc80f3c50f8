import KernelTypes
import Testing

@testable import Replay

/// The range walk of a page-keyed table (`forEachKey`, its early exit, and
/// `keyCount` by bucket occupancy) against a plain scan of the keys.
@Suite struct U64TableRangeTests {
  @Test func walkAndCountMatchAScan() {
    let table = U64Table(capacity: 64, rangeIndexed: true)
    var keys: Set<UInt64> = []
    // Keys in clusters across 65,536-page and 256-page bucket edges, some removed again.
    for i in UInt64(0)..<3000 {
      let k = 0x10_0000 + splitMix64Mix(i) % 0x3_0000
      if keys.insert(k).inserted { table.add(k, 1, owner: 0) }
    }
    for k in keys.sorted().prefix(500) {
      table.add(k, -1, owner: 0)
      keys.remove(k)
    }
    let ranges: [(UInt64, UInt64)] = [
      (0, 0x20_0000), (0x10_0000, 0x10_00FF), (0x10_00FF, 0x11_0100), (0x10_FF00, 0x12_FFFF),
      (0x11_0000, 0x11_FFFF), (0x12_3456, 0x12_3456), (0x13_0000, 0x14_0000),
    ]
    for (lo, hi) in ranges {
      let expected = keys.filter { $0 >= lo && $0 <= hi }.sorted()
      var walked: [UInt64] = []
      table.forEachKey(from: lo, through: hi) { k, _, _ in walked.append(k) }
      #expect(walked == expected)
      #expect(table.keyCount(from: lo, through: hi) == expected.count)
      var first: [UInt64] = []
      table.forEachKey(from: lo, through: hi) { k, _, _ in
        first.append(k)
        return first.count < 10
      }
      #expect(first == Array(expected.prefix(10)))
    }
  }
}
