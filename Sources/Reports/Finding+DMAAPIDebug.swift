import KernelTypes
import MemoryModel

/// What `check_unmap()` in `kernel/dma/debug.c` (CONFIG_DMA_API_DEBUG)
/// found wrong with an unmap or free, with the values its message prints.
package enum DMAAPIUnmapProblem: Sendable, Hashable {
  /// `DMA_MAPPING_ERROR`: "tries to free an invalid DMA memory address".
  case invalidAddress(size: UInt64)
  /// No entry at the device address: "tries to free DMA memory it has not allocated".
  case notAllocated(size: UInt64)
  case differentSize(mapSize: UInt64, unmapSize: UInt64)
  /// Unmapped through another function than it was mapped with (`type2name[]`).
  case wrongFunction(size: UInt64, mappedAs: DMADebugType, unmappedAs: DMADebugType)
  /// `dir2name[]`: a nil direction prints `DMA_NONE`.
  case differentDirection(size: UInt64, mappedWith: DMADirection?, unmappedWith: DMADirection?)
  /// An sg list unmapped with another entry count than it was mapped with.
  case sgDifferentCount(mapCount: Int, unmapCount: Int)
  /// A coherent or `dma_alloc_pages()` buffer freed with another CPU address
  /// than it was allocated with. `traced`: the addresses are the trace's
  /// `virt_addr=` (`%p`), not the physical addresses the kernel compares.
  case differentCPUAddress(size: UInt64, allocAddress: UInt64, freeAddress: UInt64, traced: Bool)

  var kind: ReportKind {
    switch self {
    case .invalidAddress, .notAllocated: .dmaUnmapNotMapped
    default: .dmaUnmapMismatch
    }
  }

  /// The `err_printk()` that prints it: each is its own WARN site.
  var site: WarningSite {
    switch self {
    case .invalidAddress: .checkUnmapInvalidAddress
    case .notAllocated: .checkUnmapNotAllocated
    case .differentSize: .checkUnmapSize
    case .wrongFunction: .checkUnmapType
    case .differentDirection: .checkUnmapDirection
    case .sgDifferentCount: .checkUnmapSGCount
    case .differentCPUAddress: .checkUnmapCPUAddress
    }
  }
}

/// The fields of a `dma_debug_entry` that `check_unmap()` compares: the
/// entry found and the reference built from the unmap or free (`ref`). A nil
/// field is one the caller does not know (an untraced direction, an sg unmap
/// that names no size), and takes part in no comparison.
package struct DMADebugEntryFields: Sendable, Hashable {
  package var size: UInt64?
  package var type: DMADebugType?
  package var direction: DMADirection?
  /// `sg_call_ents`: the `nents` passed to `dma_map_sg()` / `dma_unmap_sg()`.
  package var sgCallEntries: Int?
  /// `paddr` of a coherent or `dma_alloc_pages()` entry (the CPU address).
  package var cpuAddress: UInt64?

  package init(
    size: UInt64?, type: DMADebugType? = nil, direction: DMADirection?, sgCallEntries: Int? = nil,
    cpuAddress: UInt64? = nil
  ) {
    self.size = size
    self.type = type
    self.direction = direction
    self.sgCallEntries = sgCallEntries
    self.cpuAddress = cpuAddress
  }
}

extension DMAAPIUnmapProblem {
  /// What `check_unmap()` finds wrong when the entry it looked up differs
  /// from `ref`, in the kernel's order: size, function (else CPU address),
  /// sg entry count, direction. Each message prints the reference's size, as
  /// the kernel's do (`ref->size`). `cpuAddressesTraced`: the CPU addresses
  /// are the trace's `%p` values (replay of 6.13 on), not physical ones.
  /// The corresponding Linux function is `check_unmap()`.
  package static func mismatches(
    entry: DMADebugEntryFields, ref: DMADebugEntryFields, cpuAddressesTraced: Bool = false
  ) -> [DMAAPIUnmapProblem] {
    var problems: [DMAAPIUnmapProblem] = []
    let size = ref.size ?? entry.size ?? 0
    if let r = ref.size, let e = entry.size, r != e { problems.append(.differentSize(mapSize: e, unmapSize: r)) }
    if let r = ref.type, let e = entry.type, r != e {
      problems.append(.wrongFunction(size: size, mappedAs: e, unmappedAs: r))
    } else if entry.type == .coherent || entry.type == .noncoherent, let e = entry.cpuAddress,
      let r = ref.cpuAddress, r != e
    {
      problems.append(.differentCPUAddress(size: size, allocAddress: e, freeAddress: r, traced: cpuAddressesTraced))
    }
    // `ref->sg_call_ents && ...`: an unmap that passes no entries compares none.
    if let r = ref.sgCallEntries, r != 0, let e = entry.sgCallEntries, r != e {
      problems.append(.sgDifferentCount(mapCount: e, unmapCount: r))
    }
    if let r = ref.direction, let e = entry.direction, r != e {
      problems.append(.differentDirection(size: size, mappedWith: e, unmappedWith: r))
    }
    return problems
  }
}

