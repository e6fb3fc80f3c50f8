import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel

/// Section 5 of the fixture language: the DMA API.
extension Execution {
  /// `NAME = dma_map DEVICE ADDR size= [dir=]`.
  func dmaMap(
    _ devRef: NameReference, _ addr: AddressExpression, size: UInt64, direction: DMADirection,
    _ run: inout StatementRun
  ) throws(FatalError) {
    let dev = try bound(devRef, as: Device.self)
    let p = PhysicalAddress(try address(addr))
    do {
      let a = try machine.dmaMap(dev, phys: p, size: size, direction: direction, context: run.context)
      bind(run.statement, .dmaHandle(DMAHandle(device: dev, address: a, size: size, direction: direction)))
    } catch { run.fail(error) }
  }

  /// `dma_unmap NAME [size=] [dir=]`: nil means as at map time.
  func dmaUnmap(
    _ ref: NameReference, size: UInt64?, direction: DMADirection?, _ run: inout StatementRun
  ) throws(FatalError) {
    let h = try bound(ref, as: DMAHandle.self)
    machine.dmaUnmap(
      h.device, dmaAddress: h.address, size: size ?? h.size, direction: direction ?? h.direction,
      context: run.context)
  }

  /// `NAME = dma_alloc DEVICE SIZE`.
  func dmaAlloc(_ devRef: NameReference, size: UInt64, _ run: inout StatementRun) throws(FatalError) {
    let dev = try bound(devRef, as: Device.self)
    do {
      let (a, block) = try machine.dmaAlloc(dev, size: size, context: run.context)
      let handle = DMAHandle(device: dev, address: a, size: size, direction: .bidirectional, coherent: block)
      bind(run.statement, .dmaHandle(handle))
    } catch { run.fail(error) }
  }

  /// `dma_free NAME`.
  func dmaFree(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let b = try bound(ref, as: CoherentBuffer.self)
    do {
      try machine.dmaFree(
        b.handle.device, dmaAddress: b.handle.address, size: b.handle.size, block: b.block, context: run.context)
    } catch { run.fail(error) }
  }
}
