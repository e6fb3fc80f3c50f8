import KernelTypes
import MemoryModel
import Synchronization

/// A PCI function behind an IOMMU, with its group and, with ATS, its own
/// address translation cache (ATC).
package final class Device: Sendable, CustomStringConvertible {
  /// ATC capacity.
  package static let atcEntries = 32
  /// What a device costs: the object, its state and its empty ATC.
  static let residentBytes = 1024

  package let name: String
  package let unit: IOMMUUnit
  package let ats: Bool
  package let pasidCapable: Bool
  package let groupID: Int
  /// The `group=` name, nil for a group of its own.
  package let groupName: String?
  /// A PCI address for kernel-style messages (`0000:00:01.0`).
  package let bdf: String

  struct State {
    var domain: Domain?
    var defaultDomain: Domain?
    var pasidDomains: [UInt32: Domain] = [:]
    var atc: LeafCache
    /// Between `flr_begin` and `flr_end`: ATS invalidations are ignored.
    var inFLR = false
    var atcInvalidations: UInt64 = 0
    var atcTimeouts: UInt64 = 0
    var atcHits: UInt64 = 0
    /// Between `pci_dev_reset_iommu_prepare()` and `..._done()`.
    var resetPrepared = false
    /// `dev->iommu->pci_32bit_workaround`: set at probe for a PCI device,
    /// cleared by the first DMA allocation that finds no IOVA below 4G.
    var pci32BitWorkaround = true
    /// Nested prepares since 0d5fd7a9323c (`gdev->reset_depth` less one).
    var resetNesting = 0
    /// The domain and PASID attachments parked during the reset.
    var savedDomain: Domain?
    var savedPASIDs: [UInt32: Domain] = [:]
    /// `emu.reset=defer`: attaches asked for during the reset.
    var deferredAttaches: [(domain: Domain?, pasid: UInt32?)] = []
  }
  let state: Mutex<State>

  init(
    name: String, unit: IOMMUUnit, ats: Bool, pasid: Bool, groupID: Int, groupName: String? = nil, bdf: String,
    budget: ResidentBudget? = nil
  ) {
    self.name = name
    self.unit = unit
    self.ats = ats
    self.pasidCapable = pasid
    self.groupID = groupID
    self.groupName = groupName
    self.bdf = bdf
    self.state = Mutex(
      State(atc: LeafCache(capacity: ats ? Self.atcEntries : 0, budget: budget, category: .atcEntries)))
  }

  /// Gives back what the ATC's entries were charged.
  deinit { state.withLock { $0.atc.budget?.release($0.atc.chargedBytes, .atcEntries) } }

  package var description: String { name }
  /// `iommu group 3`, or `iommu group 3 (g0)` when named.
  package var groupDescription: String { "iommu group \(groupID)" + (groupName.map { " (\($0))" } ?? "") }
  package var domain: Domain? { state.withLock { $0.domain } }
  package var defaultDomain: Domain? { state.withLock { $0.defaultDomain } }
  package func domain(pasid: UInt32) -> Domain? { state.withLock { $0.pasidDomains[pasid] } }
  package var inFLR: Bool { state.withLock { $0.inFLR } }
  package var isResetPrepared: Bool { state.withLock { $0.resetPrepared } }

  /// ATC entries that can still reach the page at `phys`.
  package func atcEntries(reaching phys: PhysicalAddress) -> [LeafEntry] {
    state.withLock { $0.atc.reaching(phys.rawValue) }
  }

  package var atcCounters: (entries: Int, hits: UInt64, invalidations: UInt64, timeouts: UInt64) {
    state.withLock { ($0.atc.count, $0.atcHits, $0.atcInvalidations, $0.atcTimeouts) }
  }

  /// Sends an ATC invalidation. A device in reset ignores it, and the
  /// command times out.
  func invalidateATC(_ cmd: InvalidationCommand, machine: Machine, context: CallContext) {
    guard ats, case .atc(_, let pasid) = cmd.target else { return }
    machine.observer?.invalidationIssued(cmd, context: context)
    unit.count(cmd.name)
    let ignored = state.withLock { s -> Bool in
      s.atcInvalidations += 1
      if s.inFLR {
        s.atcTimeouts += 1
        return true
      }
      s.atc.invalidate(
        domainID: nil, pasid: pasid, start: cmd.range?.lowerBound ?? 0, end: cmd.range?.upperBound ?? .max)
      return false
    }
    if ignored {
      machine.observer?.atcInvalidationTimedOut(cmd, device: self, context: context)
    } else {
      machine.observer?.invalidationCompleted(cmd, context: context)
    }
  }

  /// Empties the ATC (an FLR does).
  func clearATC() { state.withLock { _ = $0.atc.invalidate(domainID: nil) } }
}
