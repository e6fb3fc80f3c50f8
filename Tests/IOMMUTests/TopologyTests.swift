import KernelTypes
import Testing

@testable import IOMMU

/// Names of IOMMUs and devices are their identity: as `device_add()` and
/// `iommu_device_sysfs_add()` refuse a duplicate sysfs name, a second one of
/// the same name is EEXIST and leaves the first in place.
@Suite struct TopologyTests {
  @Test func duplicateNamesAreEEXIST() throws {
    let rig = try Rig()
    let first = try rig.device("nic")
    #expect(errno { try rig.device("nic") } == .EEXIST)
    #expect(errno { try rig.machine.addIOMMU(name: "mmu0", model: .vtd) } == .EEXIST)
    let d = try rig.paging()
    try rig.machine.attach(first, to: d, context: ctx)
    try rig.machine.detach(first, context: ctx)
    try rig.machine.freeDomain(d, context: ctx)
  }
}
