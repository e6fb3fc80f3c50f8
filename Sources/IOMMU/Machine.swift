import KernelTypes
import MemoryModel
import Synchronization

#if IOMMU_DEBUG_PAGEALLOC
  /// Holds the debug hooks in a `let`, so that a caller holding the slot
  /// without a reference count can call them without taking one either.
  final class DebugHookSlot: Sendable {
    let hooks: any IOMMUDebugHooks
    init(_ hooks: any IOMMUDebugHooks) { self.hooks = hooks }
  }
#endif

/// The emulated machine: physical memory, IOMMU units, domains, devices
/// and the DMA layer over them.
package final class Machine: Sendable {
  package let memory: PhysicalMemory
  package let policy: MachinePolicy
  package var clock: EmulatedClock { memory.clock }

  /// Trace-point observers; set once before the first operation.
  @exclusivity(unchecked) package nonisolated(unsafe) var observer: (any MachineObserver)?
  #if IOMMU_DEBUG_PAGEALLOC
    /// The IOMMU_DEBUG_PAGEALLOC hooks; nil is the static key off. Set them
    /// with no operation in flight (`bench` switches them between turns).
    /// A slot, once installed, lives until `tearDown()`, so the unretained
    /// reference a hook call holds never dangles.
    package var debugHooks: (any IOMMUDebugHooks)? {
      get { debugHookRef?.takeUnretainedValue().hooks }
      set {
        guard let newValue else {
          debugHookRef = nil
          return
        }
        // One slot per hooks object, kept until tearDown().
        let slot: DebugHookSlot
        if let known = debugHookSlots.first(where: { $0.hooks === newValue }) {
          slot = known
        } else {
          slot = DebugHookSlot(newValue)
          debugHookSlots.append(slot)
        }
        debugHookRef = Unmanaged.passUnretained(slot)
      }
    }
    /// Every slot ever installed; they keep `debugHookRef` valid until `tearDown()` drops them.
    @exclusivity(unchecked) private nonisolated(unsafe) var debugHookSlots: [DebugHookSlot] = []
    /// Drops the hooks and every slot; no operation may be in flight.
    func releaseDebugHooks() {
      debugHooks = nil
      debugHookSlots = []
    }
    /// The installed slot, unretained, for the map and unmap paths: a load
    /// and a branch, and no reference counting (an atomic add) per hook call.
    @exclusivity(unchecked) nonisolated(unsafe) var debugHookRef: Unmanaged<DebugHookSlot>?
  #endif

  struct Registry {
    var units: [String: IOMMUUnit] = [:]
    var devices: [String: Device] = [:]
    var domains: [Int: Domain] = [:]
    var nextDomainID = 1
    var nextGroupID = 0
    /// Named groups (`device ... group=`): their id, unit and default domain.
    var namedGroups: [String: (id: Int, unit: IOMMUUnit, defaultDomain: Domain)] = [:]
    var warnedOnce: Set<String> = []
    var processes: [Process] = []
    var nextPID = 1999
    var cpuTLBFlushes: UInt64 = 0
    var blockingDomains: [String: Domain] = [:]
    /// Domains whose flush-queue timer was ever armed: what `advance` looks at.
    var armedTimers: Set<Int> = []
    /// ATS devices by name, and sorted (rebuilt after a change): the
    /// sanitizer looks at their ATCs on every free.
    var atsDevices: [String: Device] = [:]
    var atsSorted: [Device]? = []
    /// `units` sorted by name, rebuilt after `addIOMMU`.
    var unitsSorted: [IOMMUUnit]? = []
  }
  let registry = Mutex(Registry())
  /// The kmalloc caches (`Slab.swift`).
  let slab = Mutex(SlabAllocator())

  /// The CPU side: init_mm, processes and their page tables.
  let cpu: CPUMemoryManager

  package init(memory: PhysicalMemory, policy: MachinePolicy = MachinePolicy()) {
    self.memory = memory
    self.policy = policy
    self.cpu = CPUMemoryManager(memory: memory)
  }

  package var units: [IOMMUUnit] {
    registry.withLock { r in
      if let s = r.unitsSorted { return s }
      let s = r.units.values.sorted { $0.name < $1.name }
      r.unitsSorted = s
      return s
    }
  }
  package var devices: [Device] { registry.withLock { Array($0.devices.values) }.sorted { $0.name < $1.name } }
  /// The device named `name`: one probe, where `devices` sorts them all.
  package func device(named name: String) -> Device? { registry.withLock { $0.devices[name] } }
  package var domains: [Domain] { registry.withLock { Array($0.domains.values) }.sorted { $0.id < $1.id } }
  /// `devices.filter(\.ats)`, without sorting every device on each call.
  package var atsDevices: [Device] {
    registry.withLock { r in
      if let s = r.atsSorted { return s }
      let s = r.atsDevices.values.sorted { $0.name < $1.name }
      r.atsSorted = s
      return s
    }
  }
  /// The live domain with this id.
  package func domain(id: Int) -> Domain? { registry.withLock { $0.domains[id] } }

  // MARK: - Topology

  /// Adds an IOMMU unit.
  package func addIOMMU(
    name: String, model: IOMMUModel, granule: PageSize = .size4K, pgsizes: UInt64? = nil, iotlbEntries: Int = 256,
    walkCacheEntries: Int = 64, sva: Bool = false, npcache: Bool = false, gathers: Bool = true
  ) throws(MachineError) -> IOMMUUnit {
    guard memory.budget.charge(IOMMUUnit.residentBytes, .units) else { throw .residentLimit }
    let unit = IOMMUUnit(
      name: name, model: model, granule: granule, pgsizes: pgsizes, iotlbEntries: iotlbEntries,
      walkCacheEntries: walkCacheEntries, sva: sva, npcache: npcache, gathers: gathers, budget: memory.budget)
    guard unit.pgsizeBitmap != 0 else {
      memory.budget.release(IOMMUUnit.residentBytes, .units)
      throw MachineError(.EINVAL, "pgsizes leaves no page size the \(model.rawValue) format supports")
    }
    let dup = registry.withLock { r -> Bool in
      if r.units[name] != nil { return true }
      r.units[name] = unit
      r.unitsSorted = nil
      return false
    }
    if dup {
      memory.budget.release(IOMMUUnit.residentBytes, .units)
      throw MachineError(.EEXIST, "an IOMMU named \(name) exists")
    }
    return unit
  }

  /// Adds a PCI function behind `unit`, probes it: its own group and a
  /// default DMA domain (strict or lazy by `iommu.strict`); with `group`, the
  /// group of that name and its default domain once a first device made them
  /// (`iommu_group_get_for_dev()`: devices that cannot be isolated share one).
  /// The corresponding Linux function is `iommu_probe_device()`.
  package func addDevice(
    name: String, unit: IOMMUUnit, ats: Bool = false, pasid: Bool = false, group: String? = nil,
    context: CallContext
  ) throws(MachineError) -> Device {
    let ids = try registry.withLock { r throws(MachineError) -> (Int, Int, Domain?) in
      // As device_add(): a second device of the same name is EEXIST.
      if r.devices[name] != nil { throw MachineError(.EEXIST, "a device named \(name) exists") }
      if let group, let g = r.namedGroups[group] {
        guard g.unit === unit else {
          throw MachineError(.EINVAL, "group \(group) sits behind \(g.unit.name), device \(name) behind \(unit.name)")
        }
        return (g.id, r.devices.count + 1, g.defaultDomain)
      }
      r.nextGroupID += 1
      return (r.nextGroupID - 1, r.devices.count + 1, nil)
    }
    let (gid, slot, shared) = ids
    let bdf = "0000:00:" + String(format2: slot) + ".0"
    // Devices stay for the machine's life, as their charge does.
    guard memory.budget.charge(Device.residentBytes, .devices) else { throw .residentLimit }
    let dev = Device(
      name: name, unit: unit, ats: ats, pasid: pasid, groupID: gid, groupName: group, bdf: bdf, budget: memory.budget)
    let domain: Domain
    if let shared {
      domain = shared
    } else {
      domain = try allocDomain(unit: unit, type: .dma, name: "\(group ?? name):default", context: context)
      if let group { registry.withLock { $0.namedGroups[group] = (gid, unit, domain) } }
    }
    dev.state.withLock {
      $0.domain = domain
      $0.defaultDomain = domain
    }
    domain.link(dev, pasid: nil)
    registry.withLock { r in
      r.devices[name] = dev
      if ats || r.atsDevices[name] != nil {
        r.atsDevices[name] = ats ? dev : nil
        r.atsSorted = nil
      }
    }
    return dev
  }

  /// Allocates a domain. The corresponding Linux function is `iommu_paging_domain_alloc()`.
  package func allocDomain(
    unit: IOMMUUnit, type: DomainType, name: String, context: CallContext, process: Process? = nil
  ) throws(MachineError) -> Domain {
    let id = registry.withLock { r -> Int in
      r.nextDomainID += 1
      return r.nextDomainID - 1
    }
    // Charged for the object's life: a freed domain stays reachable by its binding.
    guard memory.budget.charge(Domain.residentBytes, .domains) else { throw .residentLimit }
    let d: Domain
    do {
      d = try Domain(id: id, name: name, type: type, unit: unit, machine: self, context: context, process: process)
    } catch {
      memory.budget.release(Domain.residentBytes, .domains)
      throw error
    }
    registry.withLock { $0.domains[id] = d }
    return d
  }

  /// Frees a domain and its page table.
  /// The corresponding Linux function is `iommu_domain_free()`.
  package func freeDomain(_ domain: Domain, context: CallContext) throws(MachineError) {
    let (attached, freed) = domain.state.withLock { ($0.devices.count, $0.isFreed) }
    if freed {
      // The kernel reads the freed domain (a use-after-free); the model changes nothing.
      guard let observer else { throw MachineError(.ENOENT, "domain \(domain.name) was already freed") }
      observer.domainFreedAgain(domain, context: context)
      return
    }
    if attached > 0 { throw MachineError(.EBUSY, "domain \(domain.name) still has \(attached) device(s) attached") }
    let leaves = domain.mappedLeaves()
    if !leaves.isEmpty {
      observer?.mappingsLeft(domain, leaves: leaves, reason: .domainFreed, device: nil, freed: true, context: context)
    }
    // Pending lazy or fast-unmap work is flushed first, then every table goes.
    domain.iotlbSync(context: context)
    flushQueueDrain(domain, context: context)
    if domain.hasPageTable { domain.flushIOTLBAll(context: context) }
    let tables = domain.state.withLock { s -> [PageBlock] in
      s.isFreed = true
      s.freedBy = context
      let t = s.pageTable?.allTables() ?? []
      s.pageTable?.forgetAll()
      return t
    }
    domain.freeTables(tables, context: context)
    registry.withLock { _ = $0.domains.removeValue(forKey: domain.id) }
  }

  /// Attaches a device (or one PASID of it) to a domain.
  /// The corresponding Linux functions are `iommu_attach_device()` and `iommu_attach_device_pasid()`.
  package func attach(_ device: Device, to domain: Domain, pasid: UInt32? = nil, context: CallContext)
    throws(MachineError)
  {
    guard !domain.isFreed else { throw MachineError(.ENOENT, "domain \(domain.name) was freed") }
    if pasid == nil { try requireSingletonGroup(device) }
    if try resetFence(device, domain: domain, pasid: pasid) { return }
    guard domain.unit === device.unit else {
      throw MachineError(
        .EINVAL,
        "domain \(domain.name) belongs to \(domain.unit.name), device \(device.name) sits behind \(device.unit.name)")
    }
    if let pasid {
      guard device.pasidCapable else {
        throw MachineError(.EOPNOTSUPP, "device \(device.name) has no PASID capability")
      }
      let busy = device.state.withLock { s -> Bool in
        if s.pasidDomains[pasid] != nil { return true }
        s.pasidDomains[pasid] = domain
        return false
      }
      if busy { throw MachineError(.EBUSY, "pasid \(pasid) of \(device.name) is already attached") }
      domain.link(device, pasid: pasid)
      return
    }
    let old = try device.state.withLock { s throws(MachineError) -> Domain? in
      guard let cur = s.domain else { return nil }
      if cur === domain { throw MachineError(.EBUSY, "device \(device.name) is already attached to \(domain.name)") }
      if cur !== s.defaultDomain {
        throw MachineError(.EBUSY, "device \(device.name) is attached to \(cur.name), not its default domain")
      }
      s.domain = domain
      return cur
    }
    if let old { detachFromDomain(device, old, pasid: nil, context: context) }
    domain.link(device, pasid: nil)
  }

  /// Detaches a device (or a PASID); the RID returns to its default domain.
  package func detach(_ device: Device, pasid: UInt32? = nil, context: CallContext) throws(MachineError) {
    if let pasid {
      // A PASID detach cannot be refused (`iommu_detach_device_pasid()`
      // returns void); during a reset it drops the parked attachment.
      let (d, parked) = device.state.withLock { s -> (Domain?, Bool) in
        if let d = s.pasidDomains.removeValue(forKey: pasid) { return (d, false) }
        return (s.savedPASIDs.removeValue(forKey: pasid), true)
      }
      guard let d else { throw MachineError(.ENOENT, "pasid \(pasid) of \(device.name) is not attached") }
      if !parked { detachFromDomain(device, d, pasid: pasid, context: context) }
      return
    }
    try requireSingletonGroup(device)
    if try resetFence(device, domain: nil, pasid: nil) { return }
    let old = try device.state.withLock { s throws(MachineError) -> Domain in
      guard let cur = s.domain, let def = s.defaultDomain, cur !== def else {
        throw MachineError(.ENOENT, "device \(device.name) is in its default domain")
      }
      s.domain = def
      return cur
    }
    detachFromDomain(device, old, pasid: nil, context: context)
    device.defaultDomain?.link(device, pasid: nil)
  }

  /// The devices of `device`'s IOMMU group, itself included, by name.
  package func groupDevices(of device: Device) -> [Device] {
    registry.withLock { r in r.devices.values.filter { $0.groupID == device.groupID } }.sorted { $0.name < $1.name }
  }

  /// `iommu_attach_device()` and `iommu_detach_device()` act on a device
  /// alone only when its group holds nothing else
  /// (`list_count_nodes(&group->devices) != 1`: -EINVAL; detach WARNs).
  private func requireSingletonGroup(_ device: Device) throws(MachineError) {
    let n = registry.withLock { r in r.devices.values.count { $0.groupID == device.groupID } }
    guard n == 1 else {
      throw MachineError(
        .EINVAL, "device \(device.name) shares \(device.groupDescription) with \(n - 1) other device(s)")
    }
  }

  /// Unlinks a device from a domain: the driver flushes what the device may
  /// cache for it, and a domain left with no device and mappings is a leak.
  private func detachFromDomain(_ device: Device, _ domain: Domain, pasid: UInt32?, context: CallContext) {
    let remaining = domain.unlink(device, pasid: pasid)
    issue(domain.unit.domainCommand(domainID: domain.id, pasid: .some(pasid)), on: domain.unit, context: context)
    device.invalidateATC(
      domain.unit.atcCommand(device: device.name, pasid: pasid, range: nil), machine: self, context: context)
    issueSync(domain.unit, context: context)
    if remaining == 0 && domain.type == .paging {
      let leaves = domain.mappedLeaves()
      if !leaves.isEmpty {
        observer?.mappingsLeft(
          domain, leaves: leaves, reason: .lastDeviceDetached, device: device, freed: false, context: context)
      }
    }
  }

  // MARK: - Invalidation

  /// Sends one IOMMU-side command and waits for it.
  func issue(_ cmd: InvalidationCommand, on unit: IOMMUUnit, context: CallContext) {
    observer?.invalidationIssued(cmd, context: context)
    unit.apply(cmd)
    observer?.invalidationCompleted(cmd, context: context)
  }

  /// Waits for the invalidations sent: device requests the unit translated
  /// before land first (`KernelStepObserver.drainRequests`).
  func issueSync(_ unit: IOMMUUnit, context: CallContext) {
    unit.count(unit.syncCommandName)
    memory.stepObserver?.drainRequests(unit: unit.name)
  }

  /// A `WARN_ONCE()`: reported to the observer the first time only.
  func warnOnce(_ warning: KernelWarning, context: CallContext) {
    let first = registry.withLock { $0.warnedOnce.insert(warning.site).inserted }
    if first { observer?.kernelWarning(warning, context: context) }
  }

  // MARK: - Time

  /// Moves emulated time forward and fires the timers that expire, in
  /// deadline order.
  package func advance(by ns: UInt64, context: CallContext) {
    let target = clock.now.addingReportingOverflow(ns)
    let end = target.overflow ? UInt64.max : target.partialValue
    while true {
      let armed = registry.withLock { r in r.armedTimers.compactMap { r.domains[$0] } }
      let next = armed.compactMap { d in d.state.withLock { $0.fq.timerDeadline }.map { ($0, d) } }
        .filter { $0.0 <= end }.min { ($0.0, $0.1.id) < ($1.0, $1.1.id) }
      guard let (deadline, domain) = next else { break }
      clock.advance(to: deadline)
      flushQueueTimeout(domain, context: .kernel("fq_flush_timeout"))
    }
    clock.advance(to: end)
  }
}

extension String {
  /// Two lower-case hex digits.
  init(format2 v: Int) {
    let s = String(v & 0xff, radix: 16)
    self = s.count == 1 ? "0" + s : s
  }
}
