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
