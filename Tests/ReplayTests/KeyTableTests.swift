import Testing

@testable import Replay

/// `KeyTable` (the DMA-API accounting's open-addressing map by device and
/// address) agrees with a `Dictionary` through random inserts, replacements
/// and removals that grow it, crowd few keys into clusters and shrink it again.
@Suite struct KeyTableTests {
  struct Key: Hashable {
    var device: Int32
    var address: UInt64
  }

  @Test func agreesWithDictionary() {
    let table = KeyTable(capacity: 16)
    var reference: [Key: Int32] = [:]
    var state: UInt64 = 0x1234_5678
    func next() -> UInt64 {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return state >> 17
    }
    for round in 0..<40_000 {
      // Few devices, addresses in a small range: collisions and clusters; phases of growth and of removal.
      let key = Key(device: Int32(next() % 3), address: (next() % 3000) << 12)
      let removing = (round / 5000) % 2 == 1 ? next() % 4 != 0 : next() % 4 == 0
      if removing {
        #expect(table.remove(device: key.device, address: key.address) == reference.removeValue(forKey: key))
      } else {
        let v = Int32(truncatingIfNeeded: next())
        table.set(device: key.device, address: key.address, v)
        reference[key] = v
      }
      #expect(table.count == reference.count)
    }
    for d in Int32(0)..<3 {
      for a in UInt64(0)..<3000 {
        #expect(table[d, a << 12] == reference[Key(device: d, address: a << 12)])
      }
    }
    #expect(table[Int32.min, 0] == nil)
  }

  /// Keys chosen to cancel a one-round hash (`address ^ device * C`: device k
  /// at `base ^ k * C`, as a trace can pick device order and DMA addresses)
  /// still spread over the table: with one round they all had one slot.
  @Test func keysThatCancelTheDeviceTermSpread() {
    let table = KeyTable(capacity: 8192)
    var slots = Set<Int>()
    for k in 0..<4096 {
      slots.insert(table.ideal(Int32(k), 0x1234_5678_9000 ^ (UInt64(k) &* 0x9E37_79B9_7F4A_7C15)))
    }
    // Random slots for 4,096 keys in 8,192: about 3,200 distinct.
    #expect(slots.count > 2500)
  }
}
