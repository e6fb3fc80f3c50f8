import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel

/// Section 4 of the fixture language: the IOMMU API (domains, attach, map
/// and unmap, IOTLB flushes).
extension Execution {
  /// `NAME = domain IOMMU [type=]`.
  func allocDomain(_ unitRef: NameReference, type: DomainType, _ run: inout StatementRun) throws(FatalError) {
    let u = try bound(unitRef, as: IOMMUUnit.self)
    let name = run.statement.binding?.name ?? "domain@\(run.statement.line)"
    do {
      let d = try machine.allocDomain(unit: u, type: type, name: name, context: run.context)
      bind(run.statement, .domain(d))
    } catch { run.fail(error) }
  }

  /// `free_domain DOMAIN`.
  func freeDomain(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let d = try bound(ref, as: Domain.self)
    do { try machine.freeDomain(d, context: run.context) } catch { run.fail(error) }
  }

  /// `attach DEVICE DOMAIN [pasid=N]`.
  func attach(
    _ devRef: NameReference, to domRef: NameReference, pasid: UInt32?, _ run: inout StatementRun
  ) throws(FatalError) {
    let dev = try bound(devRef, as: Device.self)
    let dom = try bound(domRef, as: Domain.self)
    do { try machine.attach(dev, to: dom, pasid: pasid, context: run.context) } catch { run.fail(error) }
  }

  /// `detach DEVICE [pasid=N]`.
  func detach(_ devRef: NameReference, pasid: UInt32?, _ run: inout StatementRun) throws(FatalError) {
    let dev = try bound(devRef, as: Device.self)
    do { try machine.detach(dev, pasid: pasid, context: run.context) } catch { run.fail(error) }
  }

  /// `iommu_map DOMAIN iova= phys= size= [prot=]`.
  func iommuMap(
    _ domRef: NameReference, iova: AddressExpression, phys: AddressExpression, size: UInt64, prot: Protection,
    _ run: inout StatementRun
  ) throws(FatalError) {
    let d = try bound(domRef, as: Domain.self)
    let i = IOVA(try address(iova))
    let p = PhysicalAddress(try address(phys))
    do {
      try d.map(
        iova: i, phys: p, size: size, readable: prot.allowsRead, writable: prot.allowsWrite, context: run.context)
    } catch { run.fail(error) }
  }

  /// `iommu_unmap DOMAIN iova= size=`, or `iommu_unmap_fast` (`fast`).
  func iommuUnmap(
    _ domRef: NameReference, iova: AddressExpression, size: UInt64, fast: Bool, _ run: inout StatementRun
  ) throws(FatalError) {
    let d = try bound(domRef, as: Domain.self)
    let i = IOVA(try address(iova))
    run.outcome.unmapped =
      fast ? d.unmapFast(iova: i, size: size, context: run.context) : d.unmap(iova: i, size: size, context: run.context)
  }

  /// `iova_to_phys DOMAIN iova=`.
  func iovaToPhys(_ domRef: NameReference, iova: AddressExpression, _ run: inout StatementRun) throws(FatalError) {
    let d = try bound(domRef, as: Domain.self)
    run.outcome.phys = d.iovaToPhys(IOVA(try address(iova))).rawValue
  }
}
