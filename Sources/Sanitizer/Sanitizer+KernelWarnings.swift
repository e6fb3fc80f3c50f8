import IOMMU
import KernelTypes
import MemoryModel
import Reports

extension Sanitizer {
  /// A kernel WARN on a path the model follows: every `WARNING:` iommusan
  /// prints is a report, counted and in JSON.
  /// The corresponding Linux functions are `__arm_lpae_unmap()` and `pci_dev_reset_iommu_prepare()`.
  package func kernelWarning(_ warning: KernelWarning, context: CallContext) {
    switch warning {
    case .partialLargeUnmap(let domain, let iova, let size):
      let finding = Finding.partialLargeUnmap(
        iova: iova, size: size, domain: domain.name, device: domain.attachedDevices.first?.device.name)
      report(finding, context: context)
    case .resetPrepareReentry(let device, let holder):
      let finding = Finding.resetPrepareReentry(
        device: device.name, bdf: device.bdf, domain: device.domain?.name, group: device.groupDescription,
        holder: holder === device ? nil : holder.name)
      report(finding, context: context)
    }
  }
}
