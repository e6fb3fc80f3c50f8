/// The keys of a cache in the order they were last used, for an O(1)
/// (amortized) least-recently-used victim: each use appends `(stamp, key)`
/// with a stamp larger than every earlier one, and an item whose stamp is
/// no longer its key's current stamp is stale and skipped. So the first
/// current item holds the smallest stamp of the live keys, the entry a scan
/// for the minimum stamp would pick. Stale items are dropped from the front
/// as they are met and by a compaction once they outnumber the live keys,
/// so the queue holds at most `2 × live + 32` items (and as many dropped
/// ones, until the next use gives their slots back).
struct RecencyQueue<Key: Hashable> {
  private var items: [(stamp: UInt64, key: Key)] = []
  private var head = 0
  /// Items looked at by `oldest` and compactions: the work, for tests.
  private(set) var visited: UInt64 = 0

  /// The items kept now (stale ones included).
  var storedCount: Int { items.count - head }

  /// Records that `key` was used at `stamp` (larger than every stamp before).
  /// `live` is how many keys are cached; `current` gives a key's stamp now.
  mutating func use(_ key: Key, stamp: UInt64, live: Int, current: (Key) -> UInt64?) {
    items.append((stamp, key))
    if items.count - head > 2 * live + 32 {
      compact(current)
    } else if head > 32 && head >= items.count / 2 {
      // The front's dropped items: give their slots back.
      items.removeSubrange(0..<head)
      head = 0
    }
  }

  /// The key with the smallest current stamp, or nil when none is live.
  mutating func oldest(current: (Key) -> UInt64?) -> Key? {
    while head < items.count {
      visited &+= 1
      let item = items[head]
      if current(item.key) == item.stamp { return item.key }
      head += 1
    }
    items.removeAll(keepingCapacity: true)
    head = 0
    return nil
  }

  /// Forgets every item (the cache was emptied).
  mutating func removeAll() {
    items.removeAll()
    head = 0
  }

  private mutating func compact(_ current: (Key) -> UInt64?) {
    var kept: [(stamp: UInt64, key: Key)] = []
    kept.reserveCapacity(items.count - head)
    for i in head..<items.count {
      visited &+= 1
      if current(items[i].key) == items[i].stamp { kept.append(items[i]) }
    }
    items = kept
    head = 0
  }
}
