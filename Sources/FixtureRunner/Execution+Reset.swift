import FixtureLanguage
import IOMMU
import MemoryModel

/// Section 8 of the fixture language: device reset.
extension Execution {
  /// `reset_prepare`, `reset_done`, `flr`, `flr_begin` or `flr_end DEVICE`:
  /// `step` is the machine's function for it.
  func reset(
    _ ref: NameReference, _ step: (Device, CallContext) throws(MachineError) -> Void, _ run: inout StatementRun
  ) throws(FatalError) {
    let dev = try bound(ref, as: Device.self)
    do { try step(dev, run.context) } catch { run.fail(error) }
  }
}
