import KernelTypes

/// An open-addressing hash map from `(device, address)` keys to an `Int32`
/// (linear probing, backward-shift deletion, power-of-two capacity, at most
/// half full, keyed hash as in `U64Table`): the DMA-API accounting's lookups
/// by device and DMA (or first physical) address, which
/// `kernel/dma/debug.c` `bucket_find_exact()` does in its hash of
/// `dma_debug_entry`s. Nothing iterates it, so its seed never reaches the output.
package final class KeyTable {
  /// Device ids are never negative: `Int32.min` marks an empty slot.
  private static let empty = Int32.min
  @exclusivity(unchecked) private var devices: UnsafeMutablePointer<Int32>
  @exclusivity(unchecked) private var addresses: UnsafeMutablePointer<UInt64>
  @exclusivity(unchecked) private var values: UnsafeMutablePointer<Int32>
  @exclusivity(unchecked) private var capacity: Int
  @exclusivity(unchecked) private var shift: UInt64
  @exclusivity(unchecked) package private(set) var count = 0
  private let minimumCapacity: Int
  private let seed: UInt64

  package init(capacity: Int = 64) {
    var c = 16
    while c < capacity { c <<= 1 }
    minimumCapacity = c
    var rng = SystemRandomNumberGenerator()
    seed = rng.next()
    self.capacity = c
    shift = UInt64(64 - c.trailingZeroBitCount)
    (devices, addresses, values) = Self.emptySlots(c)
  }

  /// `capacity` empty slots: the three columns.
  private static func emptySlots(
    _ capacity: Int
  ) -> (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<Int32>) {
    let devices = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
    devices.initialize(repeating: empty, count: capacity)
    let addresses = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
    addresses.initialize(repeating: 0, count: capacity)
    let values = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
    values.initialize(repeating: 0, count: capacity)
    return (devices, addresses, values)
  }

  deinit {
    devices.deallocate()
    addresses.deallocate()
    values.deallocate()
  }

  @inline(__always) func ideal(_ device: Int32, _ address: UInt64) -> Int {
    // Two keyed rounds: with one (`address ^ device * C`, mixed), a trace
    // could pick addresses that cancel the device term and put every key in
    // one probe run whatever the seed.
    let x = splitMix64Mix(splitMix64Mix(address ^ seed) ^ UInt64(UInt32(bitPattern: device)) ^ seed)
    return Int(truncatingIfNeeded: x >> shift)
  }

  @inline(__always) private func find(_ device: Int32, _ address: UInt64) -> Int? {
    let mask = capacity - 1
    var i = ideal(device, address)
    while true {
      let d = devices[i]
      if d == device, addresses[i] == address { return i }
      if d == Self.empty { return nil }
      i = (i + 1) & mask
    }
  }

  /// The value stored for the key.
  @inline(__always) package subscript(device: Int32, address: UInt64) -> Int32? {
    guard count > 0, device != Self.empty, let i = find(device, address) else { return nil }
    return values[i]
  }

  /// Stores `value` for the key, replacing any.
  package func set(device: Int32, address: UInt64, _ value: Int32) {
    guard device != Self.empty else { return }
    // One probe finds the key or the free slot it takes (the table grows
    // first when one more key would fill it past half).
    if (count + 1) * 2 > capacity { resize(capacity * 2) }
    let mask = capacity - 1
    var i = ideal(device, address)
    while true {
      let d = devices[i]
      if d == device, addresses[i] == address {
        values[i] = value
        return
      }
      if d == Self.empty { break }
      i = (i + 1) & mask
    }
    devices[i] = device
    addresses[i] = address
    values[i] = value
    count += 1
  }

  /// Removes the key; returns its value.
  @discardableResult
  package func remove(device: Int32, address: UInt64) -> Int32? {
    guard count > 0, device != Self.empty, let slot = find(device, address) else { return nil }
    let v = values[slot]
    let mask = capacity - 1
    var i = slot
    var j = slot
    while true {
      j = (j + 1) & mask
      let dj = devices[j]
      if dj == Self.empty { break }
      let k = ideal(dj, addresses[j])
      let stays = i <= j ? (i < k && k <= j) : (i < k || k <= j)
      if stays { continue }
      devices[i] = dj
      addresses[i] = addresses[j]
      values[i] = values[j]
      i = j
    }
    devices[i] = Self.empty
    count -= 1
    if capacity > minimumCapacity, count * 8 < capacity { resize(capacity / 2) }
    return v
  }

  private func resize(_ newCapacity: Int) {
    let oldDevices = devices
    let oldAddresses = addresses
    let oldValues = values
    let oldCapacity = capacity
    capacity = newCapacity
    shift = UInt64(64 - newCapacity.trailingZeroBitCount)
    (devices, addresses, values) = Self.emptySlots(newCapacity)
    let mask = newCapacity - 1
    for s in 0..<oldCapacity where oldDevices[s] != Self.empty {
      var i = ideal(oldDevices[s], oldAddresses[s])
      while devices[i] != Self.empty { i = (i + 1) & mask }
      devices[i] = oldDevices[s]
      addresses[i] = oldAddresses[s]
      values[i] = oldValues[s]
    }
    oldDevices.deallocate()
    oldAddresses.deallocate()
    oldValues.deallocate()
  }
}
