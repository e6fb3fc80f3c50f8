import Foundation
import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// The IOTLB, walk-cache and ATC invalidations of one run, for `--html`'s
/// timelines while the sanitizer's page history does not hold them (it
/// records per page; the drivers invalidate by domain and IOVA range).
///
/// An observer beside the sanitizer (`Machine.addObserver`) logs, in order,
/// the moments a page history also records (allocations, frees, maps,
/// unmaps, device accesses: their statement line and task) and the
/// invalidations. `annotate` finds a report's history in that log (each
/// event at the next moment of its kind, line and task) and inserts, between
/// two of its events, the invalidations that covered the page: its unit and
/// domain (or every domain) or an ATC, over an IOVA range holding the page's
/// IOVA in a mapping the log saw. Bounded: the first `maximumMoments`
/// moments and `maximumInvalidations` invalidations are kept; later
/// invalidations are not drawn.
package final class InvalidationLog: MachineObserver, PageAllocatorObserver, @unchecked Sendable {
  enum Kind: UInt8 { case alloc, free, map, unmap, dma, issued, completed }

  struct Moment {
    var kind: Kind
    var line: Int
    var pid: Int
    /// Into `invalidations` or `mappings`, by kind; -1 for none.
    var item: Int32 = -1
  }

  struct Invalidation {
    var command: InvalidationCommand
    var context: CallContext
  }

  /// A mapping the log saw: which IOVA reaches which physical range.
  struct Mapping {
    var unit: String
    var domainID: Int
    var domain: String
    var iova: UInt64
    var phys: UInt64
    var size: UInt64
  }

  package static let maximumMoments = 1 << 17
  package static let maximumInvalidations = 1 << 14

  private let lock = NSLock()
  private var moments: [Moment] = []
  private var invalidations: [Invalidation] = []
  private var mappings: [Mapping] = []
  private let pageShift: UInt64

  package init(pageSize: UInt64) {
    pageShift = UInt64(pageSize.trailingZeroBitCount)
  }

  private func log(_ kind: Kind, _ context: CallContext, item: Int = -1) {
    lock.lock()
    defer { lock.unlock() }
    guard moments.count < Self.maximumMoments else { return }
    moments.append(Moment(kind: kind, line: context.caller.line ?? 0, pid: context.task.pid, item: Int32(item)))
  }

  private func logInvalidation(_ kind: Kind, _ command: InvalidationCommand, _ context: CallContext) {
    lock.lock()
    defer { lock.unlock() }
    guard moments.count < Self.maximumMoments, invalidations.count < Self.maximumInvalidations else { return }
    invalidations.append(Invalidation(command: command, context: context))
    moments.append(
      Moment(
        kind: kind, line: context.caller.line ?? 0, pid: context.task.pid, item: Int32(invalidations.count - 1)))
  }

  // MARK: - Annotating a history

  /// `history` of the page `pfn` with the invalidations that covered it
  /// between its events; unchanged if it already holds invalidations.
  package func annotate(_ history: [PageHistoryEvent], pfn: UInt64) -> [PageHistoryEvent] {
    guard !history.isEmpty,
      !history.contains(where: { HTMLTimeline.EventClass($0.event) == .invalidation })
    else { return history }
    lock.lock()
    defer { lock.unlock() }
    let phys = pfn << pageShift
    // The page's IOVAs, by unit and domain.
    let reach = mappings.filter { phys >= $0.phys && phys - $0.phys < $0.size }.map { m in
      (unit: m.unit, domainID: m.domainID, iova: m.iova &+ (phys - m.phys))
    }
    guard !reach.isEmpty else { return history }
    func covers(_ c: InvalidationCommand) -> Bool {
      reach.contains { r in
        guard c.range.map({ $0.contains(r.iova) }) ?? true else { return false }
        switch c.target {
        case .iommu(let domainID, _, _): return c.unit == r.unit && (domainID == nil || domainID == r.domainID)
        case .atc: return true
        }
      }
    }
    var out: [PageHistoryEvent] = []
    var position = -1
    for e in history {
      if let kind = Self.kind(of: e), let line = e.line, let pid = e.task?.pid,
        let next = moments.indices.dropFirst(position + 1).first(where: {
          moments[$0].kind == kind && moments[$0].line == line && moments[$0].pid == pid
        })
      {
        // The invalidations between the previous event and this one.
        if position >= 0 {
          var k = position + 1
          while k < next {
            let m = moments[k]
            k += 1
            guard m.kind == .issued || m.kind == .completed, m.item >= 0 else { continue }
            let inv = invalidations[Int(m.item)]
            guard covers(inv.command) else { continue }
            // Issued and completed with nothing between: one event.
            var both = false
            if m.kind == .issued, k < next, moments[k].kind == .completed, moments[k].item >= 0,
              invalidations[Int(moments[k].item)].command == inv.command
            {
              both = true
              k += 1
            }
            out.append(
              Self.event(inv, phase: both ? "issued and completed" : m.kind == .issued ? "issued" : "completed"))
          }
        }
        position = next
      }
      out.append(e)
    }
    return out
  }

  private static func kind(of e: PageHistoryEvent) -> Kind? {
    switch HTMLTimeline.EventClass(e.event) {
    case .alloc: .alloc
    case .free: .free
    case .map: .map
    case .unmap: .unmap
    case .access: .dma
    default: nil
    }
  }

  private static func event(_ inv: Invalidation, phase: String) -> PageHistoryEvent {
    let c = inv.command
    let range = c.range.map { " iova \($0.lowerBound.hexAlt)-\($0.upperBound.hexAlt)" } ?? " everything"
    var device: String?
    var what: String
    switch c.target {
    case .iommu(let domainID, _, let leafOnly):
      what = "\(c.unit) IOTLB" + (leafOnly ? "" : " and walk caches") + (domainID.map { " of domain id \($0)" } ?? "")
    case .atc(let d, _):
      device = d
      what = "\(d) ATC"
    }
    let caller = inv.context.caller
    return PageHistoryEvent(
      event: phase == "issued" ? "inval-issued" : phase == "completed" ? "inval-completed" : "inval", file: caller.file,
      line: caller.line,
      text: "\(c.name): \(what),\(range), \(phase)", task: caller.line == nil ? nil : inv.context.task,
      device: device, iommu: c.unit, path: device == nil ? "iotlb" : "atc", iova: c.range?.lowerBound)
  }

  // MARK: - MachineObserver, PageAllocatorObserver

  package func mapped(_ domain: Domain, iova: IOVA, phys: PhysicalAddress, size: UInt64, context: CallContext) {
    lock.lock()
    if moments.count < Self.maximumMoments {
      mappings.append(
        Mapping(
          unit: domain.unit.name, domainID: domain.id, domain: domain.name, iova: iova.rawValue, phys: phys.rawValue,
          size: size))
    }
    lock.unlock()
    log(.map, context)
  }
  package func unmapped(_ domain: Domain, iova: IOVA, size: UInt64, unmapped: UInt64, context: CallContext) {
    log(.unmap, context)
  }
  package func invalidationIssued(_ command: InvalidationCommand, context: CallContext) {
    logInvalidation(.issued, command, context)
  }
  package func invalidationCompleted(_ command: InvalidationCommand, context: CallContext) {
    logInvalidation(.completed, command, context)
  }
  package func deviceAccessed(_ event: DeviceAccessEvent) { log(.dma, event.context) }
  package func tablePageFreeing(_ block: PageBlock, domain: Domain, context: CallContext) {}
  package func atcInvalidationTimedOut(_ command: InvalidationCommand, device: Device, context: CallContext) {}
  package func dmaMapped(
    _ device: Device, dmaAddress: IOVA, size: UInt64, direction: DMADirection, phys: PhysicalAddress,
    context: CallContext
  ) {}
  package func dmaUnmapping(
    _ device: Device, dmaAddress: IOVA, size: UInt64?, direction: DMADirection?, context: CallContext
  ) {}
  package func mappingsLeft(
    _ domain: Domain, leaves: [RemovedLeaves], reason: LeakReason, device: Device?, freed: Bool, context: CallContext
  ) {}
  package func kernelMessage(_ text: String, context: CallContext) {}
  package func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    log(.alloc, context)
  }
  package func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
    log(.free, context)
  }
}
