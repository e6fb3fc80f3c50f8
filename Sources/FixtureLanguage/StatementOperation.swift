import KernelTypes

/// What a statement does: one case per statement word of sections 2 to 8,
/// with its arguments parsed, defaulted and validated.
package enum StatementOperation: Sendable, Hashable {
  // MARK: Section 2: the machine

  /// `cmdline "PARAMS"`: the parameters of this line, in order.
  case cmdline([CmdlineSetting])
  /// `memory SIZE ...`.
  case memory(MemoryConfiguration)
  /// `iommu NAME model=...`.
  case iommu(IOMMUConfiguration)
  /// `device NAME iommu=...`.
  case device(DeviceConfiguration)

  // MARK: Section 3: memory

  /// `alloc_pages [order=N] [gfp=FLAGS]` (order default 0, gfp `GFP_KERNEL`).
  case allocPages(order: Int, gfp: GFPFlags)
  /// `free_pages NAME [order=N]` (a page block; `order=` frees with that
  /// order instead of the block's own).
  case freePages(NameReference, order: Int?)
  /// `free_pages pfn=N [order=N]` (an extension): `__free_pages()` of the
  /// page at a page frame number, whatever the fixture allocated (order 0
  /// unless given).
  case freePagesAt(pfn: UInt64, order: Int)
  /// `vmalloc SIZE`.
  case vmalloc(size: UInt64)
  /// `vmalloc_huge SIZE` (an iommusan extension of v1).
  case vmallocHuge(size: UInt64)
  /// `vfree NAME` (a vmalloc area).
  case vfree(NameReference)
  /// `cpu_write ADDR value=N [width=]` (width default 8; ADDR physical).
  case cpuWrite(address: AddressExpression, value: UInt64, width: AccessWidth)
  /// `cpu_fill NAME value=N [width=]` (a page block; width default 8).
  case cpuFill(NameReference, value: UInt64, width: AccessWidth)
  /// `flush_tlb_kernel_range START END` (kernel virtual addresses).
  case flushTLBKernelRange(start: AddressExpression, end: AddressExpression)
  /// `flush_tlb_all`.
  case flushTLBAll
  /// `kmalloc SIZE [gfp=]`.
  case kmalloc(size: UInt64, gfp: GFPFlags)
  /// `kfree NAME` (a kmalloc object).
  case kfree(NameReference)

  // MARK: Section 4: IOMMU API

  /// `domain IOMMU [type=]` (type default `paging`).
  case domain(iommu: NameReference, type: DomainType)
  /// `free_domain DOMAIN`.
  case freeDomain(NameReference)
  /// `attach DEVICE DOMAIN [pasid=N]`.
  case attach(device: NameReference, domain: NameReference, pasid: UInt32?)
  /// `detach DEVICE [pasid=N]`.
  case detach(device: NameReference, pasid: UInt32?)
  /// `iommu_map DOMAIN iova= phys= size= [prot=]` (prot default `rw`).
  case iommuMap(domain: NameReference, iova: AddressExpression, phys: AddressExpression, size: UInt64, prot: Protection)
  /// `iommu_unmap DOMAIN iova= size=`.
  case iommuUnmap(domain: NameReference, iova: AddressExpression, size: UInt64)
  /// `iommu_unmap_fast DOMAIN iova= size=`.
  case iommuUnmapFast(domain: NameReference, iova: AddressExpression, size: UInt64)
  /// `iova_to_phys DOMAIN iova=`.
  case iovaToPhys(domain: NameReference, iova: AddressExpression)
  /// `iotlb_sync DOMAIN`.
  case iotlbSync(NameReference)
  /// `flush_iotlb_all DOMAIN`.
  case flushIOTLBAll(NameReference)

  // MARK: Section 5: DMA API

  /// `dma_map DEVICE ADDR size= [dir=]` (dir default `bidirectional`; ADDR physical).
  case dmaMap(device: NameReference, address: AddressExpression, size: UInt64, direction: DMADirection)
  /// `dma_unmap NAME [size=] [dir=]`: nil means "as at map time".
  case dmaUnmap(NameReference, size: UInt64?, direction: DMADirection?)
  /// `dma_alloc DEVICE SIZE`.
  case dmaAlloc(device: NameReference, size: UInt64)
  /// `dma_free NAME`.
  case dmaFree(NameReference)
  /// `advance DURATION`, in nanoseconds.
  case advance(nanoseconds: UInt64)
  /// `dma_map_sg DEVICE seg=ADDR:LEN... [dir=]` (ADDR physical).
  case dmaMapSG(device: NameReference, segments: [SGSegment], direction: DMADirection)
  /// `dma_unmap_sg NAME [nents=] [dir=]`: nil means as at map time.
  case dmaUnmapSG(NameReference, nents: Int?, direction: DMADirection?)
  /// `dma_sync_single_for_cpu|device ADDR size= [dir=]` (ADDR an IOVA; dir nil: the mapping's).
  case dmaSyncSingle(address: AddressExpression, size: UInt64, direction: DMADirection?, toCPU: Bool)
  /// `dma_sync_sg_for_cpu|device NAME [nents=] [dir=]`.
  case dmaSyncSG(NameReference, nents: Int?, direction: DMADirection?, toCPU: Bool)
  /// `dma_alloc_pages DEVICE SIZE [dir=]`.
  case dmaAllocPages(device: NameReference, size: UInt64, direction: DMADirection)
  /// `dma_free_pages NAME`.
  case dmaFreePages(NameReference)

  // MARK: Section 6: devices doing DMA

  /// `dma DEVICE read|write ADDR ...`.
  case dma(DeviceAccess)
  /// `ats_translate DEVICE ADDR [pasid=]`.
  case atsTranslate(device: NameReference, address: AddressExpression, pasid: PASIDSelector?)

  // MARK: Section 7: processes and SVA

  /// `process [comm="..."]` (comm as written, nil when not given).
  case process(comm: String?)
  /// `mmap PROCESS SIZE [populate]`.
  case mmap(process: NameReference, size: UInt64, populate: Bool)
  /// `munmap NAME` (an mmap area).
  case munmap(NameReference)
  /// `exit PROCESS`.
  case exit(NameReference)
  /// `sva_bind DEVICE PROCESS`.
  case svaBind(device: NameReference, process: NameReference)
  /// `sva_unbind NAME` (an SVA handle).
  case svaUnbind(NameReference)

  // MARK: Section 8: device reset and ATS

  /// `reset_prepare DEVICE`.
  case resetPrepare(NameReference)
  /// `reset_done DEVICE`.
  case resetDone(NameReference)
  /// `flr DEVICE`.
  case flr(NameReference)
  /// `flr_begin DEVICE`.
  case flrBegin(NameReference)
  /// `flr_end DEVICE`.
  case flrEnd(NameReference)

  // MARK: Loops (an iommusan extension of v1)

  /// `repeat COUNT as VAR`: runs the statements up to the matching `end`
  /// COUNT times, VAR from 0 to COUNT - 1. `end` is the index of that `end`
  /// statement (the body is stored once).
  case repeatBlock(count: Int, variable: NameReference, end: Int)
  /// `end`: closes the `repeat` at index `begin`.
  case end(begin: Int)

  /// The statement word.
  package var verb: Verb {
    switch self {
    case .cmdline: return .cmdline
    case .memory: return .memory
    case .iommu: return .iommu
    case .device: return .device
    case .allocPages: return .allocPages
    case .freePages, .freePagesAt: return .freePages
    case .vmalloc: return .vmalloc
    case .vmallocHuge: return .vmallocHuge
    case .vfree: return .vfree
    case .cpuWrite: return .cpuWrite
    case .cpuFill: return .cpuFill
    case .flushTLBKernelRange: return .flushTLBKernelRange
    case .flushTLBAll: return .flushTLBAll
    case .domain: return .domain
    case .freeDomain: return .freeDomain
    case .attach: return .attach
    case .detach: return .detach
    case .iommuMap: return .iommuMap
    case .iommuUnmap: return .iommuUnmap
    case .iommuUnmapFast: return .iommuUnmapFast
    case .iovaToPhys: return .iovaToPhys
    case .iotlbSync: return .iotlbSync
    case .flushIOTLBAll: return .flushIOTLBAll
    case .dmaMap: return .dmaMap
    case .dmaUnmap: return .dmaUnmap
    case .dmaAlloc: return .dmaAlloc
    case .dmaFree: return .dmaFree
    case .advance: return .advance
    case .dmaMapSG: return .dmaMapSG
    case .dmaUnmapSG: return .dmaUnmapSG
    case .dmaSyncSingle(_, _, _, let toCPU): return toCPU ? .dmaSyncSingleForCPU : .dmaSyncSingleForDevice
    case .dmaSyncSG(_, _, _, let toCPU): return toCPU ? .dmaSyncSGForCPU : .dmaSyncSGForDevice
    case .dmaAllocPages: return .dmaAllocPages
    case .dmaFreePages: return .dmaFreePages
    case .kmalloc: return .kmalloc
    case .kfree: return .kfree
    case .dma: return .dma
    case .atsTranslate: return .atsTranslate
    case .process: return .process
    case .mmap: return .mmap
    case .munmap: return .munmap
    case .exit: return .exit
    case .svaBind: return .svaBind
    case .svaUnbind: return .svaUnbind
    case .resetPrepare: return .resetPrepare
    case .resetDone: return .resetDone
    case .flr: return .flr
    case .flrBegin: return .flrBegin
    case .flrEnd: return .flrEnd
    case .repeatBlock: return .repeatBlock
    case .end: return .end
    }
  }
}

/// One `seg=ADDR:LEN` of `dma_map_sg`: a scatterlist entry.
package struct SGSegment: Sendable, Hashable {
  package var address: AddressExpression
  package var length: UInt64

  package init(address: AddressExpression, length: UInt64) {
    self.address = address
    self.length = length
  }
}
