import FixtureLanguage
import IOMMU

/// Section 2 of the fixture language: the machine's IOMMUs and devices.
extension Execution {
  /// `iommu NAME model=...`.
  func addIOMMU(_ c: IOMMUConfiguration, _ run: inout StatementRun) {
    do {
      let u = try machine.addIOMMU(
        name: c.name.name, model: c.model, granule: c.granule, pgsizes: c.pageSizes?.bitmap,
        iotlbEntries: c.iotlbEntries, walkCacheEntries: c.walkCacheEntries, sva: c.sva?.isOn ?? false,
        npcache: c.npcache?.isOn ?? false, gathers: c.gather?.isOn ?? true)
      bindings[c.name.name] = .iommu(u)
    } catch { run.fail(error) }
  }

  /// `device NAME iommu=...`.
  func addDevice(_ c: DeviceConfiguration, _ run: inout StatementRun) throws(FatalError) {
    let u = try bound(c.iommu, as: IOMMUUnit.self)
    do {
      let d = try machine.addDevice(
        name: c.name.name, unit: u, ats: c.ats?.isOn ?? false, pasid: c.pasid?.isOn ?? false, group: c.group,
        context: run.context)
      bindings[c.name.name] = .device(d)
    } catch { run.fail(error) }
  }
}
