import KernelTypes

/// What a name stands for. The parser checks that every name is used as the
/// kind of thing the statement needs.
package enum BindingKind: String, Sendable, Hashable, CaseIterable {
  /// `iommu NAME ...`.
  case iommu
  /// `device NAME ...`.
  case device
  /// `NAME = domain ...`.
  case domain
  /// `NAME = alloc_pages ...`; its address is the block's first physical address.
  case pageBlock = "page-block"
  /// `NAME = dma_map ...`; its address is the IOVA.
  case dmaMapping = "dma-mapping"
  /// `NAME = dma_alloc ...`; its address is the IOVA.
  case dmaCoherent = "dma-coherent"
  /// `NAME = vmalloc ...`; its address is the kernel virtual address.
  case vmallocArea = "vmalloc-area"
  /// `NAME = process ...`.
  case process
  /// `NAME = mmap ...`; its address is the user virtual address.
  case mmapArea = "mmap-area"
  /// `NAME = sva_bind ...`; its value is the PASID.
  case svaHandle = "sva-handle"
  /// `NAME = dma_map_sg ...`; its address is the first DMA segment's.
  case dmaSGList = "dma-sg-list"
  /// `NAME = dma_alloc_pages ...`; its address is the IOVA.
  case dmaPages = "dma-pages"
  /// `NAME = kmalloc ...`; its address is the object's physical address.
  case slabObject = "slab-object"

  /// The kind with an article, for messages: "a page block".
  package var noun: String {
    switch self {
    case .iommu: return "an IOMMU"
    case .device: return "a device"
    case .domain: return "a domain"
    case .pageBlock: return "a page block"
    case .dmaMapping: return "a DMA mapping"
    case .dmaCoherent: return "a coherent DMA buffer"
    case .vmallocArea: return "a vmalloc area"
    case .process: return "a process"
    case .mmapArea: return "an mmap area"
    case .svaHandle: return "an SVA handle"
    case .dmaSGList: return "a mapped scatterlist"
    case .dmaPages: return "a dma_alloc_pages buffer"
    case .slabObject: return "a kmalloc object"
    }
  }

  /// The statement word that binds this kind (`alloc_pages`).
  package var verb: String {
    switch self {
    case .iommu: return "iommu"
    case .device: return "device"
    case .domain: return "domain"
    case .pageBlock: return "alloc_pages"
    case .dmaMapping: return "dma_map"
    case .dmaCoherent: return "dma_alloc"
    case .vmallocArea: return "vmalloc"
    case .process: return "process"
    case .mmapArea: return "mmap"
    case .svaHandle: return "sva_bind"
    case .dmaSGList: return "dma_map_sg"
    case .dmaPages: return "dma_alloc_pages"
    case .slabObject: return "kmalloc"
    }
  }
}
