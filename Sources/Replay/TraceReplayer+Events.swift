import KernelTypes
import Reports

/// The event handlers: map, unmap, dma attribution, page checks, faults.
extension TraceReplayer {
  // MARK: - map

  func handleMap(_ cpu: Int) {
    resolvePending(cpu)
    cpus[cpu].preRelease = nil
    cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
    let iova = fields.iova
    let paddr = fields.paddr
    let size = fields.size
    guard size > 0 else {
      summary.zeroSizeEvents += 1
      return
    }
    // __iommu_debug_map(): WARN_ON(!phys || check_add_overflow(phys, size, &end)).
    let (_, physWraps) = paddr.addingReportingOverflow(size)
    if paddr == 0 || physWraps { reportMapAddressOverflow(iova: iova, phys: paddr, size: size) }
    let (physLast, o1) = paddr.addingReportingOverflow(size - 1)
    let (iovaLast, o2) = iova.addingReportingOverflow(size - 1)
    guard !o1, !o2 else { return }
    let space = provisionalSpace(iova, iovaLast)
    let id = newMapping(
      Mapping(iova: iova, last: iovaLast, paddr: paddr, space: space, line: lineNumber, ts: pre.ts, pid: pre.pid))
    place(id, in: space)
    if pageSpan(paddr, physLast) > Self.largeMappingPages {
      mappings[Int(id)].physSlot = physIndex.insert(start: paddr, last: physLast, id: id)
    } else {
      countRange(paddr: paddr, last: physLast, delta: 1, owner: id)
    }
    recordTrail(paddr, physLast, trailEvent(a: iova, b: size, c: paddr))
    if cpus[cpu].recentMaps.isEmpty { recentCPUs.append(cpu) }
    if cpus[cpu].recentMaps.count >= 256 { cpus[cpu].recentMaps.removeFirst() }
    cpus[cpu].recentMaps.append(RecentMap(id: id, line: lineNumber))
  }

  /// The unattributed space a map goes to until a `dma:` event names its
  /// device: the first where its IOVA range is free.
  private func provisionalSpace(_ start: UInt64, _ last: UInt64) -> Int32 {
    for s in unattributed where !spaceOverlaps(s, start, last) { return s }
    summary.overlappingMaps += 1
    if unattributed.count < Self.maxUnattributedSpaces {
      let id = Int32(spaces.count)
      spaces.append(AddressSpace(kind: .unattributed, device: Int32(unattributed.count + 1)))
      unattributed.append(id)
      return id
    }
    return unattributed[unattributed.count - 1]
  }

  /// The window in which a `dma:` event may attribute this CPU's maps ends.
  func finalizeRecentMaps(_ cpu: Int) {
    guard cpu < cpus.count, !cpus[cpu].recentMaps.isEmpty else { return }
    cpus[cpu].recentMaps.removeAll(keepingCapacity: true)
    recentCPUs.remove(cpu)
  }

  // MARK: - dma:* map events

  func handleDMAMap(_ cpu: Int) {
    resolvePending(cpu)
    cpus[cpu].preRelease = nil
    cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
    let d = device(fields.devStart, fields.devEnd)
    dmaAPIMap(device: d)
    let recent = cpus[cpu].recentMaps
    if d >= 0, !recent.isEmpty {
      let target = spaceOf(device: d)
      for r in recent {
        let i = Int(r.id)
        guard i < mappings.count, mappings[i].live, mappings[i].line == r.line else { continue }
        let m = mappings[i]
        guard ranges.contains(where: { $0.size > 0 && $0.address <= m.last && m.iova <= $0.address &+ ($0.size - 1) })
        else { continue }
        mappings[i].dmaLine = lineNumber
        mappings[i].dmaTS = pre.ts
        mappings[i].dmaType = pre.type
        if m.space == target { continue }
        if spaceOverlaps(target, m.iova, m.last) {
          mappingNotes[r.id] =
            "\(pre.type.name) at line \(lineNumber) names \(deviceNames[Int(d)]), whose address space already maps "
            + "\(m.iova.hexAlt); kept in \(spaceName(m.space))"
          continue
        }
        move(r.id, to: target)
      }
    }
    finalizeRecentMaps(cpu)
  }

  // MARK: - dma:* release events

  func handleDMARelease(_ cpu: Int) {
    let d = device(fields.devStart, fields.devEnd)
    dmaAPIRelease(device: d)
    var lo = UInt64.max
    var hi: UInt64 = 0
    for r in ranges where r.size > 0 {
      lo = min(lo, r.address)
      hi = max(hi, r.address &+ (r.size - 1) < r.address ? UInt64.max : r.address + (r.size - 1))
    }
    if ranges.isEmpty, fields.dma.hasPhysAddrs {
      // dma_unmap_sg (6.12 on) traces physical addresses only: it names the
      // device of whichever unmap follows on this CPU.
      lo = 0
      hi = .max
    }
    finalizeRecentMaps(cpu)
    guard lo <= hi, d >= 0 else {
      otherEvent(cpu)
      return
    }
    let release = DMARelease(device: d, lo: lo, hi: hi, line: lineNumber, ts: pre.ts, type: pre.type)
    if let p = cpus[cpu].pendingUnmap, release.overlaps(p.start, p.last) {
      resolvePending(cpu, hint: release)
      cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
      return
    }
    resolvePending(cpu)
    let last = cpus[cpu].lastReleased
    cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
    var annotated = false
    for idx in last
    where idx < released.count && released[idx].live && release.overlaps(released[idx].iova, released[idx].last) {
      if released[idx].releaseLine == 0 {
        released[idx].releaseLine = release.line
        released[idx].releaseTS = release.ts
        released[idx].releaseType = release.type
        released[idx].releaseDevice = d
      }
      annotated = true
    }
    cpus[cpu].preRelease = annotated ? nil : release
  }

