/// The cache of freed IOVA ranges of one size order: magazines of page
/// numbers that stay allocated in the tree and go to the next allocation of
/// that order, last freed first.
///
/// The kernel keeps a loaded and a previous magazine per CPU and a depot of
/// full ones per domain; the emulator's tasks all run on CPU 0, so there is
/// one pair. The depot is trimmed by no delayed work (`iova_depot_work_func()`
/// returns a magazine to the tree every 100 ms while the depot holds more
/// than one per CPU): its magazines wait for the flush of a failed
/// allocation. The corresponding Linux structure is `struct iova_rcache`.
struct IOVARCache {
  /// `IOVA_MAG_SIZE`: the page numbers one magazine holds.
  static let magazineSize = 127
  /// `IOVA_RANGE_CACHE_MAX_SIZE`: sizes of order below it are cached.
  static let rangeCacheMaxSize = 6
  /// What one magazine costs: its 127 page numbers and the array's header.
  static let magazineBytes = 1088

  /// The corresponding Linux structure is `struct iova_magazine`.
  struct Magazine {
    var pfns: [UInt64] = []

    var isFull: Bool { pfns.count == IOVARCache.magazineSize }
    var isEmpty: Bool { pfns.isEmpty }

    /// Takes the last page number at or below `limitPFN`, the one found
    /// nearest the top, moving the top into its place.
    /// The corresponding Linux function is `iova_magazine_pop()`.
    mutating func pop(limitPFN: UInt64) -> UInt64? {
      guard let i = pfns.lastIndex(where: { $0 <= limitPFN }) else { return nil }
      let pfn = pfns[i]
      pfns[i] = pfns[pfns.count - 1]
      pfns.removeLast()
      return pfn
    }

    /// The corresponding Linux function is `iova_magazine_push()`.
    mutating func push(_ pfn: UInt64) {
      if pfns.isEmpty { pfns.reserveCapacity(IOVARCache.magazineSize) }
      pfns.append(pfn)
    }
  }

  /// CPU 0's magazines: `cpu_rcache->loaded` and `cpu_rcache->prev`.
  var loaded = Magazine()
  var previous = Magazine()
  /// Full magazines, the last pushed on top: `depot`.
  private(set) var depot: [Magazine] = []
  /// The magazines allocated (loaded, previous and the depot's): what the
  /// resident budget is charged for (`iovaMagazines`).
  private(set) var magazines = 0

  /// Caches `pfn`; false when a new magazine is needed and `newMagazine`
  /// refuses it (the caller frees the range into the tree, as the kernel
  /// does when `iova_magazine_alloc()` fails).
  /// The corresponding Linux function is `__iova_rcache_insert()`.
  mutating func insert(_ pfn: UInt64, newMagazine: () -> Bool) -> Bool {
    if loaded.isFull {
      if !previous.isFull {
        swap(&loaded, &previous)
      } else {
        guard newMagazine() else { return false }
        depot.append(loaded)
        loaded = Magazine()
        loaded.pfns.reserveCapacity(Self.magazineSize)
        magazines += 1
      }
    }
    if loaded.pfns.capacity == 0 {
      // The first use of this CPU's magazine (init_iova_rcaches() allocates both).
      guard newMagazine() else { return false }
      loaded.pfns.reserveCapacity(Self.magazineSize)
      magazines += 1
    }
    loaded.push(pfn)
    return true
  }

  /// A cached page number at or below `limitPFN`, taken out of the cache.
  /// The corresponding Linux function is `__iova_rcache_get()`.
  mutating func get(limitPFN: UInt64) -> UInt64? {
    if loaded.isEmpty {
      if !previous.isEmpty {
        swap(&loaded, &previous)
      } else if let full = depot.popLast() {
        // iova_magazine_free(cpu_rcache->loaded).
        if loaded.pfns.capacity > 0 { magazines -= 1 }
        loaded = full
      } else {
        return nil
      }
    }
    return loaded.pop(limitPFN: limitPFN)
  }

  /// Takes the depot's magazines out; they are freed.
  mutating func takeDepot() -> [Magazine] {
    let taken = depot
    depot = []
    magazines -= taken.count
    return taken
  }
}
