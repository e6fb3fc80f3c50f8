// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The unit constants K, M, G keep the kernel's SZ_ spelling.

/// The shared test support (`Tests/IOMMUSanTestSupport`), for every file of this target.
@_exported import IOMMUSanTestSupport
import KernelTypes
import Synchronization
import Testing

@testable import IOMMU
@testable import MemoryModel

let K: UInt64 = 1 << 10
let M: UInt64 = 1 << 20
let G: UInt64 = 1 << 30

/// One page-table format and granule: what `iommu NAME model= granule=` selects.
struct Geometry: Sendable, Hashable, CustomTestStringConvertible {
  var model: IOMMUModel
  var granuleShift: Int

  static let vtd = Geometry(model: .vtd, granuleShift: 12)
  static let amd = Geometry(model: .amd, granuleShift: 12)
  static let smmu4K = Geometry(model: .smmuv3, granuleShift: 12)
  static let smmu16K = Geometry(model: .smmuv3, granuleShift: 14)
  static let smmu64K = Geometry(model: .smmuv3, granuleShift: 16)
  static let all: [Geometry] = [.vtd, .amd, .smmu4K, .smmu16K, .smmu64K]
  /// One geometry per model, 4K granule.
  static let models: [Geometry] = [.vtd, .amd, .smmu4K]

  var testDescription: String { "\(model.rawValue) \(ByteSize.describe(granule))" }
  var format: PageTableFormat { model == .smmuv3 ? .lpae(granule: PageSize(shift: granuleShift)!) : .x86IO }
  var granule: UInt64 { 1 << UInt64(granuleShift) }
  /// The supported page sizes, smallest first.
  var pageSizes: [UInt64] { (0..<64).map { UInt64(1) << UInt64($0) }.filter { format.pgsizeBitmap & $0 != 0 } }
  var largest: UInt64 { pageSizes.last! }
  /// The page sizes above the granule.
  var largePageSizes: [UInt64] { Array(pageSizes.dropFirst()) }
  /// The bytes (of 4K CPU pages) of one table page.
  var tableBytes: UInt64 { max(granule, 4096) }
  var tablePages: UInt64 { tableBytes / 4096 }
  /// VT-d and AMD (generic_pt) remove a whole large page when an unmap starts
  /// at it and ends inside it; io-pgtable-arm refuses.
  var removesWholeLargePage: Bool { model != .smmuv3 }
  /// The bytes one last-level table maps: the second page size.
  var leafTableSpan: UInt64 { pageSizes[1] }
}

extension Domain {
  /// Maps granule pages over the rest of the last-level table that starts at
  /// `base`, after its first `mapped` bytes: generic_pt frees a table on
  /// unmap only when its walk cleared every entry.
  func fillLeafTable(_ g: Geometry, base: UInt64 = 0, after mapped: UInt64) throws {
    try map(
      iova: IOVA(base + mapped), phys: PhysicalAddress(g.granule), size: g.leafTableSpan - mapped, readable: true,
      writable: false, context: ctx)
  }
}

/// A machine with one IOMMU unit.
struct Rig {
  let machine: Machine
  let unit: IOMMUUnit
  let geometry: Geometry
  var memory: PhysicalMemory { machine.memory }

  init(
    _ g: Geometry = .vtd, memorySize: UInt64 = 1 << 30, strict: Bool = true, iotlb: Int = 256, walk: Int = 64,
    pgsizes: UInt64? = nil
  ) throws {
    let memory = PhysicalMemory(config: MemoryConfiguration(size: memorySize))
    machine = Machine(memory: memory, policy: MachinePolicy(strict: strict))
    unit = try machine.addIOMMU(
      name: "mmu0", model: g.model, granule: PageSize(shift: g.granuleShift)!, pgsizes: pgsizes, iotlbEntries: iotlb,
      walkCacheEntries: walk)
    geometry = g
  }

  func paging(_ name: String = "d") throws -> Domain {
    try machine.allocDomain(unit: unit, type: .paging, name: name, context: ctx)
  }

  func device(_ name: String = "nic", ats: Bool = false) throws -> Device {
    try machine.addDevice(name: name, unit: unit, ats: ats, context: ctx)
  }

  /// A device attached to a fresh paging domain.
  func attachedDevice(_ name: String = "nic") throws -> (Device, Domain) {
    let dev = try device(name)
    let d = try paging("\(name)-paging")
    try machine.attach(dev, to: d, context: ctx)
    return (dev, d)
  }

  /// A naturally aligned block of at least one IOMMU granule.
  func granulePage() throws -> PageBlock {
    try memory.allocPages(order: max(0, geometry.granuleShift - memory.pageShift), context: ctx)
  }