  // MARK: - unmap

  func handleUnmap(_ cpu: Int) {
    resolvePending(cpu)
    finalizeRecentMaps(cpu)
    cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
    let preRelease = cpus[cpu].preRelease
    cpus[cpu].preRelease = nil
    let iova = fields.iova
    let size = fields.size
    let unmapped = fields.unmapped
    if unmapped > size {
      summary.largerUnmaps += 1
      if !reportedLargerUnmap {
        reportedLargerUnmap = true
        reportLargerUnmap(iova: iova, size: size, unmapped: unmapped)
      }
    }
    // __iommu_debug_unmap_begin(): WARN_ON(check_add_overflow(iova, size, &end)).
    let (_, wraps) = iova.addingReportingOverflow(size)
    if wraps {
      reportUnmapAddressOverflow(iova: iova, size: size)
      // __iommu_debug_unmap_end() re-counts what the unmap left through the
      // same function: a second WARN, and no count changes.
      if unmapped < size { reportUnmapAddressOverflow(iova: iova &+ unmapped, size: size - unmapped) }
    }
    guard unmapped > 0 else {
      summary.zeroSizeEvents += 1
      return
    }
    let (last, o) = iova.addingReportingOverflow(unmapped - 1)
    guard !o else { return }
    let hint = preRelease.flatMap { $0.overlaps(iova, last) ? $0 : nil }
    let info = PendingUnmap(start: iova, last: last, line: lineNumber, ts: pre.ts, pid: pre.pid)
    unmap(cpu: cpu, info, hint: hint, canDefer: hint == nil)
  }

  /// Sorts an unmap into an address space and applies it, or leaves it
  /// pending on its CPU when several spaces map the range and no `dma:`
  /// event has named the device yet.
  func unmap(cpu: Int, _ info: PendingUnmap, hint: DMARelease?, canDefer: Bool) {
    let start = info.start
    let last = info.last
    if hint == nil, spaces.count == 1 {
      // One address space: no attribution to make.
      if applyUnmap(cpu: cpu, space: 0, info, hint: nil, ambiguity: nil) { return }
      summary.unmatchedUnmaps += 1
      let idx = addReleased(
        Released(iova: start, last: last, paddr: 0, hasPaddr: false, space: 0, unmapLine: info.line, unmapTS: info.ts))
      cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
      cpus[cpu].lastReleased.append(idx)
      return
    }
    computeCandidates(start, last)
    let cands = candidateScratch
    var chosen: Int32?
    var ambiguity: String?
    if let h = hint {
      if let hs = existingSpace(of: h.device), cands.contains(where: { $0.space == hs }) {
        chosen = hs
      } else {
        let pool = cands.filter { spaces[Int($0.space)].kind == .unattributed }
        if pool.count == 1 {
          chosen = pool[0].space
        } else if pool.count > 1 {
          chosen = best(pool)
          ambiguity = describe(
            pool, chosen: chosen, start: start, last: last,
            why: "\(h.type.name) named \(deviceNames[Int(h.device)]), which has no address space of its own here")
        } else if !cands.isEmpty {
          chosen = best(cands)
          ambiguity = describe(
            cands, chosen: chosen, start: start, last: last,
            why: "\(h.type.name) named \(deviceNames[Int(h.device)]), whose address space does not map it")
        }
      }
    } else if cands.count == 1 {
      chosen = cands[0].space
    } else if cands.count > 1 {
      if canDefer {
        cpus[cpu].pendingUnmap = info
        cpus[cpu].pendingSlot = pendingIndex.insert(start: start, last: last, id: Int32(cpu))
        pendingCPUs.append(cpu)
        return
      }
      chosen = best(cands)
      ambiguity = describe(cands, chosen: chosen, start: start, last: last, why: "no dma event named the device")
    }
    guard let space = chosen else {
      // No traced map covers it: mapped before tracing started (or lost).
      summary.unmatchedUnmaps += 1
      let s = hint.map { spaceOf(device: $0.device) } ?? unattributed[0]
      var r = Released(
        iova: start, last: last, paddr: 0, hasPaddr: false, space: s, unmapLine: info.line, unmapTS: info.ts)
      annotate(&r, hint)
      let idx = addReleased(r)
      cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
      cpus[cpu].lastReleased.append(idx)
      return
    }
    if ambiguity != nil { summary.ambiguousAttributions += 1 }
    applyUnmap(cpu: cpu, space: space, info, hint: hint, ambiguity: ambiguity)
  }

  private func annotate(_ r: inout Released, _ hint: DMARelease?) {
    guard let h = hint else { return }
    r.releaseLine = h.line
    r.releaseTS = h.ts
    r.releaseType = h.type
    r.releaseDevice = h.device
  }