extension Finding {
  /// `check_unmap()`'s `err_printk()`: `WARN(1, "DMA-API: %s %s: <message>", dev_driver_string(dev),
  /// dev_name(dev), ...)`, shared by the sanitizer and replay. The engine adds the page, IOVA, domain
  /// and device. `frames` are the kernel's path into `check_unmap()`, innermost first.
  package static func dmaAPICheckUnmap(
    _ problem: DMAAPIUnmapProblem, driver: String, device: String, dmaAddress: UInt64, frames: [String]
  ) -> Finding {
    let address = "[device address=\(dmaAddress.hex16)]"
    let text: String
    let details: [Detail]
    switch problem {
    case .invalidAddress(let size):
      text = "device driver tries to free an invalid DMA memory address"
      details = [Detail("size", .int(Int64(clamping: size)))]
    case .notAllocated(let size):
      text = "device driver tries to free DMA memory it has not allocated \(address) [size=\(size) bytes]"
      details = [Detail("size", .int(Int64(clamping: size)))]
    case .differentSize(let mapSize, let unmapSize):
      text =
        "device driver frees DMA memory with different size \(address) [map size=\(mapSize) bytes] "
        + "[unmap size=\(unmapSize) bytes]"
      details = [
        Detail("map size", .int(Int64(clamping: mapSize))), Detail("unmap size", .int(Int64(clamping: unmapSize))),
      ]
    case .wrongFunction(let size, let mapped, let unmapped):
      text =
        "device driver frees DMA memory with wrong function \(address) [size=\(size) bytes] "
        + "[mapped as \(mapped.rawValue)] [unmapped as \(unmapped.rawValue)]"
      details = [Detail("mapped as", .string(mapped.rawValue)), Detail("unmapped as", .string(unmapped.rawValue))]
    case .differentDirection(let size, let mapped, let unmapped):
      let m = DMADirection.kernelEnumName(mapped)
      let u = DMADirection.kernelEnumName(unmapped)
      text =
        "device driver frees DMA memory with different direction \(address) [size=\(size) bytes] "
        + "[mapped with \(m)] [unmapped with \(u)]"
      details = [
        Detail("mapped with", .string(String(m.dropFirst(4)))),
        Detail("unmapped with", .string(String(u.dropFirst(4)))),
      ]
    case .sgDifferentCount(let mapCount, let unmapCount):
      text =
        "device driver frees DMA sg list with different entry count [map count=\(mapCount)] [unmap count=\(unmapCount)]"
      details = [Detail("map count", .int(Int64(mapCount))), Detail("unmap count", .int(Int64(unmapCount)))]
    case .differentCPUAddress(let size, let alloc, let free, let traced):
      // `0x%pa`: `%pa` prints its own `0x` and 16 digits (`special_hex_number()`), so the kernel's text reads `0x0x`.
      text =
        "device driver frees DMA memory with different CPU address \(address) [size=\(size) bytes] "
        + "[cpu alloc address=0x\(alloc.hex16)] [cpu free address=0x\(free.hex16)]"
      details =
        [Detail("cpu alloc address", .string(alloc.hex16)), Detail("cpu free address", .string(free.hex16))]
        + (traced
          ? [
            Detail(
              "cpu addresses",
              .string(
                "the trace's virt_addr= values (%p, hashed unless no_hash_pointers; the same pointer hashes alike): "
                  + "the kernel prints the physical addresses"))
          ] : [])
    }
    let message = "DMA-API: \(driver) \(device): " + text
    return Finding(
      kind: problem.kind, headline: message, warnMessage: [message], warningSite: problem.site,
      frames: frames, details: details)
  }
}

