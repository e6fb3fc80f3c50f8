import KernelTypes

/// WARNs of the IOMMU core and io-pgtable that the model reaches.
extension Finding {
  /// `__arm_lpae_unmap()`'s `WARN_ONCE(true, "Unmap of a partial large IOPTE
  /// is not allowed")`: an unmap smaller than the block mapping it falls in;
  /// it returns 0 and the block stays mapped.
  /// The corresponding Linux function is `__arm_lpae_unmap()`.
  package static func partialLargeUnmap(iova: IOVA, size: UInt64, domain: String, device: String?) -> Finding {
    let message = "Unmap of a partial large IOPTE is not allowed"
    return Finding(
      kind: .unmapPartialLargePage, headline: message, warnMessage: [message],
      warningSite: .armLPAEPartialUnmap,
      frames: ["__arm_lpae_unmap", "arm_lpae_unmap_pages", "arm_smmu_unmap_pages", "__iommu_unmap"],
      iova: iova, domain: domain, device: device,
      details: [
        Detail("size", .hex(size)), Detail("unmapped", .int(0)),
        Detail("note", .string("WARN_ONCE: the kernel warns once per boot; later partial unmaps are silent")),
      ])
  }

  /// `pci_dev_reset_iommu_prepare()`'s bare `WARN_ON(group->resetting_domain)`
  /// ("Re-entry is not allowed"), then `-EBUSY`: the device itself, or
  /// `holder`, another device of its IOMMU group `group`, is resetting.
  /// The corresponding Linux function is `pci_dev_reset_iommu_prepare()`.
  package static func resetPrepareReentry(
    device: String, bdf: String, domain: String?, group: String, holder: String? = nil
  ) -> Finding {
    let who = holder.map { "\($0), of the same \(group), is" } ?? "it is already"
    var details = [Detail("bdf", .string(bdf)), Detail("group", .string(group))]
    if let holder { details.append(Detail("resetting", .string(holder))) }
    details.append(Detail("returns", .string("EBUSY")))
    return Finding(
      kind: .resetPrepareReentry,
      headline:
        "iommusan: pci_dev_reset_iommu_prepare() of \(device) (\(bdf)) while \(who) between reset_prepare "
        + "and reset_done: re-entry is not allowed, EBUSY",
      warningSite: .resetPrepareReentry, frames: ["pci_dev_reset_iommu_prepare"], domain: domain, device: device,
      details: details)
  }
}
