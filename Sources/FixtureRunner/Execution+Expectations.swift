import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel
import Reports
import Sanitizer

extension Execution {
  /// Checks a statement's `expect` lines (section 9): every expectation
  /// must hold, and every report, error and fault must be named by one.
  func check(_ stmt: Statement, _ o: StatementOutcome) -> [ExpectationFailure] {
    var failures: [ExpectationFailure] = []
    func fail(_ loc: SourceLocation, _ msg: String) {
      failures.append(ExpectationFailure(file: file, line: loc.line, column: loc.column, message: msg))
    }
    let reports = o.reports
    var namedKinds: Set<String> = []
    var namedError = false
    var namedFault = false
    var saidNoReport = false
    for e in stmt.expectations {
      switch e.kind {
      case .report(let want):
        namedKinds.insert(want.kind.rawValue)
        let matching = reports.filter { matches($0, want) }
        if let n = want.count {
          if UInt64(matching.count) != n {
            fail(
              e.location,
              "expected \(plural(Int(clamping: n), "report")) '\(e.text.dropFirst("expect report ".count))', "
                + "\(matching.count) \(matching.count == 1 ? "matches" : "match")\(whyNot(reports, want))")
          }
        } else if matching.isEmpty {
          fail(
            e.location,
            "expected a report '\(e.text.dropFirst("expect report ".count))', none matches"
              + whyNot(reports, want))
        }
      case .noReport:
        saidNoReport = true
        if !reports.isEmpty { fail(e.location, "expected no report\(summary(reports))") }
      case .error(let errno):
        namedError = true
        if let err = o.error {
          if err.name != errno.name {
            fail(e.location, "expected error \(errno.name), the statement failed with \(err.name)\(reason(err.reason))")
          }
        } else {
          fail(e.location, "expected error \(errno.name), the statement succeeded")
        }
      case .fault:
        namedFault = true
        if !o.faulted { fail(e.location, "expected an I/O page fault, the access did not fault") }
      case .unmapped(let v):
        if o.unmapped != v {
          fail(e.location, "expected unmapped=\(hex(v)), got \(o.unmapped.map(hex) ?? "no unmap result")")
        }
      case .phys(let expr):
        let want = try? address(expr)
        if want == nil || o.phys != want {
          fail(
            e.location,
            "expected phys=\(want.map(hex) ?? expr.description), got \(o.phys.map(hex) ?? "no translation result")")
        }
      case .value(let v):
        if o.value != v {
          fail(
            e.location, "expected value=\(hex(v)), got \(o.value.map(hex) ?? "no value (not a read, or it faulted)")")
        }
      }
    }
    if !saidNoReport {
      var unexpected: [String: Int] = [:]
      var firstHeadline: [String: String] = [:]
      for r in reports where !namedKinds.contains(r.kind.rawValue) {
        unexpected[r.kind.rawValue, default: 0] += 1
        if firstHeadline[r.kind.rawValue] == nil { firstHeadline[r.kind.rawValue] = r.headline }
      }
      for (k, n) in unexpected.sorted(by: { $0.key < $1.key }) {
        fail(stmt.location, "unexpected report \(k)\(n > 1 ? " (x\(n))" : ""): \(firstHeadline[k] ?? "")")
      }
    }
    if let err = o.error, !namedError {
      fail(
        stmt.location,
        "'\(stmt.verb.rawValue)' failed with \(err.name)\(reason(err.reason)) and no 'expect error' names it")
    }
    if o.faulted && !namedFault {
      let text =
        o.outputs.compactMap { item -> String? in
          if case .event(let e) = item, e.kind == .fault { return e.text }
          return nil
        }.first ?? "I/O page fault"
      fail(stmt.location, "unexpected fault: \(text)")
    }
    return failures
  }

  func matches(_ r: Report, _ want: ExpectedReport) -> Bool {
    guard r.kind.rawValue == want.kind.rawValue else { return false }
    if let pfn = want.pfn, r.pfn?.rawValue != pfn { return false }
    if let dev = want.device, r.device != dev.name { return false }
    if let dom = want.domain, r.domain != dom.name { return false }
    if let page = want.page {
      guard let pfn = r.pfn else { return false }
      switch bindings[page.name] {
      case .pages(let b)?: return b.contains(pfn)
      case .dmaHandle(let h)?: return h.coherent?.contains(pfn) ?? false
      default: return false
      }
    }
    return true
  }

