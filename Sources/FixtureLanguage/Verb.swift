/// A statement word (`alloc_pages`, `iommu_map`, `expect`, ...).
package enum Verb: String, Sendable, Hashable, CaseIterable {
  // Section 2: the machine.
  case cmdline, memory, iommu, device
  // Section 3: memory.
  case allocPages = "alloc_pages"
  case freePages = "free_pages"
  case vmalloc, vfree
  case cpuWrite = "cpu_write"
  case cpuFill = "cpu_fill"
  case flushTLBKernelRange = "flush_tlb_kernel_range"
  case flushTLBAll = "flush_tlb_all"
  case kmalloc, kfree
  // Section 4: IOMMU API.
  case domain
  case freeDomain = "free_domain"
  case attach, detach
  case iommuMap = "iommu_map"
  case iommuUnmap = "iommu_unmap"
  case iommuUnmapFast = "iommu_unmap_fast"
  case iovaToPhys = "iova_to_phys"
  case iotlbSync = "iotlb_sync"
  case flushIOTLBAll = "flush_iotlb_all"
  // Section 5: DMA API.
  case dmaMap = "dma_map"
  case dmaUnmap = "dma_unmap"
  case dmaAlloc = "dma_alloc"
  case dmaFree = "dma_free"
  case advance
  case dmaMapSG = "dma_map_sg"
  case dmaUnmapSG = "dma_unmap_sg"
  case dmaSyncSingleForCPU = "dma_sync_single_for_cpu"
  case dmaSyncSingleForDevice = "dma_sync_single_for_device"
  case dmaSyncSGForCPU = "dma_sync_sg_for_cpu"
  case dmaSyncSGForDevice = "dma_sync_sg_for_device"
  case dmaAllocPages = "dma_alloc_pages"
  case dmaFreePages = "dma_free_pages"
  // Section 6: devices doing DMA.
  case dma
  case atsTranslate = "ats_translate"
  // Section 7: processes and SVA.
  case process, mmap, munmap, exit
  case svaBind = "sva_bind"
  case svaUnbind = "sva_unbind"
  // Section 8: device reset and ATS.
  case resetPrepare = "reset_prepare"
  case resetDone = "reset_done"
  case flr
  case flrBegin = "flr_begin"
  case flrEnd = "flr_end"
  // Section 9.
  case expect
  // Loops (an iommusan extension of v1).
  case repeatBlock = "repeat"
  case end

  /// The section of the language contract that defines the verb (2 to 9).
  package var section: Int {
    switch self {
    case .cmdline, .memory, .iommu, .device: return 2
    case .allocPages, .freePages, .vmalloc, .vfree, .cpuWrite, .cpuFill, .flushTLBKernelRange, .flushTLBAll,
      .kmalloc, .kfree:
      return 3
    case .domain, .freeDomain, .attach, .detach, .iommuMap, .iommuUnmap, .iommuUnmapFast, .iovaToPhys,
      .iotlbSync, .flushIOTLBAll:
      return 4
    case .dmaMap, .dmaUnmap, .dmaAlloc, .dmaFree, .advance, .dmaMapSG, .dmaUnmapSG, .dmaSyncSingleForCPU,
      .dmaSyncSingleForDevice, .dmaSyncSGForCPU, .dmaSyncSGForDevice, .dmaAllocPages, .dmaFreePages:
      return 5
    case .dma, .atsTranslate: return 6
    case .process, .mmap, .munmap, .exit, .svaBind, .svaUnbind: return 7
    case .resetPrepare, .resetDone, .flr, .flrBegin, .flrEnd: return 8
    case .expect: return 9
    case .repeatBlock, .end: return 10
    }
  }

  /// What a `NAME = verb` binding names, for the verbs written that way.
  package var bindingKind: BindingKind? {
    switch self {
    case .allocPages: return .pageBlock
    case .vmalloc: return .vmallocArea
    case .domain: return .domain
    case .dmaMap: return .dmaMapping
    case .dmaAlloc: return .dmaCoherent
    case .process: return .process
    case .mmap: return .mmapArea
    case .svaBind: return .svaHandle
    case .dmaMapSG: return .dmaSGList
    case .dmaAllocPages: return .dmaPages
    case .kmalloc: return .slabObject
    default: return nil
    }
  }

  /// The statement's syntax, for messages.
  package var usage: String {
    switch self {
    case .cmdline: return "cmdline \"PARAMS\""
    case .memory: return "memory SIZE [base=ADDR] [page=4K|16K|64K] [mmio=START-END]... [offline=START-END]..."
    case .iommu:
      return
        "iommu NAME model=vtd|amd|smmuv3 [granule=4K|16K|64K] [pgsizes=LIST] [iotlb=N] [walk-cache=N] [sva=on|off] [npcache=on|off] [gather=on|off]"
    case .device: return "device NAME iommu=IOMMU [ats=on|off] [pasid=on|off] [group=G]"
    case .allocPages: return "NAME = alloc_pages [order=N] [gfp=FLAGS]"
    case .freePages: return "free_pages NAME|pfn=N [order=N]"
    case .vmalloc: return "NAME = vmalloc SIZE"
    case .vfree: return "vfree NAME"
    case .cpuWrite: return "cpu_write ADDR value=N [width=1|2|4|8]"
    case .cpuFill: return "cpu_fill NAME value=N [width=1|2|4|8]"
    case .flushTLBKernelRange: return "flush_tlb_kernel_range START END"
    case .flushTLBAll: return "flush_tlb_all"
    case .domain: return "NAME = domain IOMMU [type=paging|dma|identity|blocked]"
    case .freeDomain: return "free_domain DOMAIN"
    case .attach: return "attach DEVICE DOMAIN [pasid=N]"
    case .detach: return "detach DEVICE [pasid=N]"
    case .iommuMap: return "iommu_map DOMAIN iova=ADDR phys=ADDR size=SIZE [prot=r|w|rw]"
    case .iommuUnmap: return "iommu_unmap DOMAIN iova=ADDR size=SIZE"
    case .iommuUnmapFast: return "iommu_unmap_fast DOMAIN iova=ADDR size=SIZE"
    case .iovaToPhys: return "iova_to_phys DOMAIN iova=ADDR"
    case .iotlbSync: return "iotlb_sync DOMAIN"
    case .flushIOTLBAll: return "flush_iotlb_all DOMAIN"
    case .dmaMap: return "NAME = dma_map DEVICE ADDR size=SIZE [dir=to-device|from-device|bidirectional]"
    case .dmaUnmap: return "dma_unmap NAME [size=SIZE] [dir=to-device|from-device|bidirectional]"
    case .dmaAlloc: return "NAME = dma_alloc DEVICE SIZE"
    case .dmaFree: return "dma_free NAME"
    case .advance: return "advance DURATION"
    case .dmaMapSG:
      return "NAME = dma_map_sg DEVICE seg=ADDR:LEN... [dir=to-device|from-device|bidirectional]"
    case .dmaUnmapSG: return "dma_unmap_sg NAME [nents=N] [dir=...]"
    case .dmaSyncSingleForCPU: return "dma_sync_single_for_cpu ADDR size=SIZE [dir=...]"
    case .dmaSyncSingleForDevice: return "dma_sync_single_for_device ADDR size=SIZE [dir=...]"
    case .dmaSyncSGForCPU: return "dma_sync_sg_for_cpu NAME [nents=N] [dir=...]"
    case .dmaSyncSGForDevice: return "dma_sync_sg_for_device NAME [nents=N] [dir=...]"
    case .dmaAllocPages: return "NAME = dma_alloc_pages DEVICE SIZE [dir=...]"
    case .dmaFreePages: return "dma_free_pages NAME"
    case .kmalloc: return "NAME = kmalloc SIZE [gfp=FLAGS]"
    case .kfree: return "kfree NAME"
    case .dma:
      return "dma DEVICE read|write ADDR [len=N] [pasid=N|NAME] [value=N] [priv=user|supervisor]"
    case .atsTranslate: return "ats_translate DEVICE ADDR [pasid=N|NAME]"
    case .process: return "NAME = process [comm=\"...\"]"
    case .mmap: return "NAME = mmap PROCESS SIZE [populate]"
    case .munmap: return "munmap NAME"
    case .exit: return "exit PROCESS"
    case .svaBind: return "NAME = sva_bind DEVICE PROCESS"
    case .svaUnbind: return "sva_unbind NAME"
    case .resetPrepare: return "reset_prepare DEVICE"
    case .resetDone: return "reset_done DEVICE"
    case .flr: return "flr DEVICE"
    case .flrBegin: return "flr_begin DEVICE"
    case .flrEnd: return "flr_end DEVICE"
    case .repeatBlock: return "repeat COUNT as VAR"
    case .end: return "end"
    case .expect:
      return
        "expect report KIND [page=NAME] [pfn=N] [device=NAME] [domain=NAME] [count=N] | expect no-report | expect error ERRNO | expect fault | expect KEY=VALUE"
    }
  }

  /// Every verb by its spelling.
  static let byName: [String: Verb] = {
    var table: [String: Verb] = [:]
    for verb in Verb.allCases { table[verb.rawValue] = verb }
    return table
  }()

  /// Every spelling, in declaration order.
  static let names: [String] = Verb.allCases.map(\.rawValue)
  /// "Did you mean" over `names`, remembered per misspelling.
  static let suggestions = SuggestionList(names)
}
