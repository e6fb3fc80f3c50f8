import MemoryModel

extension Machine {
  /// The blocking domain of a unit (the kernel's static `blocked_domain`).
  func blockingDomain(_ unit: IOMMUUnit, context: CallContext) throws(MachineError) -> Domain {
    if let d = registry.withLock({ $0.blockingDomains[unit.name] }) { return d }
    let d = try allocDomain(unit: unit, type: .blocked, name: "\(unit.name):blocked", context: context)
    registry.withLock { $0.blockingDomains[unit.name] = d }
    return d
  }

  /// Parks the device's RID on the blocking domain (which disables ATS and
  /// flushes its ATC) and removes its PASID attachments, remembering both.
  /// Does nothing for a device without ATS. Until `reset_done` no device of
  /// its group may change domain. Re-entry nests since 0d5fd7a9323c (the
  /// inner prepare and done do nothing), and with its b296ca1fb43a (a
  /// per-device `gdev->blocked`) devices of one group reset independently;
  /// before them (`emu.kernel=` below 7.0.11) the group has one
  /// `resetting_domain`: a prepare while any device of the group is
  /// prepared, itself or a sibling, WARNs and is refused with EBUSY.
  /// The corresponding Linux function is `pci_dev_reset_iommu_prepare()`.
  package func resetPrepare(_ device: Device, context: CallContext) throws(MachineError) {
    guard device.ats else { return }
    if policy.kernel.has(.resetReentry) {
      let nested = device.state.withLock { s -> Bool in
        guard s.resetPrepared else { return false }
        s.resetNesting += 1
        return true
      }
      if nested { return }
    } else if let holder = groupDevices(of: device).first(where: \.isResetPrepared) {
      // `if (WARN_ON(group->resetting_domain)) return -EBUSY;`
      observer?.kernelWarning(.resetPrepareReentry(device, holder: holder), context: context)
      throw MachineError(
        .EBUSY,
        holder === device
          ? "device \(device.name) is already between reset_prepare and reset_done"
          : "\(holder.name) of \(device.groupDescription) is between reset_prepare and reset_done")
    }
    let blocked = try blockingDomain(device.unit, context: context)
    let (old, pasids) = device.state.withLock { s -> (Domain?, [UInt32: Domain]) in
      let o = (s.domain, s.pasidDomains)
      s.savedDomain = s.domain
      s.savedPASIDs = s.pasidDomains
      s.pasidDomains = [:]
      s.domain = blocked
      s.resetPrepared = true
      return o
    }
    if let old { unlink(device, from: old, pasid: nil, context: context) }
    for (pasid, d) in pasids.sorted(by: { $0.key < $1.key }) { unlink(device, from: d, pasid: pasid, context: context) }
    // The blocking attach disables ATS: the ATC is flushed, every PASID
    // included, before the reset.
    device.invalidateATC(
      device.unit.atcCommand(device: device.name, pasid: nil, range: nil, allPASIDs: true), machine: self,
      context: context)
    issueSync(device.unit, context: context)
  }

