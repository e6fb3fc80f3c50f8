import IOMMU
import KernelTypes
import MemoryModel

/// What a fixture name is bound to at run time.
enum Binding {
  case iommu(IOMMUUnit)
  case device(Device)
  case domain(Domain)
  case pages(PageBlock)
  /// A `dma_map` or `dma_alloc` result.
  case dmaHandle(device: Device, address: IOVA, size: UInt64, direction: DMADirection, coherent: PageBlock?)
  case task
  case process(Process)
  case mmap(Process, MmapArea)
  case vmalloc(VmallocArea)
  case sva(SVABond)

  var noun: String {
    switch self {
    case .iommu: "an IOMMU"
    case .device: "a device"
    case .domain: "a domain"
    case .pages: "a page block"
    case .dmaHandle: "a DMA handle"
    case .task: "a task"
    case .process: "a process"
    case .mmap: "an mmap area"
    case .vmalloc: "a vmalloc area"
    case .sva: "an SVA binding"
    }
  }
}