/// What `check_sync()` in `kernel/dma/debug.c` (CONFIG_DMA_API_DEBUG) found
/// wrong with a `dma_sync_*()` call, with the values its message prints.
package enum DMAAPISyncProblem: Sendable, Hashable {
  /// No entry holds the range: "tries to sync DMA memory it has not allocated".
  case notAllocated(size: UInt64)
  /// The sync reaches past the entry (`entry` is the entry's device address).
  case outsideRange(entry: UInt64, entrySize: UInt64, syncSize: UInt64)
  case differentDirection(entrySize: UInt64, mappedWith: DMADirection, syncedWith: DMADirection)
  /// A sync for the CPU of memory the device only reads.
  case readOnlyForCPU(entrySize: UInt64, mappedWith: DMADirection, syncedWith: DMADirection)
  /// A sync for the device of memory the device only writes.
  case writeOnlyToDevice(entrySize: UInt64, mappedWith: DMADirection, syncedWith: DMADirection)
  /// An sg list synced with another entry count than it was mapped with.
  case sgDifferentCount(mapCount: Int, syncCount: Int)

  var kind: ReportKind {
    switch self {
    case .notAllocated: .dmaSyncNotMapped
    default: .dmaSyncMismatch
    }
  }

  /// The `err_printk()` that prints it: each is its own WARN site.
  var site: WarningSite {
    switch self {
    case .notAllocated: .checkSyncNotAllocated
    case .outsideRange: .checkSyncRange
    case .differentDirection: .checkSyncDirection
    case .readOnlyForCPU: .checkSyncReadOnly
    case .writeOnlyToDevice: .checkSyncWriteOnly
    case .sgDifferentCount: .checkSyncSGCount
    }
  }
}

extension Finding {
  /// `check_sync()`'s `err_printk()`, as `dmaAPICheckUnmap` for `check_unmap()`.
  /// The engine adds the page, IOVA, domain and device.
  package static func dmaAPICheckSync(
    _ problem: DMAAPISyncProblem, driver: String, device: String, dmaAddress: UInt64, frames: [String]
  ) -> Finding {
    let address = "[device address=\(dmaAddress.hex16)]"
    func directions(_ size: UInt64, _ mapped: DMADirection, _ synced: DMADirection) -> (String, [Detail]) {
      (
        "\(address) [size=\(size) bytes] [mapped with DMA_\(mapped.kernelName)] [synced with DMA_\(synced.kernelName)]",
        [Detail("mapped with", .string(mapped.kernelName)), Detail("synced with", .string(synced.kernelName))]
      )
    }
    let text: String
    let details: [Detail]
    switch problem {
    case .notAllocated(let size):
      text = "device driver tries to sync DMA memory it has not allocated \(address) [size=\(size) bytes]"
      details = [Detail("size", .int(Int64(clamping: size)))]
    case .outsideRange(let entry, let entrySize, let syncSize):
      text =
        "device driver syncs DMA memory outside allocated range [device address=\(entry.hex16)] "
        + "[allocation size=\(entrySize) bytes] [sync offset+size=\(syncSize)]"
      details = [Detail("allocation size", .int(Int64(clamping: entrySize)))]
    case .differentDirection(let size, let mapped, let synced):
      let (values, d) = directions(size, mapped, synced)
      (text, details) = ("device driver syncs DMA memory with different direction " + values, d)
    case .readOnlyForCPU(let size, let mapped, let synced):
      let (values, d) = directions(size, mapped, synced)
      (text, details) = ("device driver syncs device read-only DMA memory for cpu " + values, d)
    case .writeOnlyToDevice(let size, let mapped, let synced):
      let (values, d) = directions(size, mapped, synced)
      (text, details) = ("device driver syncs device write-only DMA memory to device " + values, d)
    case .sgDifferentCount(let mapCount, let syncCount):
      text =
        "device driver syncs DMA sg list with different entry count [map count=\(mapCount)] [sync count=\(syncCount)]"
      details = [Detail("map count", .int(Int64(mapCount))), Detail("sync count", .int(Int64(syncCount)))]
    }
    let message = "DMA-API: \(driver) \(device): " + text
    return Finding(
      kind: problem.kind, headline: message, warnMessage: [message], warningSite: problem.site,
      frames: frames, details: details)
  }
}
