import KernelTypes

/// An ATS invalidation the device never completed, as each IOMMU driver logs
/// it, followed by iommusan's WARN (the kernel logs no WARN: VT-d retries the
/// queue, SMMUv3 repeats the CMD_SYNC, AMD waits on the completion semaphore).
extension Finding {
  /// What the timed-out command was.
  package struct ATSInvalidation: Sendable, Hashable {
    package var model: IOMMUModel
    /// The IOMMU unit's device name (`dmar0`, `ivhd0`, ...): the emulated unit's name.
    package var unit: String
    /// The endpoint's `SSSS:BB:DD.F`.
    package var bdf: String
    package var pasid: UInt32?
    /// Inclusive IOVA range, nil for the whole address space.
    package var range: ClosedRange<UInt64>?

    package init(model: IOMMUModel, unit: String, bdf: String, pasid: UInt32?, range: ClosedRange<UInt64>?) {
      self.model = model
      self.unit = unit
      self.bdf = bdf
      self.pasid = pasid
      self.range = range
    }

    /// The PCI requester ID, `bus << 8 | devfn` (`pci_dev_id()`), from the BDF.
    package var sourceID: UInt16 {
      let parts = bdf.split(separator: ":")
      guard parts.count == 3 else { return 0 }
      let devfn = parts[2].split(separator: ".")
      let bus = UInt16(parts[1], radix: 16) ?? 0
      let dev = UInt16(devfn.first ?? "0", radix: 16) ?? 0
      let fn = UInt16(devfn.count > 1 ? devfn[1] : "0", radix: 16) ?? 0
      return (bus & 0xff) << 8 | (dev & 0x1f) << 3 | (fn & 0x7)
    }
  }

  /// Stand-in for a physical address in the driver's queue (VT-d's wait
  /// status slot, AMD's command buffer entry): the model has no queue memory.
  package static let invalidationQueueStandIn: UInt64 = 0x1_0000_0000

  /// The lines the IOMMU driver prints when the device does not answer.
  ///
  /// - VT-d: `qi_dump_fault()` then `qi_check_fault()` (drivers/iommu/intel/dmar.c),
  ///   `pr_fmt` `DMAR: `: the ITE with the source ID from IQER (hex), the queue
  ///   head (the Device-TLB descriptor, encoded as `qi_flush_dev_iotlb()` does,
  ///   queue depth 0) and the prior descriptor (the batch's Invalidation Wait,
  ///   `QI_IWD_STATUS_DATA(QI_DONE) | QI_IWD_STATUS_WRITE | QI_IWD_TYPE`), then
  ///   `Invalidation Time-out Error (ITE) cleared`.
  /// - SMMUv3: `__arm_smmu_cmdq_skip_err()` (arm-smmu-v3.c) `dev_err()`s
  ///   `CMDQ error (cons 0x%08x): ATC invalidate timeout`; CONS carries
  ///   `CMDQ_ERR_CERROR_ATC_INV_IDX` (3) in bits 30:24 and points at the CMD_SYNC
  ///   after the CMD_ATC_INV (index 1 here, a stand-in).
  /// - AMD: `wait_on_sem()`'s `Completion-Wait loop timed out` and
  ///   `iommu_print_event()`'s `Event logged [IOTLB_INV_TIMEOUT device=%04x:%02x:%02x.%x
  ///   address=0x%llx]` (drivers/iommu/amd/iommu.c, `dev_fmt` `AMD-Vi: `).
  package static func atsTimeoutLog(_ inv: ATSInvalidation) -> [String] {
    switch inv.model {
    case .vtd:
      let sid = UInt64(inv.sourceID)
      let pfsid = sid  // the PF's requester ID; the model has no VFs
      let pfsidBits = (pfsid & 0xf) << 12 | ((pfsid >> 4) & 0xfff) << 52
      let (addr, sized) = vtdAddress(inv.range)
      let head: (type: String, qw0: UInt64, qw1: UInt64)
      if let pasid = inv.pasid {
        // qi_flush_dev_iotlb_pasid(): QI_DEV_EIOTLB_PASID | _SID | QI_DEIOTLB_TYPE | PFSID; size bit 11.
        head = (
          "PASID-based Device-TLB Invalidation", UInt64(pasid) << 32 | sid << 16 | 0x8 | pfsidBits,
          addr | (sized ? 1 << 11 : 0)
        )
      } else {
        // qi_flush_dev_iotlb(): QI_DEV_IOTLB_SID | QDEP(0) | QI_DIOTLB_TYPE | PFSID; size bit 0.
        head = ("Device-TLB Invalidation", sid << 32 | 0x3 | pfsidBits, addr | (sized ? 1 : 0))
      }
      return [
        "DMAR: VT-d detected Invalidation Time-out Error: SID \(String(sid, radix: 16))",
        "DMAR: QI HEAD: \(head.type) qw0 = \(head.qw0.hexAlt), qw1 = \(head.qw1.hexAlt)",
        "DMAR: QI PRIOR: Invalidation Wait qw0 = 0x200000025, qw1 = \(invalidationQueueStandIn.hexAlt)",
        "DMAR: Invalidation Time-out Error (ITE) cleared",
      ]
    case .smmuv3:
      return ["arm-smmu-v3 \(inv.unit): CMDQ error (cons 0x03000001): ATC invalidate timeout"]
    case .amd:
      return [
        "AMD-Vi: Completion-Wait loop timed out",
        "iommu \(inv.unit): AMD-Vi: Event logged [IOTLB_INV_TIMEOUT device=\(inv.bdf) "
          + "address=\(invalidationQueueStandIn.hexAlt)]",
      ]
    }
  }

  /// `qi_flush_dev_iotlb()`'s address: the range as an aligned power-of-two
  /// block, the size encoded in the low bits (`addr |= (1 << (12 + mask - 1)) - 1`,
  /// then `& VTD_PAGE_MASK`), and whether the size bit is set. The whole
  /// space is `mask = MAX_AGAW_PFN_WIDTH`: `0x7ffffffffffff000` with the size bit.
  package static func vtdAddress(_ range: ClosedRange<UInt64>?) -> (UInt64, Bool) {
    guard let range else { return (0x7fff_ffff_ffff_f000, true) }
    let size = (range.upperBound &- range.lowerBound) &+ 1
    let pages = max(1, size >> 12)
    var mask = 0
    while mask < 52, (UInt64(1) << UInt64(mask)) < pages { mask += 1 }
    // Aligned down so that the block of 2^mask pages covers the start.
    var addr = range.lowerBound & ~((UInt64(1) << UInt64(12 + mask)) &- 1)
    guard mask > 0 else { return (addr & ~0xfff, false) }
    addr |= (UInt64(1) << UInt64(12 + mask - 1)) &- 1
    return (addr & ~0xfff, true)
  }
}