  /// The spaces with live mappings overlapping `[start, last]`, in `candidateScratch`.
  /// Unchanged live pieces give unchanged candidates: an unmap of a range
  /// looked up since they last changed (deferred on many CPUs, say, in any
  /// interleaving) reuses them instead of visiting every overlapping piece again.
  private func computeCandidates(_ start: UInt64, _ last: UInt64) {
    if candidateCacheGeneration != liveGeneration {
      candidateCacheGeneration = liveGeneration
      if candidateCacheUsed > 0 { clearCandidateCache() }
    }
    if candidateCacheUsed > 0, let k = candidateCacheIndex[CandidateRange(start: start, last: last)] {
      candidateScratch.removeAll(keepingCapacity: true)
      candidateScratch.append(contentsOf: candidateCache[k])
      return
    }
    candidateScratch.removeAll(keepingCapacity: true)
    // Kept only when several spaces map the range: the unmap may be held,
    // and others of the range (on other CPUs) then look it up again.
    defer { if candidateScratch.count > 1 { cacheCandidates(start, last) } }
    // One candidate per space with a piece overlapping the range, in space
    // order. A few spaces are found by a linear search of the scratch list
    // (no dictionary for the common single piece); past `linearCandidates`, by a dictionary.
    var bySpace: [Int32: Int] = [:]
    allLive.forEachOverlap(start: start, last: last) { slot in
      candidatePiecesVisited += 1
      let m = mappings[Int(allLive.ids[Int(slot)])]
      let lo = max(m.iova, start)
      let hi = min(m.last, last)
      var at = -1
      if candidateScratch.count <= Self.linearCandidates {
        for (k, c) in candidateScratch.enumerated() where c.space == m.space {
          at = k
          break
        }
      } else {
        if bySpace.isEmpty {
          for (k, c) in candidateScratch.enumerated() { bySpace[c.space] = k }
        }
        at = bySpace[m.space] ?? -1
      }
      if at < 0 {
        at = candidateScratch.count
        candidateScratch.append(Candidate(space: m.space, bytes: 0, exact: false, latestLine: 0))
        if !bySpace.isEmpty { bySpace[m.space] = at }
      }
      candidateScratch[at].bytes = candidateScratch[at].bytes &+ (hi - lo) &+ 1
      if m.iova == start && m.last == last { candidateScratch[at].exact = true }
      candidateScratch[at].latestLine = max(candidateScratch[at].latestLine, m.line)
    }
    if candidateScratch.count > 1 { candidateScratch.sort { $0.space < $1.space } }
  }

  private func clearCandidateCache() {
    candidateCacheUsed = 0
    candidateCacheIndex.removeAll(keepingCapacity: true)
  }

  /// Keeps `candidateScratch` as the candidates of `[start, last]`; a full
  /// cache starts again empty (entries keep their arrays' capacity).
  private func cacheCandidates(_ start: UInt64, _ last: UInt64) {
    if candidateCacheUsed == Self.candidateCacheSize { clearCandidateCache() }
    let k = candidateCacheUsed
    candidateCacheUsed += 1
    candidateCacheIndex[CandidateRange(start: start, last: last)] = k
    if k == candidateCache.count {
      candidateCache.append(candidateScratch)
      return
    }
    candidateCache[k].removeAll(keepingCapacity: true)
    candidateCache[k].append(contentsOf: candidateScratch)
  }

  /// Up to this many candidate spaces are found by a linear search.
  static let linearCandidates = 8

  /// The guess among several spaces: an exact map of the range, then the
  /// most bytes covered, then the latest map, then the oldest space.
  private func best(_ cands: [Candidate]) -> Int32? {
    cands.min { a, b in
      if a.exact != b.exact { return a.exact }
      if a.bytes != b.bytes { return a.bytes > b.bytes }
      if a.latestLine != b.latestLine { return a.latestLine > b.latestLine }
      return a.space < b.space
    }?.space
  }

  private func describe(_ cands: [Candidate], chosen: Int32?, start: UInt64, last: UInt64, why: String) -> String {
    let names = cands.map { spaceName($0.space) }.joined(separator: ", ")
    let c = chosen.map { spaceName($0) } ?? "none"
    return "ambiguous: iova \(start.hexAlt)-\(last.hexAlt) was mapped in \(cands.count) address spaces (\(names)) "
      + "and \(why); chose \(c) (exact match, then most bytes, then latest map)"
  }