  /// Reattaches the parked domain and PASIDs; with `emu.reset=defer` also
  /// the attaches asked for meanwhile (a failing one WARNs).
  /// The corresponding Linux function is `pci_dev_reset_iommu_done()`.
  package func resetDone(_ device: Device, context: CallContext) throws(MachineError) {
    guard device.ats else { return }
    if !device.isResetPrepared {
      // Before b296ca1fb43a the group has one `resetting_domain`: a done of a
      // device that was not prepared (its prepare was refused) while a
      // sibling is clears it. The sibling stays on the blocking domain, its
      // own done then returns at `if (!group->resetting_domain)`, and the
      // group's fence is down.
      if !policy.kernel.has(.resetReentry),
        let holder = groupDevices(of: device).first(where: \.isResetPrepared)
      {
        holder.state.withLock { $0.resetPrepared = false }
      }
      return
    }
    let inner = device.state.withLock { s -> Bool in
      guard s.resetNesting > 0 else { return false }
      s.resetNesting -= 1
      return true
    }
    if inner { return }
    let (saved, pasids, deferred) = device.state.withLock {
      s -> (Domain?, [UInt32: Domain], [(domain: Domain?, pasid: UInt32?)]) in
      let r = (s.savedDomain, s.savedPASIDs, s.deferredAttaches)
      s.domain = s.savedDomain
      s.pasidDomains = s.savedPASIDs
      s.savedDomain = nil
      s.savedPASIDs = [:]
      s.deferredAttaches = []
      s.resetPrepared = false
      return r
    }
    saved?.link(device, pasid: nil)
    for (pasid, d) in pasids { d.link(device, pasid: pasid) }
    for a in deferred {
      do {
        if let d = a.domain {
          try attach(device, to: d, pasid: a.pasid, context: context)
        } else {
          try detach(device, pasid: a.pasid, context: context)
        }
      } catch {
        observer?.kernelMessage(
          "iommusan: pci_dev_reset_iommu_done: deferred \(a.domain == nil ? "detach" : "attach to \(a.domain!.name)") of \(device.name) failed: \(error.errno.name) (\(error.reason))",
          context: context)
      }
    }
  }

  /// The first half of a function-level reset as the PCI core does it:
  /// `reset_prepare` (unless `emu.reset=none`), then the device starts
  /// resetting: its ATC is emptied and it ignores ATS invalidations.
  package func flrBegin(_ device: Device, context: CallContext) throws(MachineError) {
    if policy.reset != .none { try resetPrepare(device, context: context) }
    device.state.withLock { $0.inFLR = true }
    device.clearATC()
  }

  /// The second half: the device is back, then `reset_done`.
  package func flrEnd(_ device: Device, context: CallContext) throws(MachineError) {
    guard device.inFLR else { throw MachineError(.EINVAL, "device \(device.name) is not in a function-level reset") }
    device.state.withLock { $0.inFLR = false }
    if policy.reset != .none { try resetDone(device, context: context) }
  }

  /// The corresponding Linux function is `pcie_flr()` (with the reset fence
  /// of `pci_reset_function()`).
  package func flr(_ device: Device, context: CallContext) throws(MachineError) {
    try flrBegin(device, context: context)
    memory.stepObserver?.kernelStep(.flrStarted)
    try flrEnd(device, context: context)
  }

  /// What an attach (or detach) does while the device is resetting: nil to
  /// go ahead, or how the fence answers.
  /// With `ebusy`, any device of the group resetting refuses it
  /// (`group->resetting_domain`, later `group->recovery_cnt`: "any sibling
  /// devices in the iommu_group cannot change domain"); `defer` looks at the
  /// device alone.
  func resetFence(_ device: Device, domain: Domain?, pasid: UInt32?) throws(MachineError) -> Bool {
    if policy.reset == .ebusy, !device.isResetPrepared,
      let holder = groupDevices(of: device).first(where: \.isResetPrepared)
    {
      throw MachineError(
        .EBUSY, "\(holder.name) of \(device.groupDescription) is resetting (between reset_prepare and reset_done)")
    }
    guard device.isResetPrepared else { return false }
    switch policy.reset {
    case .none: return false
    case .ebusy: throw MachineError(.EBUSY, "device \(device.name) is resetting (between reset_prepare and reset_done)")
    case .deferAttach:
      device.state.withLock { $0.deferredAttaches.append((domain, pasid)) }
      return true
    }
  }

  /// Removes a device from a domain's list and flushes what it may cache.
  func unlink(_ device: Device, from domain: Domain, pasid: UInt32?, context: CallContext) {
    domain.unlink(device, pasid: pasid)
    if domain.type != .blocked && domain.type != .identity {
      issue(
        domain.unit.domainCommand(domainID: domain.id, pasid: pasid.map { .some($0) }), on: domain.unit,
        context: context)
    }
  }
}
