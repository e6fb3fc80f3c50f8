import MemoryModel

extension Machine {
  /// Breaks the reference cycles among the machine's objects so that a
  /// finished machine, its emulated memory included, is freed: the
  /// observers (a sanitizer holds the machine that holds it), devices and
  /// the domains that list them, SVA domains and their processes' bonds.
  ///
  /// Call it once nothing will use the machine again and no operation is
  /// in flight (the fixture runner does at the end of every run). Without
  /// it each run leaks its machine, which a long `check`, the test suite or
  /// the fuzzer pays for.
  package func tearDown() {
    observer = nil
    #if IOMMU_DEBUG_PAGEALLOC
      releaseDebugHooks()
    #endif
    memory.observer = nil
    let (devices, registered, processes) = registry.withLock { r in
      (Array(r.devices.values), Array(r.domains.values) + Array(r.blockingDomains.values), r.processes)
    }
    var domains = registered
    for device in devices {
      device.state.withLock { s in
        domains += [s.domain, s.defaultDomain, s.savedDomain].compactMap { $0 }
        domains += Array(s.pasidDomains.values) + Array(s.savedPASIDs.values)
        domains += s.deferredAttaches.compactMap(\.domain)
      }
    }
    for domain in domains { domain.state.withLock { $0.devices.removeAll() } }
    for process in processes { process.state.withLock { $0.bonds.removeAll() } }
  }
}
