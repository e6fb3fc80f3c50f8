import KernelTypes

/// The trace events replay reads. Anything else is counted as `other` and skipped.
package enum TraceEventType: Int, CaseIterable, Sendable, Hashable, BitwiseCopyable {
  // iommu:*
  case map, unmap, ioPageFault, addDeviceToGroup, removeDeviceFromGroup, attachDeviceToDomain,
    detachDeviceFromDomain
  // kmem:*
  case mmPageAlloc, mmPageFree, mmPageFreeBatched
  // dma:*
  case dmaMapPage, dmaUnmapPage, dmaMapResource, dmaUnmapResource, dmaMapSG, dmaUnmapSG, dmaAlloc,
    dmaFree, dmaAllocPages, dmaFreePages, dmaAllocSGT, dmaFreeSGT
  // dma:* of Linux 6.18 (`dma_map_page` renamed `dma_map_phys`) and the error and sync events.
  case dmaMapPhys, dmaUnmapPhys, dmaMapSGErr, dmaAllocSGTErr, dmaSyncSingleForCPU, dmaSyncSingleForDevice,
    dmaSyncSGForCPU, dmaSyncSGForDevice
  // intel_iommu:* (drivers/iommu/intel/trace.h, 6.10 on): the IOTLB invalidations of a VT-d domain,
  // one event per cache tag (device) of the domain.
  case cacheTagFlushRange, cacheTagFlushAll, cacheTagFlushRangeNP
  case other

  /// The event's name as ftrace prints it.
  package var name: String {
    switch self {
    case .map: "map"
    case .unmap: "unmap"
    case .ioPageFault: "io_page_fault"
    case .addDeviceToGroup: "add_device_to_group"
    case .removeDeviceFromGroup: "remove_device_from_group"
    case .attachDeviceToDomain: "attach_device_to_domain"
    case .detachDeviceFromDomain: "detach_device_from_domain"
    case .mmPageAlloc: "mm_page_alloc"
    case .mmPageFree: "mm_page_free"
    case .mmPageFreeBatched: "mm_page_free_batched"
    case .dmaMapPage: "dma_map_page"
    case .dmaUnmapPage: "dma_unmap_page"
    case .dmaMapResource: "dma_map_resource"
    case .dmaUnmapResource: "dma_unmap_resource"
    case .dmaMapSG: "dma_map_sg"
    case .dmaUnmapSG: "dma_unmap_sg"
    case .dmaAlloc: "dma_alloc"
    case .dmaFree: "dma_free"
    case .dmaAllocPages: "dma_alloc_pages"
    case .dmaFreePages: "dma_free_pages"
    case .dmaAllocSGT: "dma_alloc_sgt"
    case .dmaFreeSGT: "dma_free_sgt"
    case .dmaMapPhys: "dma_map_phys"
    case .dmaUnmapPhys: "dma_unmap_phys"
    case .dmaMapSGErr: "dma_map_sg_err"
    case .dmaAllocSGTErr: "dma_alloc_sgt_err"
    case .dmaSyncSingleForCPU: "dma_sync_single_for_cpu"
    case .dmaSyncSingleForDevice: "dma_sync_single_for_device"
    case .dmaSyncSGForCPU: "dma_sync_sg_for_cpu"
    case .dmaSyncSGForDevice: "dma_sync_sg_for_device"
    case .cacheTagFlushRange: "cache_tag_flush_range"
    case .cacheTagFlushAll: "cache_tag_flush_all"
    case .cacheTagFlushRangeNP: "cache_tag_flush_range_np"
    case .other: "other"
    }
  }

  /// A `dma:` event that creates a DMA mapping (it fires after the IOMMU map).
  var isDMAMap: Bool {
    switch self {
    case .dmaMapPage, .dmaMapPhys, .dmaMapResource, .dmaMapSG, .dmaAlloc, .dmaAllocPages, .dmaAllocSGT: true
    default: false
    }
  }

  /// Any `dma:` event.
  var isDMA: Bool {
    rawValue >= TraceEventType.dmaMapPage.rawValue && rawValue <= TraceEventType.dmaSyncSGForDevice.rawValue
  }

  /// An `intel_iommu:cache_tag_flush_*` event: an IOTLB invalidation.
  var isIOTLBFlush: Bool { self == .cacheTagFlushRange || self == .cacheTagFlushAll || self == .cacheTagFlushRangeNP }

  /// The `kernel/dma/debug.c` entry type of a DMA-API map or release event
  /// (`type2name[]`), nil for the others.
  var dmaDebugType: DMADebugType? {
    switch self {
    case .dmaMapPage, .dmaUnmapPage: .single
    case .dmaMapPhys, .dmaUnmapPhys: .phy
    case .dmaMapResource, .dmaUnmapResource: .resource
    case .dmaMapSG, .dmaUnmapSG, .dmaAllocSGT, .dmaFreeSGT: .scatterGather
    case .dmaAlloc, .dmaFree: .coherent
    case .dmaAllocPages, .dmaFreePages: .noncoherent
    default: nil
    }
  }

  /// A `dma:` event that releases one (before or after the IOMMU unmap).
  var isDMARelease: Bool {
    switch self {
    case .dmaUnmapPage, .dmaUnmapPhys, .dmaUnmapResource, .dmaUnmapSG, .dmaFree, .dmaFreePages, .dmaFreeSGT: true
    default: false
    }
  }

  /// The kernel's path from a DMA-API release event into `check_unmap()`, innermost first.
  var checkUnmapFrames: [String] {
    switch self {
    case .dmaUnmapPhys: ["check_unmap", "debug_dma_unmap_phys", "dma_unmap_phys"]
    case .dmaUnmapResource: ["check_unmap", "debug_dma_unmap_resource", "dma_unmap_resource"]
    case .dmaUnmapSG: ["check_unmap", "debug_dma_unmap_sg", "dma_unmap_sg_attrs"]
    case .dmaFree: ["check_unmap", "debug_dma_free_coherent", "dma_free_attrs"]
    case .dmaFreePages: ["check_unmap", "debug_dma_free_pages", "dma_free_pages"]
    case .dmaFreeSGT: ["check_unmap", "debug_dma_unmap_sg", "dma_free_noncontiguous"]
    default: ["check_unmap", "debug_dma_unmap_page", "dma_unmap_page_attrs"]
    }
  }

  /// The kernel's path from a `dma:dma_sync_*` event into `check_sync()`, innermost first.
  var checkSyncFrames: [String] {
    switch self {
    case .dmaSyncSingleForDevice: ["check_sync", "debug_dma_sync_single_for_device", "dma_sync_single_for_device"]
    case .dmaSyncSGForCPU: ["check_sync", "debug_dma_sync_sg_for_cpu", "dma_sync_sg_for_cpu"]
    case .dmaSyncSGForDevice: ["check_sync", "debug_dma_sync_sg_for_device", "dma_sync_sg_for_device"]
    default: ["check_sync", "debug_dma_sync_single_for_cpu", "dma_sync_single_for_cpu"]
    }
  }

  /// A `dma:dma_sync_*` event: `check_sync()` runs on it.
  var isDMASync: Bool {
    self == .dmaSyncSingleForCPU || self == .dmaSyncSingleForDevice || self == .dmaSyncSGForCPU
      || self == .dmaSyncSGForDevice
  }

  /// The `dma:` events by name (a static table: no `String` per lookup).
  private static let dmaNames: [(StaticString, TraceEventType)] = [
    ("dma_map_page", .dmaMapPage), ("dma_unmap_page", .dmaUnmapPage), ("dma_map_resource", .dmaMapResource),
    ("dma_unmap_resource", .dmaUnmapResource), ("dma_map_sg", .dmaMapSG), ("dma_unmap_sg", .dmaUnmapSG),
    ("dma_alloc", .dmaAlloc), ("dma_free", .dmaFree), ("dma_alloc_pages", .dmaAllocPages),
    ("dma_free_pages", .dmaFreePages), ("dma_alloc_sgt", .dmaAllocSGT), ("dma_free_sgt", .dmaFreeSGT),
    ("dma_map_phys", .dmaMapPhys), ("dma_unmap_phys", .dmaUnmapPhys), ("dma_map_sg_err", .dmaMapSGErr),
    ("dma_alloc_sgt_err", .dmaAllocSGTErr), ("dma_sync_single_for_cpu", .dmaSyncSingleForCPU),
    ("dma_sync_single_for_device", .dmaSyncSingleForDevice), ("dma_sync_sg_for_cpu", .dmaSyncSGForCPU),
    ("dma_sync_sg_for_device", .dmaSyncSGForDevice),
  ]

  /// The event type for a name (without the `system:` prefix).
  static func from(_ line: Line, _ a: Int, _ b: Int) -> TraceEventType {
    let n = b - a
    guard n >= 3, let c0 = line.byte(a) else { return .other }
    switch c0 {
    case 0x63:  // c
      if line.equals(a, b, "cache_tag_flush_range") { return .cacheTagFlushRange }
      if line.equals(a, b, "cache_tag_flush_all") { return .cacheTagFlushAll }
      if line.equals(a, b, "cache_tag_flush_range_np") { return .cacheTagFlushRangeNP }
      return .other
    case 0x6D:  // m
      if line.equals(a, b, "map") { return .map }
      if n >= 12 {
        if line.equals(a, b, "mm_page_free") { return .mmPageFree }
        if line.equals(a, b, "mm_page_alloc") { return .mmPageAlloc }
        if line.equals(a, b, "mm_page_free_batched") { return .mmPageFreeBatched }
      }
      return .other
    case 0x75:  // u
      return line.equals(a, b, "unmap") ? .unmap : .other
    case 0x69:  // i
      return line.equals(a, b, "io_page_fault") ? .ioPageFault : .other
    case 0x61:  // a
      if line.equals(a, b, "add_device_to_group") { return .addDeviceToGroup }
      if line.equals(a, b, "attach_device_to_domain") { return .attachDeviceToDomain }
      return .other
    case 0x72:  // r
      return line.equals(a, b, "remove_device_from_group") ? .removeDeviceFromGroup : .other
    case 0x64:  // d
      guard n >= 7, line.byte(a + 1) == 0x6D || line.byte(a + 1) == 0x65 else { return .other }
      if line.byte(a + 1) == 0x65 {
        return line.equals(a, b, "detach_device_from_domain") ? .detachDeviceFromDomain : .other
      }
      for (name, t) in dmaNames where line.equals(a, b, name) { return t }
      return .other
    default:
      return .other
    }
  }
}