  /// Removes `[info.start, info.last]` from `space`; the released records
  /// made are the CPU's `lastReleased`.
  @discardableResult
  private func applyUnmap(cpu: Int, space: Int32, _ info: PendingUnmap, hint: DMARelease?, ambiguity: String?) -> Bool {
    let start = info.start
    let last = info.last
    hitScratch.removeAll(keepingCapacity: true)
    if let index = spaces[Int(space)].live {
      index.forEachOverlap(start: start, last: last) { hitScratch.append(index.ids[Int($0)]) }
    }
    if hitScratch.count > 1 { hitScratch.sort { mappings[Int($0)].iova < mappings[Int($1)].iova } }
    cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
    var cursor = start
    var cursorValid = true
    var gap = false
    var k = 0
    while k < hitScratch.count {
      let id = hitScratch[k]
      k += 1
      let m = mappings[Int(id)]
      let lo = max(m.iova, start)
      let hi = min(m.last, last)
      if cursorValid, lo > cursor {
        addGap(cpu: cpu, space: space, cursor, lo - 1, info, hint: hint, ambiguity: ambiguity)
        gap = true
      }
      if hi == .max { cursorValid = false } else if cursorValid { cursor = max(cursor, hi + 1) }
      var r = Released(
        iova: lo, last: hi, paddr: m.paddr &+ (lo - m.iova), hasPaddr: true, space: space, mapLine: m.line, mapTS: m.ts,
        dmaMapLine: m.dmaLine, dmaMapTS: m.dmaTS, dmaMapType: m.dmaType, unmapLine: info.line, unmapTS: info.ts)
      annotate(&r, hint)
      recordTrail(
        r.paddr, r.paddr &+ (hi - lo),
        TrailEvent(
          type: .unmap, line: info.line, ts: info.ts, cpu: Int32(cpu), pid: info.pid, a: lo, b: hi &- lo &+ 1))
      let note = ambiguity ?? (mappingNotes.isEmpty ? nil : mappingNotes[id])
      cut(id, lo, hi)
      cpus[cpu].lastReleased.append(addReleased(r, note: note))
    }
    if cursorValid, cursor <= last, !hitScratch.isEmpty {
      addGap(cpu: cpu, space: space, cursor, last, info, hint: hint, ambiguity: ambiguity)
      gap = true
    }
    if gap { summary.unmatchedUnmaps += 1 }
    return !hitScratch.isEmpty
  }

  private func addGap(
    cpu: Int, space: Int32, _ a: UInt64, _ b: UInt64, _ info: PendingUnmap, hint: DMARelease?, ambiguity: String?
  ) {
    var r = Released(iova: a, last: b, paddr: 0, hasPaddr: false, space: space, unmapLine: info.line, unmapTS: info.ts)
    annotate(&r, hint)
    cpus[cpu].lastReleased.append(addReleased(r, note: ambiguity))
  }

  /// Removes `[lo, hi]` from mapping `id`, keeping what is left of it.
  /// Page counts count live pieces per page, so a cut inside one page
  /// (CPU pages larger than the IOMMU granule) leaves that page counted
  /// once per remaining piece.
  private func cut(_ id: Int32, _ lo: UInt64, _ hi: UInt64) {
    let m = mappings[Int(id)]
    let removedP = m.paddr &+ (lo - m.iova)
    let removedLast = removedP &+ (hi - lo)
    let hasLeft = lo > m.iova
    let hasRight = hi < m.last
    unplace(id)
    if m.isLarge {
      physIndex.remove(slot: m.physSlot)
    } else {
      let leftLastPage = hasLeft ? (removedP &- 1) >> shift : UInt64.max
      let rightFirstPage = hasRight ? (removedLast &+ 1) >> shift : UInt64.max
      var p = removedP >> shift
      let end = removedLast >> shift
      while true {
        var delta: Int32 = -1
        if hasLeft && p == leftLastPage { delta += 1 }
        if hasRight && p == rightFirstPage { delta += 1 }
        if delta != 0 { counts.add(p, delta, owner: id) }
        if p == end { break }
        p += 1
      }
    }
    if !hasLeft && !hasRight {
      freeMapping(id)
      return
    }
    var left = m
    var right = m
    right.iova = hi &+ 1
    right.paddr = m.paddr &+ (right.iova - m.iova)
    left.last = lo &- 1
    let keep = hasLeft ? left : right
    mappings[Int(id)] = keep
    place(id, in: m.space)
    if m.isLarge {
      mappings[Int(id)].physSlot = physIndex.insert(
        start: keep.paddr, last: keep.paddr &+ (keep.last - keep.iova), id: id)
    }
    if hasLeft && hasRight {
      right.slot = -1
      right.physSlot = -1
      let rid = newMapping(right)
      if !mappingNotes.isEmpty, let note = mappingNotes[id] { mappingNotes[rid] = note }
      place(rid, in: m.space)
      let rLast = right.paddr &+ (right.last - right.iova)
      if m.isLarge {
        mappings[Int(rid)].physSlot = physIndex.insert(start: right.paddr, last: rLast, id: rid)
      } else {
        var p = right.paddr >> shift
        let end = rLast >> shift
        while true {
          counts.setSecond(p, rid)
          if p == end { break }
          p += 1
        }
      }
    }
  }

  // MARK: - Pending unmaps

  func resolvePending(_ cpu: Int, hint: DMARelease? = nil) {
    guard cpu < cpus.count, let p = cpus[cpu].pendingUnmap else { return }
    cpus[cpu].pendingUnmap = nil
    pendingIndex.remove(slot: cpus[cpu].pendingSlot)
    cpus[cpu].pendingSlot = -1
    pendingCPUs.remove(cpu)
    unmap(cpu: cpu, p, hint: hint, canDefer: false)
  }

  func resolveAllPending() {
    while !pendingCPUs.isEmpty { resolvePending(pendingCPUs.first) }
  }

