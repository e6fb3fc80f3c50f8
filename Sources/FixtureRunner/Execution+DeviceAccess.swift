import FixtureLanguage
import IOMMU
import KernelTypes

/// Section 6 of the fixture language: devices doing DMA. The machine splits
/// an access into the requests a device puts on the bus and faults the
/// ones it refuses.
extension Execution {
  /// `dma DEVICE read|write ADDR [len=] [pasid=] [value=] [priv=]`.
  func deviceAccess(_ access: DeviceAccess, _ run: inout StatementRun) throws(FatalError) {
    let dev = try bound(access.device, as: Device.self)
    let iova = IOVA(try address(access.address))
    let pasid = try pasid(access.pasid)
    let r = machine.deviceAccess(
      dev, iova: iova, pasid: pasid, privilege: access.privilege ?? .user, isWrite: access.kind == .write,
      length: access.length, value: access.value, context: run.context)
    if r.wrapsAround { throw fatal(access.address.location, "address \(access.address) + len wraps around") }
    run.outcome.faulted = r.fault != nil
    run.outcome.value = r.value
  }

  /// `ats_translate DEVICE ADDR [pasid=]`.
  func atsTranslate(
    _ devRef: NameReference, _ addr: AddressExpression, pasid p: PASIDSelector?, _ run: inout StatementRun
  ) throws(FatalError) {
    let dev = try bound(devRef, as: Device.self)
    let r = machine.atsTranslate(dev, iova: IOVA(try address(addr)), pasid: try pasid(p), context: run.context)
    if r.fault != nil { run.outcome.faulted = true }
  }
}
