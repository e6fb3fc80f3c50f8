import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// Sub-page DMA: what a mapping of a kmalloc object exposes. The IOMMU maps
/// whole pages, so a device can reach every object that shares a page with
/// the one mapped (D-KASAN, EuroSys 2021). No kernel tool sees these:
/// IOMMU_DEBUG_PAGEALLOC counts pages, KASAN checks CPU accesses only.
extension Sanitizer {
  /// Which of the kernel's tools would have seen an object-level report.
  static let objectToolsNote =
    "no kernel tool: IOMMU_DEBUG_PAGEALLOC counts mapped pages (the page stays allocated) and KASAN checks CPU accesses only"

  /// `alloc <stack>`, the allocating function in the driver, for messages.
  static func site(_ o: SlabObject) -> String {
    let driver = o.allocStack.first { $0.isDriver } ?? o.allocStack.last
    guard let driver else { return "an unknown site" }
    let place = driver.file.map { f in driver.line.map { " (\(f):\($0))" } ?? " (\(f))" } ?? ""
    return "\(driver.function)\(place) by task \(o.allocTask.pid) (\(o.allocTask.comm))"
  }

  static func describe(_ o: SlabObject) -> String { "\(o.cache) object \(o.address)" }

  /// The streaming mapping of `device` whose pages hold `iova`, with its key.
  func dmaEntry(_ device: Device, iova: UInt64) -> (UInt64, DMAEntry)? {
    let granule = device.domain?.granule ?? machine.memory.pageSize
    return state.withLock { s in
      let from = iova >= granule ? iova - granule : 0
      let through = iova.addingReportingOverflow(granule).overflow ? UInt64.max : iova + granule
      // The lowest DMA address among the mappings whose pages hold `iova`.
      var best: (UInt64, DMAEntry)?
      for (k, e) in s.dmaEntries(of: device.name, from: from, through: through) {
        let start = k.address & ~(granule - 1)
        let (end, o) = (k.address &+ e.size).addingReportingOverflow(granule - 1)
        guard iova >= start && (o || iova < end & ~(granule - 1)) else { continue }
        if best.map({ k.address < $0.0 }) ?? true { best = (k.address, e) }
      }
      return best
    }
  }

  /// The ground truth for sub-page DMA: an access through a mapping made for
  /// one kmalloc object that touches another live object (a neighbour in the
  /// page, or a new object in the slot of the freed one).
  func checkObjectAccess(_ event: DeviceAccessEvent, phys: PhysicalAddress) {
    guard event.pasid == nil, machine.hasSlabObjects,
      let (dmaAddress, entry) = dmaEntry(event.device, iova: event.iova.rawValue), let mapped = entry.object
    else { return }
    let hit = machine.slabObjects(overlapping: phys.rawValue, length: UInt64(event.length))
    for other in hit where other.serial != mapped.serial {
      let rw = event.isWrite ? "write" : "read"
      let reused = other.address == mapped.address
      let relation =
        reused
        ? "which reuses the slot of the freed \(Self.describe(mapped)) the mapping was made for"
        : "a neighbour in the page of the \(Self.describe(mapped)) the mapping was made for"
      let offset = phys.rawValue >= other.address.rawValue ? phys.rawValue - other.address.rawValue : 0
      let finding = Finding(
        kind: .dmaNeighbourObjectAccess,
        headline:
          "iommusan: DMA outside its object: \(event.device.name) \(rw) of \(event.length) bytes at iova "
          + "\(event.iova) lands \(offset) bytes into \(Self.describe(other)) allocated at \(Self.site(other)), "
          + relation,
        warningSite: WarningSite.Emulator.dmaNeighbourObject,
        frames: ["iommusan_dma_ground_truth", "iommusan_device_access"], phys: phys, iova: event.iova,
        domain: event.domain?.name, device: event.device.name,
        details: [
          Detail("access", .string(rw)), Detail("length", .int(Int64(event.length))),
          Detail("mapping", .hex(dmaAddress)), Detail("mapped object", .string(Self.describe(mapped))),
          Detail("mapped object allocated at", .string(Self.site(mapped))),
          Detail("object hit", .string(Self.describe(other))),
          Detail("object hit allocated at", .string(Self.site(other))),
          Detail("offset in object", .int(Int64(clamping: offset))), Detail("seen by", .string(Self.objectToolsNote)),
        ])
      report(finding, context: event.context)
      return
    }
  }

  package func slabEvent(_ event: SlabEvent, context: CallContext) {
    guard case .freeing(let object) = event else { return }
    // A live streaming mapping whose bytes overlap the object.
    let covering = state.withLock { s -> (DMAKey, DMAEntry)? in
      var best: (DMAKey, DMAEntry)?
      let last = DMAEntryIndex.last(object.address.rawValue, object.objectSize)
      for (k, e) in s.dmaEntries(physFrom: object.address.rawValue, through: last) {
        let (end, o) = e.phys.rawValue.addingReportingOverflow(e.size)
        guard e.phys.rawValue < object.end, o || end > object.address.rawValue else { continue }
        if best.map({ (k.device, k.address) < ($0.0.device, $0.0.address) }) ?? true { best = (k, e) }
      }
      return best
    }
    guard let (key, entry) = covering else { return }
    let device = machine.device(named: key.device)
    let finding = Finding(
      kind: .slabFreedWhileMapped,
      headline:
        "iommusan: kfree() of \(Self.describe(object)) allocated at \(Self.site(object)) while \(key.device)'s DMA "
        + "mapping \(IOVA(key.address)) (\(entry.size) bytes, \(entry.direction.kernelEnumName)) still covers it",
      warningSite: WarningSite.Emulator.slabFree,
      frames: ["iommusan_check_slab_free", "kfree"], pfn: object.address.pfn(pageShift: pageShift),
      phys: object.address, iova: IOVA(key.address), domain: device?.domain?.name, device: key.device,
      details: [
        Detail("object", .string(Self.describe(object))), Detail("object size", .int(Int64(object.objectSize))),
        Detail("allocated at", .string(Self.site(object))), Detail("mapping phys", .hex(entry.phys.rawValue)),
        Detail("mapping size", .int(Int64(clamping: entry.size))), Detail("seen by", .string(Self.objectToolsNote)),
      ])
    report(finding, context: context)
  }
}