  /// Resolves the pending unmaps that could change the count of a page in
  /// `[lo, hi]`, in the order they were deferred. Resolving one only removes
  /// live pieces, so a pending unmap that does not affect the pages still
  /// does not after: one pass. Unmaps of one range share the answer until
  /// the live pieces change, and a block no live piece maps needs no look.
  /// When the block's pieces are known (`piecesMapping`), only the pending
  /// unmaps overlapping them are looked at, not every CPU's.
  private func resolvePending(affectingPages lo: UInt64, _ hi: UInt64) {
    if iommuMapsNoPage(lo, hi) { return }
    let order: [Int]
    if let pieces = piecesMapping(lo, hi) {
      var found: [Int] = []
      for id in pieces {
        let m = mappings[Int(id)]
        pendingIndex.forEachOverlap(start: m.iova, last: m.last) { found.append(Int(pendingIndex.ids[Int($0)])) }
      }
      // In the order the unmaps were deferred (their lines).
      found.sort { cpus[$0].pendingUnmap?.line ?? 0 < cpus[$1].pendingUnmap?.line ?? 0 }
      var unique: [Int] = []
      for c in found where unique.last != c { unique.append(c) }
      order = unique
    } else {
      order = pendingCPUs.members
    }
    var memo: (start: UInt64, last: UInt64, generation: UInt64, affects: Bool)?
    for c in order {
      pendingUnmapsVisited += 1
      guard let p = cpus[c].pendingUnmap else { continue }
      var affects = false
      if let m = memo, m.start == p.start, m.last == p.last, m.generation == liveGeneration {
        affects = m.affects
      } else {
        // Every space's live pieces are in `allLive`: no visit of each space.
        allLive.forEachOverlap(start: p.start, last: p.last) { slot in
          pendingPiecesVisited += 1
          let m = mappings[Int(allLive.ids[Int(slot)])]
          let a = m.paddr &+ (max(m.iova, p.start) - m.iova)
          let b = m.paddr &+ (min(m.last, p.last) - m.iova)
          if a >> shift <= hi && b >> shift >= lo { affects = true }
        }
        memo = (p.start, p.last, liveGeneration, affects)
      }
      if affects { resolvePending(c) }
    }
  }

  /// Every live piece that maps a page of the small block `[lo, hi]`, or nil
  /// when the page counts do not say which (a page counted twice, or a
  /// larger block).
  private func piecesMapping(_ lo: UInt64, _ hi: UInt64) -> [Int32]? {
    guard hi - lo < Self.smallBlockPages else { return nil }
    var ids: [Int32] = []
    var p = lo
    while true {
      if let (count, owner) = counts.get(p), count != 0 {
        guard count == 1, validOwner(owner, page: p) else { return nil }
        if !ids.contains(owner) { ids.append(owner) }
      }
      if p == hi { break }
      p += 1
    }
    if !physIndex.isEmpty {
      physIndex.forEachOverlap(start: lo << shift, last: (hi << shift) | ((UInt64(1) << shift) - 1)) {
        ids.append(physIndex.ids[Int($0)])
      }
    }
    return ids
  }

  /// No live piece maps a page of the small block `[lo, hi]` (large pieces
  /// are in `physIndex`, small ones counted page by page).
  @inline(__always) private func iommuMapsNoPage(_ lo: UInt64, _ hi: UInt64) -> Bool {
    guard hi - lo < Self.smallBlockPages, physIndex.isEmpty else { return false }
    if counts.isEmpty { return true }
    var p = lo
    while true {
      if counts.get(p) != nil { return false }
      if p == hi { return true }
      p += 1
    }
  }

  // MARK: - kmem: page allocation and free

  func handlePage(_ cpu: Int) {
    let type = pre.type
    let pfn = fields.pfn
    if type == .mmPageAlloc && fields.pageIsNull {
      summary.failedAllocations += 1
      return
    }
    let (hi, o) = pfn.addingReportingOverflow((UInt64(1) << UInt64(fields.order)) - 1)
    guard !o else { return }
    if type == .mmPageFreeBatched, lastFreePFN[cpu] == pfn {
      summary.duplicateFrees += 1
      lastFreePFN[cpu] = .max
      return
    }
    lastFreePFN[cpu] = type == .mmPageFree ? pfn : .max
    guard hi <= UInt64.max >> shift else { return }
    if options.pageHistory {
      let kmemEvent = trailEvent(a: UInt64(fields.order))
      var p = pfn
      while true {
        trail.recordKmem(p, kmemEvent)
        if p == hi || p &- pfn >= 63 { break }
        p += 1
      }
    }
    if !pendingCPUs.isEmpty { resolvePending(affectingPages: pfn, hi) }
    if !counts.isEmpty || !physIndex.isEmpty || !dmaAPI.isEmpty {
      checkPages(pfn, hi, kind: type == .mmPageAlloc ? .allocatedWhileMapped : .freedWhileMapped)
    }
    if type != .mmPageAlloc, !pageMarks.isEmpty {
      if hi - pfn < Self.smallBlockPages {
        // A small block: one probe a page, no closure.
        var p = pfn
        while true {
          if let (r32, _) = pageMarks.get(p) { markPageFree(Int(r32)) }
          if p == hi { break }
          p += 1
        }
      } else {
        pageMarks.forEachKey(from: pfn, through: hi) { _, r32, _ in markPageFree(Int(r32)) }
      }
    }
  }

  /// Blocks up to this many pages are checked page by page without building lists.
  static let smallBlockPages: UInt64 = 64

