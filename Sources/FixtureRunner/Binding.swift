import IOMMU
import KernelTypes
import MemoryModel

/// What a fixture name is bound to at run time.
enum Binding {
  case iommu(IOMMUUnit)
  case device(Device)
  case domain(Domain)
  case pages(PageBlock)
  case dmaHandle(DMAHandle)
  case task
  case process(Process)
  case mmap(UserMapping)
  case vmalloc(VmallocArea)
  case sva(SVABond)
  case sgList(MappedScatterlist)
  case slabObject(SlabObject)

  var noun: String {
    switch self {
    case .iommu: IOMMUUnit.noun
    case .device: Device.noun
    case .domain: Domain.noun
    case .pages: PageBlock.noun
    case .dmaHandle: DMAHandle.noun
    case .task: "a task"
    case .process: Process.noun
    case .mmap: UserMapping.noun
    case .vmalloc: VmallocArea.noun
    case .sva: SVABond.noun
    case .sgList: MappedScatterlist.noun
    case .slabObject: SlabObject.noun
    }
  }
}

/// A `dma_map` or `dma_alloc` result.
struct DMAHandle {
  var device: Device
  var address: IOVA
  var size: UInt64
  var direction: DMADirection
  /// The buffer of a `dma_alloc` or `dma_alloc_pages`; nil for a `dma_map`.
  var coherent: PageBlock?
  /// Whether `dma_alloc_pages` made it.
  var isAllocPages = false
}

/// A `dma_map_sg` result: the list as the driver holds it after the map.
struct MappedScatterlist {
  var device: Device
  var entries: [ScatterlistEntry]
  /// The DMA segments the map returned.
  var count: Int
  var direction: DMADirection
}

/// An `mmap` result: the area and the process it is in.
struct UserMapping {
  var process: Process
  var area: MmapArea
}

/// A `dma_alloc` buffer, as `dma_free` takes it.
struct CoherentBuffer {
  var handle: DMAHandle
  var block: PageBlock
}

/// A value a fixture name can stand for: `Execution.bound(_:as:)` takes it
/// out of its `Binding`, or names what the binding is instead.
protocol BindingValue {
  /// What a name bound to one is, with its article: "a device".
  static var noun: String { get }
  /// The value `binding` holds, or nil when it holds something else.
  static func value(in binding: Binding) -> Self?
  /// The diagnostic for `name`, bound to `binding`, used as one.
  static func mismatch(_ name: String, _ binding: Binding) -> String
}

extension BindingValue {
  static func mismatch(_ name: String, _ binding: Binding) -> String {
    "'\(name)' is \(binding.noun), not \(noun)"
  }
}

extension IOMMUUnit: BindingValue {
  static let noun = "an IOMMU"
  static func value(in binding: Binding) -> IOMMUUnit? { if case .iommu(let u) = binding { u } else { nil } }
}

extension Device: BindingValue {
  static let noun = "a device"
  static func value(in binding: Binding) -> Device? { if case .device(let d) = binding { d } else { nil } }
}

extension Domain: BindingValue {
  static let noun = "a domain"
  static func value(in binding: Binding) -> Domain? { if case .domain(let d) = binding { d } else { nil } }
}

extension PageBlock: BindingValue {
  static let noun = "a page block"
  static func value(in binding: Binding) -> PageBlock? { if case .pages(let b) = binding { b } else { nil } }
}

extension DMAHandle: BindingValue {
  static let noun = "a DMA handle"
  static func value(in binding: Binding) -> DMAHandle? { if case .dmaHandle(let h) = binding { h } else { nil } }
}

extension CoherentBuffer: BindingValue {
  static let noun = "a coherent DMA buffer"
  static func value(in binding: Binding) -> CoherentBuffer? {
    guard case .dmaHandle(let h) = binding, let block = h.coherent else { return nil }
    return CoherentBuffer(handle: h, block: block)
  }
  static func mismatch(_ name: String, _ binding: Binding) -> String {
    "'\(name)' is \(binding.noun) from dma_map, not from dma_alloc: use dma_unmap"
  }
}

extension Process: BindingValue {
  static let noun = "a process"
  static func value(in binding: Binding) -> Process? { if case .process(let p) = binding { p } else { nil } }
}

extension UserMapping: BindingValue {
  static let noun = "an mmap area"
  static func value(in binding: Binding) -> UserMapping? { if case .mmap(let m) = binding { m } else { nil } }
}

extension VmallocArea: BindingValue {
  static let noun = "a vmalloc area"
  static func value(in binding: Binding) -> VmallocArea? { if case .vmalloc(let a) = binding { a } else { nil } }
}

extension MappedScatterlist: BindingValue {
  static let noun = "a mapped scatterlist"
  static func value(in binding: Binding) -> MappedScatterlist? {
    if case .sgList(let l) = binding { l } else { nil }
  }
}

extension SlabObject: BindingValue {
  static let noun = "a kmalloc object"
  static func value(in binding: Binding) -> SlabObject? { if case .slabObject(let o) = binding { o } else { nil } }
}

extension SVABond: BindingValue {
  static let noun = "an SVA binding"
  static func value(in binding: Binding) -> SVABond? { if case .sva(let b) = binding { b } else { nil } }
}