  /// Why reports of the wanted kind did or did not match, filter by
  /// filter: "; got 3 secondary-tlb-stale, 1 with device=dsa0 (2 name no device)".
  private func whyNot(_ reports: [Report], _ want: ExpectedReport) -> String {
    let sameKind = reports.filter { $0.kind.rawValue == want.kind.rawValue }
    guard !sameKind.isEmpty else { return summary(reports) }
    var parts = ["\(sameKind.count) \(want.kind.rawValue)"]
    func filter(_ what: String, _ value: (Report) -> String?, _ wanted: String) {
      let with = sameKind.filter { value($0) == wanted }.count
      let none = sameKind.filter { value($0) == nil }.count
      parts.append(
        "\(with) with \(what)=\(wanted)" + (none > 0 ? " (\(none) \(none == 1 ? "names" : "name") no \(what))" : ""))
    }
    if let dev = want.device { filter("device", \.device, dev.name) }
    if let dom = want.domain { filter("domain", \.domain, dom.name) }
    if let pfn = want.pfn { filter("pfn", { $0.pfn.map { "0x" + String($0.rawValue, radix: 16) } }, hex(pfn)) }
    if let page = want.page {
      var one = want
      one.device = nil
      one.domain = nil
      one.pfn = nil
      let with = sameKind.filter { matches($0, one) }.count
      let none = sameKind.filter { $0.pfn == nil }.count
      parts.append("\(with) in page=\(page.name)" + (none > 0 ? " (\(none) name no page)" : ""))
    }
    return ": got " + parts.joined(separator: ", ")
  }

  private func plural(_ n: Int, _ noun: String) -> String { Plural.count(n, noun) }

  private func summary(_ reports: [Report]) -> String {
    guard !reports.isEmpty else { return " (no report)" }
    var counts: [String: Int] = [:]
    for r in reports { counts[r.kind.rawValue, default: 0] += 1 }
    return " (reports: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ")
      + ")"
  }

  private func reason(_ r: String) -> String { r.isEmpty ? "" : " (\(r))" }
  private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

  // MARK: - Stats

  /// `--stats`: the machine's counters, in a fixed order.
  func statsLines() -> [String] {
    var out: [String] = []
    let m = machine.memory
    out.append(
      "memory: \(ByteSize.describe(m.config.size)) at \(m.config.base), page \(ByteSize.describe(m.pageSize)), free pages \(m.freePageCount), allocated blocks \(m.allocatedBlockCount), resident 4K frames \(m.residentFrames)"
    )
    for u in machine.units {
      let s = u.stats
      let (il, wl) = u.cachedEntryCounts
      out.append(
        "iommu \(u.name) (\(u.model.rawValue)): iotlb \(Plural.count(il, "entry", "entries")), hits \(s.iotlbHits), misses \(s.iotlbMisses), fills \(s.iotlbFills), evictions \(s.iotlbEvictions), invalidated \(s.iotlbEntriesInvalidated)"
      )
      out.append(
        "iommu \(u.name) (\(u.model.rawValue)): walk cache \(Plural.count(wl, "entry", "entries")), hits \(s.walkCacheHits), fills \(s.walkCacheFills), evictions \(s.walkCacheEvictions), invalidated \(s.walkEntriesInvalidated); walks \(s.walks), faults \(s.walkFaults)"
      )
      let inv = s.invalidations.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
      out.append(
        "iommu \(u.name) (\(u.model.rawValue)): invalidations: " + (inv.isEmpty ? "none" : inv.joined(separator: ", ")))
    }
    for d in machine.devices where d.ats {
      let c = d.atcCounters
      out.append(
        "device \(d.name): atc \(Plural.count(c.entries, "entry", "entries")), hits \(c.hits), invalidations \(c.invalidations), timeouts \(c.timeouts)"
      )
    }
    out.append("cpu: tlb flushes \(machine.cpuTLBFlushCount)")
    let counts = sanitizer.reportCounts.sorted { $0.key.rawValue < $1.key.rawValue }.map {
      "\($0.key.rawValue) \($0.value)"
    }
    out.append(
      "sanitizer: accounting \(sanitizer.configuration.accounting.rawValue), debug_pagealloc \(sanitizer.configuration.debugPageAlloc ? 1 : 0), count pieces \(sanitizer.countPieces), reports: "
        + (counts.isEmpty ? "none" : counts.joined(separator: ", ")))
    return out
  }
}