  @inline(__always) private func markPageFree(_ r: Int) {
    if r < released.count, released[r].live, released[r].pageFreeLine == 0 {
      released[r].pageFreeLine = lineNumber
      released[r].pageFreeTS = pre.ts
    }
  }

  /// No page of a small block `[lo, hi]` is counted by either accounting:
  /// the common case, decided with one probe a page and no allocation.
  @inline(__always) private func smallBlockUnmapped(_ lo: UInt64, _ hi: UInt64) -> Bool {
    guard hi - lo < Self.smallBlockPages, physIndex.isEmpty else { return false }
    if !counts.isEmpty {
      var p = lo
      while true {
        if counts.get(p) != nil { return false }
        if p == hi { break }
        p += 1
      }
    }
    return !dmaAPI.coversAnyPage(lo, hi)
  }

  /// `__iommu_debug_check_unmapped()`: one report per page that either
  /// accounting counts (the IOMMU's map counts, the DMA-API's live entries).
  private func checkPages(_ lo: UInt64, _ hi: UInt64, kind: ReportKind) {
    if smallBlockUnmapped(lo, hi) { return }
    let limit = Self.pageReportsPerEvent
    let iommuHits = (!counts.isEmpty || !physIndex.isEmpty) ? iommuCountedPages(lo, hi, limit: limit) : []
    let dmaHits = dmaAPI.pages(lo, hi, limit: limit)
    // A block larger than the limit with more mapped pages: the rest are counted, not reported.
    // Either list at the limit, or both together at or past it, may leave pages out.
    var notReported = 0
    if iommuHits.count + dmaHits.count >= limit {
      notReported = max(0, Int(clamping: mappedPageCount(lo, hi)) - limit)
      summary.pageReportsNotPrinted += notReported
    }
    var reported = 0
    var i = 0
    var j = 0
    while reported < limit, i < iommuHits.count || j < dmaHits.count {
      let a = i < iommuHits.count ? iommuHits[i].pfn : .max
      let b = j < dmaHits.count ? dmaHits[j].pfn : .max
      var hit = PageHit(pfn: min(a, b))
      if a == hit.pfn {
        hit.count = iommuHits[i].count
        hit.owner = iommuHits[i].owner
        i += 1
      }
      if b == hit.pfn {
        hit.dmaCount = dmaHits[j].count
        hit.dmaEntry = dmaHits[j].entry
        j += 1
      }
      reported += 1
      reportPage(kind, hit, notReported: reported == limit ? notReported : 0)
    }
  }

  /// Page reports one kmem event makes at most: a block of the default
  /// `MAX_PAGE_ORDER` (10) is reported page by page as the kernel's WARN per
  /// page does; pages past it (an order-20 line of a hostile trace) are
  /// counted in the summary and named in the last report.
  package static let pageReportsPerEvent = 1024

  /// How many pages of `[lo, hi]` either accounting counts: the union of the
  /// large IOMMU mappings' and the DMA-API entries' page ranges, plus the
  /// pages counted one by one outside it.
  private func mappedPageCount(_ lo: UInt64, _ hi: UInt64) -> UInt64 {
    var ranges = largeMappingPageRanges(lo, hi).ranges
    ranges += dmaAPI.pageRanges(lo, hi).map { (lo: $0.lo, hi: $0.hi) }
    ranges.sort { $0.lo < $1.lo }
    var union: [(lo: UInt64, hi: UInt64)] = []
    for r in ranges where r.lo <= r.hi {
      if let u = union.last, u.hi == .max || r.lo <= u.hi + 1 {
        union[union.count - 1].hi = max(u.hi, r.hi)
      } else {
        union.append(r)
      }
    }
    // `hi` is at most `UInt64.max >> shift`: no sum overflows.
    var total = union.reduce(UInt64(0)) { $0 + ($1.hi - $1.lo + 1) }
    // The pages counted one by one outside the union, by the table's bucket
    // occupancy: the cost is the buckets, not the keys.
    var outside = counts.keyCount(from: lo, through: hi)
    for u in union { outside -= counts.keyCount(from: u.lo, through: u.hi) }
    total += UInt64(max(0, outside))
    return total
  }

  /// The live large IOMMU mappings (those `physIndex` holds) that cover pages
  /// of `[lo, hi]`, and the page range of each inside it.
  private func largeMappingPageRanges(_ lo: UInt64, _ hi: UInt64) -> (ids: [Int32], ranges: [(lo: UInt64, hi: UInt64)])
  {
    var ids: [Int32] = []
    var ranges: [(lo: UInt64, hi: UInt64)] = []
    guard !physIndex.isEmpty else { return (ids, ranges) }
    physIndex.forEachOverlap(start: lo << shift, last: (hi << shift) | ((UInt64(1) << shift) - 1)) {
      ids.append(physIndex.ids[Int($0)])
    }
    for id in ids {
      let m = mappings[Int(id)]
      ranges.append((max(lo, m.paddr >> shift), min(hi, (m.paddr &+ (m.last - m.iova)) >> shift)))
    }
    return (ids, ranges)
  }

