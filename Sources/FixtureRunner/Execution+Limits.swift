import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel
import Sanitizer

/// The emulator's own resource limits (docs/Robustness.md): a fixture that
/// asks for more work or memory than they allow stops with an error that
/// names the limit, instead of running for hours or being killed.
extension Execution {
  /// The most page-table leaves one map may install (`iommu_map`,
  /// `dma_map`): 16G of 4K pages, 32M of page tables.
  static let maximumLeavesPerMap: UInt64 = 1 << 22

  /// Before a statement: refuses a map whose page-table work is past
  /// `maximumLeavesPerMap`. Names that do not resolve are left to the
  /// statement itself to report.
  func checkWorkLimits(_ stmt: Statement) throws(FatalError) {
    let leaves: UInt64
    let what: String
    switch stmt.operation {
    case .iommuMap(let domRef, let iovaExpr, let physExpr, let size, _):
      guard case .domain(let d)? = bindings[domRef.name], let iova = try? address(iovaExpr),
        let phys = try? address(physExpr)
      else { return }
      leaves = Execution.leafCount(bitmap: d.pgsizeBitmap, iova: iova, phys: phys, size: size)
      what = "\(ByteSize.describe(size)) at iova \(IOVA(iova)) and phys \(PhysicalAddress(phys)) is \(leaves) leaves"
    case .dmaMap(let devRef, let addr, let size, _):
      // The IOVA is not known yet: count the smallest pages (an upper bound).
      // A range that wraps fails on its own (EOVERFLOW).
      guard case .device(let dev)? = bindings[devRef.name], let d = dev.domain, d.hasPageTable,
        let phys = try? address(addr), !phys.addingReportingOverflow(size).overflow
      else { return }
      leaves = size / d.granule
      what = "\(ByteSize.describe(size)) is up to \(leaves) leaves of \(ByteSize.describe(d.granule))"
    default:
      return
    }
    guard leaves > Execution.maximumLeavesPerMap else { return }
    throw fatal(
      stmt.verbLocation,
      "'\(stmt.verb.rawValue)' of \(what): above the emulator's limit of \(Execution.maximumLeavesPerMap) page-table leaves per map; map less at a time, or with larger pages"
    )
  }

  /// The leaves `Domain.map` installs for a map: the `iommu_pgsize()` split.
  /// 0 when the map fails before its first leaf (unaligned, empty, wrapping).
  static func leafCount(bitmap: UInt64, iova: UInt64, phys: UInt64, size: UInt64) -> UInt64 {
    guard bitmap != 0 else { return 0 }
    let minPage: UInt64 = 1 << UInt64(ByteSize.ffs(bitmap))
    guard size != 0, (iova | phys | size) & (minPage - 1) == 0, iova.addingReportingOverflow(size).overflow == false,
      phys.addingReportingOverflow(size).overflow == false
    else { return 0 }
    return LeafRuns(bitmap: bitmap, iova: iova, phys: phys, size: size).reduce(0) { $0 &+ $1.count }
  }

  /// After a statement: stops the fixture once a limit was hit during it.
  /// Emulated memory past the resident limit dropped the statement's
  /// writes, and kernel accounting past its granule limit stopped counting,
  /// so nothing after it would be faithful.
  func checkResourceLimits(_ stmt: Statement) throws(FatalError) {
    if let message = sanitizer.resourceLimitError {
      throw fatal(stmt.verbLocation, "'\(stmt.verb.rawValue)': \(message)")
    }
    guard machine.memory.residentLimitReached else { return }
    let limit = ByteSize.describe(options.maximumResident)
    let usage = machine.memory.budget.usageDescription
    throw fatal(
      stmt.verbLocation,
      "'\(stmt.verb.rawValue)' passed the limit on resident emulated memory (\(limit); in use: \(usage)); raise it with --max-resident"
    )
  }
}