  func address(_ b: PageBlock) -> PhysicalAddress { b.head.address(pageShift: memory.pageShift) }

  @discardableResult
  func read(_ dev: Device, _ iova: UInt64) -> Machine.AccessResult {
    machine.deviceAccess(dev, iova: IOVA(iova), pasid: nil, isWrite: false, length: 8, value: 0, context: ctx)
  }

  @discardableResult
  func write(_ dev: Device, _ iova: UInt64, _ value: UInt64) -> Machine.AccessResult {
    machine.deviceAccess(dev, iova: IOVA(iova), pasid: nil, isWrite: true, length: 8, value: value, context: ctx)
  }

  /// How many times the unit has issued `command` since `before`.
  /// Commands issued named `command`, or `command` and its fields (SMMUv3's `TG=1 TTL=3 NUM=0 SCALE=0`).
  func issued(_ command: String, since before: CacheStats) -> UInt64 {
    func count(_ s: CacheStats) -> UInt64 {
      s.invalidations.filter { $0.key == command || $0.key.hasPrefix(command + " ") }.values.reduce(0, +)
    }
    return count(unit.stats) - count(before)
  }

  /// Table pages of a domain, by address.
  func tables(_ d: Domain) -> [PageBlock] { d.state.withLock { $0.pageTable?.allTables() ?? [] } }
  func root(_ d: Domain) -> PhysicalAddress { d.state.withLock { $0.pageTable!.root } }
}

/// Every leaf still mapped, one element per leaf: (iova, phys, size).
func leaves(_ d: Domain) -> [Leaf] {
  var out: [Leaf] = []
  for run in d.mappedLeaves() {
    let s: UInt64 = 1 << UInt64(run.leafShift)
    var off: UInt64 = 0
    while off < run.size {
      out.append(Leaf(iova: run.iova.rawValue + off, phys: run.phys.rawValue + off, size: s))
      off += s
    }
  }
  return out.sorted { $0.iova < $1.iova }
}

struct Leaf: Hashable, CustomStringConvertible {
  var iova: UInt64
  var phys: UInt64
  var size: UInt64
  var description: String { "\(IOVA(iova))->\(PhysicalAddress(phys))/\(ByteSize.describe(size))" }
}

/// Records what the model reports through its observer hooks.
final class RecordingObserver: MachineObserver {
  enum Event: Sendable {
    case invalidation(String)
    case tableFree(PageBlock, walkEntriesStillPointing: Int)
    case message(String)
    case access(DeviceAccessEvent)
  }
  let events = Synchronization.Mutex<[Event]>([])
  let pageShift: Int
  init(pageShift: Int = 12) { self.pageShift = pageShift }

  var all: [Event] { events.withLock { $0 } }
  var messages: [String] { all.compactMap { if case .message(let m) = $0 { m } else { nil } } }
  var invalidations: [String] { all.compactMap { if case .invalidation(let m) = $0 { m } else { nil } } }

  func mapped(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {}
  func unmapped(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext) {}
  func tablePageFreeing(_ block: PageBlock, domain: Domain, context: CallContext) {
    let phys = block.head.address(pageShift: pageShift)
    let n = domain.unit.walkEntries(pointingInto: phys, length: block.pageCount << UInt64(pageShift)).count
    events.withLock { $0.append(.tableFree(block, walkEntriesStillPointing: n)) }
  }
  func invalidationIssued(_ command: InvalidationCommand, context: CallContext) {
    events.withLock { $0.append(.invalidation(command.name)) }
  }
  func invalidationCompleted(_ command: InvalidationCommand, context: CallContext) {}
  func atcInvalidationTimedOut(_ command: InvalidationCommand, device: Device, context: CallContext) {}
  func deviceAccessed(_ event: DeviceAccessEvent) { events.withLock { $0.append(.access(event)) } }
  func dmaMapped(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress,
    context: CallContext
  ) {}
  func dmaUnmapping(_ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, context: CallContext) {
  }
  func mappingsLeft(
    _ domain: Domain, leaves: [RemovedLeaves], reason: LeakReason, device: Device?, freed: Bool, context: CallContext
  ) {}
  func kernelMessage(_ text: String, context: CallContext) { events.withLock { $0.append(.message(text)) } }
  func kernelWarning(_ warning: KernelWarning, context: CallContext) {
    events.withLock { $0.append(.message("WARNING in \(warning.site)")) }
  }
}

extension IOMMUUnit {
  /// `cachedEntryCounts` as `[iotlb, walk]`, for comparisons.
  var counts: [Int] {
    let c = cachedEntryCounts
    return [c.iotlb, c.walk]
  }
}