  /// The first `limit` pages of `[lo, hi]` the IOMMU map counts hold, with
  /// their counts and a mapping that counts each.
  private func iommuCountedPages(_ lo: UInt64, _ hi: UInt64, limit: Int) -> [(
    pfn: UInt64, count: Int64, owner: Int32
  )] {
    var hits: [(pfn: UInt64, count: Int64, owner: Int32)] = []
    let (large, covered) = largeMappingPageRanges(lo, hi)
    // Pages counted one by one, then the pages large mappings cover, merged
    // in page order: the cost is the counted pages and the large mappings'
    // pages inside the range (at most `limit` of them), not the range's length.
    var counted: [(pfn: UInt64, count: Int32, owner: Int32)] = []
    counts.forEachKey(from: lo, through: hi) {
      counted.append(($0, $1, $2))
      return counted.count < limit
    }
    // A sweep over the large mappings: how many cover a page (starts seen
    // minus ends passed) and the first of them in `large`'s order (a heap of
    // positions, dropping those that ended): O((pages + large) log large).
    let byStart = covered.indices.filter { covered[$0].lo <= covered[$0].hi }.sorted { covered[$0].lo < covered[$1].lo }
    // The pages to visit: the counted ones and the union of the covered ranges.
    var pages = counted.map(\.pfn)
    var union: (lo: UInt64, hi: UInt64)?
    // The unions come in page order: past `limit` of their pages, later ones cannot be among the first `limit`.
    var unionPages = 0
    func addUnion() {
      guard let u = union, unionPages < limit else { return }
      var p = u.lo
      while true {
        pages.append(p)
        unionPages += 1
        if p == u.hi || unionPages == limit { break }
        p += 1
      }
    }
    for i in byStart {
      let c = covered[i]
      if let u = union, c.lo <= u.hi &+ 1, u.hi != .max {
        union = (u.lo, max(u.hi, c.hi))
      } else if let u = union, u.hi == .max {
        continue
      } else {
        addUnion()
        union = c
      }
    }
    addUnion()
    let countedAt = Dictionary(uniqueKeysWithValues: counted.map { ($0.pfn, ($0.count, $0.owner)) })
    let ends = byStart.map { covered[$0].hi }.sorted()
    var started = 0
    var ended = 0
    var firstCovering = PositionHeap()
    pages.sort()
    for (k, p) in pages.enumerated() where k == 0 || pages[k - 1] != p {
      var count: Int64 = 0
      var owner: Int32 = -1
      if let (c, o) = countedAt[p] {
        count = Int64(c)
        if validOwner(o, page: p) { owner = o }
      }
      while started < byStart.count, covered[byStart[started]].lo <= p {
        firstCovering.push(byStart[started])
        started += 1
      }
      while ended < ends.count, ends[ended] < p { ended += 1 }
      while let top = firstCovering.min, covered[top].hi < p { firstCovering.popMin() }
      count += Int64(started - ended)
      if owner < 0, let top = firstCovering.min { owner = large[top] }
      if count > 0 {
        hits.append((p, count, owner))
        if hits.count == limit { break }
      }
    }
    return hits
  }

  private func validOwner(_ o: Int32, page p: UInt64) -> Bool {
    guard o >= 0, Int(o) < mappings.count else { return false }
    let m = mappings[Int(o)]
    guard m.live else { return false }
    return m.paddr >> shift <= p && (m.paddr &+ (m.last - m.iova)) >> shift >= p
  }

  // MARK: - intel_iommu:cache_tag_flush_*

  /// An IOTLB invalidation of a VT-d domain, one event per device of the
  /// domain: `cache_tag_flush_range()` from `intel_iommu_tlb_sync()` (the
  /// unmap's `iommu_iotlb_sync()`), `cache_tag_flush_all()` from
  /// `intel_flush_iotlb_all()` (the flush queue's flush), and
  /// `cache_tag_flush_range_np()` (a caching-mode map).
  func handleIOTLBFlush() {
    _ = device(fields.devStart, fields.devEnd)
    if pre.type == .cacheTagFlushAll {
      flushes.flushAll(line: lineNumber)
    } else {
      flushes.flush(start: fields.iova, last: fields.size, line: lineNumber)
    }
  }

  // MARK: - io_page_fault

  func handleFault(_ cpu: Int) {
    let d = device(fields.devStart, fields.devEnd)
    if d >= 0, fields.drvEnd > fields.drvStart, deviceDriver[Int(d)].isEmpty {
      deviceDriver[Int(d)] = cur.string(fields.drvStart, fields.drvEnd)
    }
    let x = fields.iova
    // The first deferred (lowest line) of the pending unmaps covering the address.
    var first = -1
    var firstLine = Int.max
    pendingIndex.forEachOverlap(start: x, last: x) { slot in
      pendingUnmapsVisited += 1
      let c = Int(pendingIndex.ids[Int(slot)])
      if let p = cpus[c].pendingUnmap, p.line < firstLine {
        first = c
        firstLine = p.line
      }
    }
    if first >= 0 { resolvePending(first) }
    let ds = existingSpace(of: d)
    if let ds, spaceOverlaps(ds, x, x) {
      summary.faultsOnLiveMappings += 1
      return
    }
    // The device's own space, then the unattributed ones; a space where the
    // IOVA is live again was remapped after its release.
    var searched: [Int32] = []
    if let ds { searched.append(ds) }
    var liveElsewhere = false
    for s in unattributed where s != ds {
      if spaceOverlaps(s, x, x) {
        liveElsewhere = true
      } else {
        searched.append(s)
      }
    }
    var found: [(index: Int, score: Int)] = []
    if !searched.isEmpty {
      releasedIndex.forEachOverlap(start: x, last: x) { slot in
        let r = Int(releasedIndex.ids[Int(slot)])
        guard released[r].live else { return }
        let s = released[r].space
        guard searched.contains(s) else { return }
        var score = 0
        if released[r].releaseDevice == d { score += 2 }
        if s == ds { score += 2 }
        found.append((r, score))
      }
    }
    guard !found.isEmpty else {
      if liveElsewhere {
        summary.faultsOnLiveMappings += 1
      } else {
        summary.faultsUnknownIOVA += 1
      }
      return
    }
    found.sort { a, b in
      if a.score != b.score { return a.score > b.score }
      if released[a.index].unmapLine != released[b.index].unmapLine {
        return released[a.index].unmapLine > released[b.index].unmapLine
      }
      return a.index < b.index
    }
    let top = found[0]
    var ambiguity = releasedNotes.isEmpty ? nil : releasedNotes[top.index]
    let rivals = found.filter { $0.score == top.score && released[$0.index].space != released[top.index].space }
      .reduce(into: [(index: Int, score: Int)]()) { acc, c in
        if !acc.contains(where: { released[$0.index].space == released[c.index].space }) { acc.append(c) }
      }
    if top.score == 0, !rivals.isEmpty {
      let names = ([top] + rivals).map { spaceName(released[$0.index].space) }
      ambiguity =
        "ambiguous: iova \(x.hexAlt) was released in \(names.count) address spaces (\(names.joined(separator: ", "))) "
        + "and no dma event tied \(deviceNames[Int(d)]) to one; chose the latest unmap, in \(names[0])"
      summary.ambiguousAttributions += 1
    }
    summary.faultsAfterUnmap += 1
    let r = released[top.index]
    if r.hasPaddr, options.pageHistory {
      let p = r.paddr &+ (x &- r.iova)
      trail.record(p >> shift, trailEvent(a: x, device: d))
    }
    reportFault(r, device: d, ambiguity: ambiguity)
  }
}

/// A binary min-heap of positions (the smallest on top).
struct PositionHeap {
  private var items: [Int] = []
  var min: Int? { items.first }

  mutating func push(_ x: Int) {
    items.append(x)
    var i = items.count - 1
    while i > 0, items[(i - 1) / 2] > items[i] {
      items.swapAt(i, (i - 1) / 2)
      i = (i - 1) / 2
    }
  }

  mutating func popMin() {
    guard !items.isEmpty else { return }
    items.swapAt(0, items.count - 1)
    items.removeLast()
    var i = 0
    while true {
      let l = 2 * i + 1
      let r = l + 1
      var m = i
      if l < items.count, items[l] < items[m] { m = l }
      if r < items.count, items[r] < items[m] { m = r }
      if m == i { return }
      items.swapAt(i, m)
      i = m
    }
  }
}

extension TraceReplayer {
  /// The current event as a trail entry.
  @inline(__always)
  func trailEvent(a: UInt64 = 0, b: UInt64 = 0, c: UInt64 = 0, device: Int32 = -1) -> TrailEvent {
    TrailEvent(
      type: pre.type, line: lineNumber, ts: pre.ts, cpu: Int32(pre.cpu), pid: pre.pid, a: a, b: b, c: c,
      device: device)
  }

  /// Adds an event to the trails of the first pages of `[start, last]`.
  func recordTrail(_ start: UInt64, _ last: UInt64, _ e: @autoclosure () -> TrailEvent) {
    guard options.pageHistory else { return }
    let e = e()
    var p = start >> shift
    let end = last >> shift
    var n: UInt64 = 0
    while n < PageTrail.pagesPerEvent {
      trail.record(p, e)
      if p >= end { break }
      p += 1
      n += 1
    }
  }

  /// A trail entry in words, for a report's history.
  func historyEvent(_ e: TrailEvent) -> PageHistoryEvent {
    let dev = e.device >= 0 && Int(e.device) < deviceNames.count ? deviceNames[Int(e.device)] + " " : ""
    let text: String
    switch e.type {
    case .map: text = "map iova \(e.a.hexAlt) size \(e.b.hexAlt) paddr \(e.c.hexAlt)"
    case .unmap: text = "unmap iova \(e.a.hexAlt) size \(e.b.hexAlt)"
    case .mmPageAlloc, .mmPageFree, .mmPageFreeBatched: text = "\(e.type.name) order \(e.a)"
    case .ioPageFault: text = "io_page_fault \(dev)iova \(e.a.hexAlt)"
    default: text = "\(e.type.name) \(dev)dma_addr \(e.a.hexAlt) size \(e.b) phys \(e.c.hexAlt)"
    }
    let iova: UInt64? =
      switch e.type {
      case .map, .unmap, .ioPageFault: e.a
      default: nil
      }
    return PageHistoryEvent(
      event: e.type.name, file: options.traceName, line: e.line, text: text,
      device: dev.isEmpty ? nil : String(dev.dropLast()), iova: iova, ts: e.ts.description, cpu: Int(e.cpu),
      pid: Int(e.pid))
  }
}
