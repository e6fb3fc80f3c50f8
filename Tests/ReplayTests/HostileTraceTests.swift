import KernelTypes
import Replay
import Reports
import Testing

/// The hostile shapes of docs/Robustness.md ("Replay on hostile traces") at
/// sizes that run fast: the indexed paths must give exactly the reports the
/// plain scans gave. Speed is measured with `.ci/hostile-traces.py`, not here.
@Suite struct HostileTraceTests {
  @Test func aFaultFindsItsReleaseAmongMany() {
    var t = TraceBuilder()
    for i in UInt64(0)..<3000 {
      t.map(i << 12, 0x1_0000_0000 + (i << 12), 4096)
      t.unmap(i << 12, 4096)
    }
    t.fault("0000:c2:00.0", 1234 << 12)
    t.fault("0000:c2:00.0", 5000 << 12)  // never mapped
    let (reports, summary) = TraceReplay.replay(text: t.text)
    #expect(reports.map(\.kind) == [.faultAfterUnmap])
    #expect(reports.first?.iova == IOVA(1234 << 12))
    #expect(summary.faultsAfterUnmap == 1 && summary.faultsUnknownIOVA == 1)
  }

  @Test func anOrder20FreeReportsOnlyTheMappedPages() {
    var t = TraceBuilder()
    t.map(0x1000, 0x4000_0000 + 0x5000, 4096)
    t.map(0x2000, 0x4000_0000 + 0x8_0000, 4096)
    t.map(0x3000, 0x2_0000_0000, 4096)  // outside the block
    t.free(0x4_0000, order: 20)
    let (reports, _) = TraceReplay.replay(text: t.text)
    #expect(reports.map(\.pfn) == [PFN(0x4_0005), PFN(0x4_0080)])
    #expect(reports.allSatisfy { $0.kind == .freedWhileMapped })
  }

  @Test func overlappingLargeMapsCountEveryOne() {
    var t = TraceBuilder()
    for i in UInt64(0)..<40 { t.map(i << 21, 0x4000_0000, 0x20_0000) }  // 2M each, one physical range
    t.map(0x1_0000_0000, 0x4000_0000 + 0x1000, 4096)  // and one small map of its second page
    t.free(0x4_0000, order: 1)
    let (reports, _) = TraceReplay.replay(text: t.text)
    #expect(reports.map(\.pfn) == [PFN(0x4_0000), PFN(0x4_0001)])
    #expect(reports.map(\.count) == [40, 41])
  }

  @Test func manyDevicesEachFindTheirOwnSpace() {
    var t = TraceBuilder()
    for d in 0..<500 {
      let dev = "0000:\(String(format: "%02x", d >> 3)):00.\(d & 7)"
      t.map(0xffff_f000, 0x8000_0000 + UInt64(d) << 12, 4096)
      t.dma("dma_map_page", dev, 0xffff_f000, 4096)
      t.unmap(0xffff_f000, 4096)
    }
    let (reports, summary) = TraceReplay.replay(text: t.text)
    #expect(reports.isEmpty)
    #expect(summary.ambiguousAttributions == 0)
  }

  /// Issue 15 item 3: a device's space keeps no index once it maps nothing,
  /// and a fault after the unmap still finds the device's released range.
  @Test func emptiedSpacesDropTheirIndexAndKeepAttribution() {
    var t = TraceBuilder()
    for d in 0..<2000 {
      let dev = "0000:\(String(format: "%02x", d >> 3)):00.\(d & 7)"
      t.map(0xffff_f000, 0x8000_0000 + UInt64(d) << 12, 4096)
      t.dma("dma_map_page", dev, 0xffff_f000, 4096)
      t.unmap(0xffff_f000, 4096)
      t.dma("dma_unmap_page", dev, 0xffff_f000, 4096)
    }
    t.map(0x1000, 0x9000_0000, 4096)
    t.dma("dma_map_page", "0000:ff:00.0", 0x1000, 4096)
    t.fault("0000:00:00.5", 0xffff_f000)
    var reports: [Report] = []
    let replayer = TraceReplayer { reports.append($0) }
    replayer.consume(t.text)
    let summary = replayer.finish()
    #expect(summary.deviceSpaces == 2001)
    #expect(replayer.spaceCount == 2002)
    // Only the space that still maps something (and none of the emptied ones) holds an index.
    #expect(replayer.spacesWithIndex == 1)
    #expect(reports.map(\.kind) == [.faultAfterUnmap])
    #expect(reports.first?.domain == "0000:00:00.5")
    #expect(summary.ambiguousAttributions == 0)
  }

  /// Many maps of one IOVA (16 unattributed spaces, the rest piled in the
  /// last), then as many unmaps of it on distinct CPUs: each unmap is
  /// deferred (several spaces map it), and must not visit every
  /// overlapping piece again (it did: quadratic).
  @Test func unmapsOfOneRangeDeferredOnManyCPUsVisitThePiecesOnce() {
    let n = 2000
    var t = TraceBuilder()
    for _ in 0..<n { t.map(0xffff_0000, 0xc200_0000, 0x4000) }
    for cpu in 0..<n { t.unmap(0xffff_0000, 0x4000, cpu: cpu) }
    var reports: [Report] = []
    let replayer = TraceReplayer { reports.append($0) }
    replayer.consume(t.text)
    let summary = replayer.finish()
    #expect(summary.overlappingMaps == n - 1)
    #expect(replayer.candidatePiecesVisited < 8 * n)
  }

  /// Unmaps of one range deferred on many CPUs, then page frees: a free of
  /// pages no live piece maps looks at no pending unmap, and the others
  /// share one look per range (each free rescanned every pending unmap's
  /// overlapping pieces, from the start after each resolution).
  @Test func pageFreesDoNotRescanManyPendingUnmaps() {
    let n = 1000
    var t = TraceBuilder()
    for _ in 0..<n { t.map(0xffff_0000, 0xc200_0000, 0x4000) }
    for cpu in 0..<n { t.unmap(0xffff_0000, 0x4000, cpu: cpu) }
    for i in UInt64(0)..<UInt64(n) { t.free(0x9_0000 + i, cpu: 1) }
    t.free(0xc_2000, cpu: 1)
    var reports: [Report] = []
    let replayer = TraceReplayer { reports.append($0) }
    replayer.consume(t.text)
    _ = replayer.finish()
    #expect(replayer.pendingPiecesVisited < 4 * n)
    #expect(reports.isEmpty)
  }
}

/// Work counts of the hostile shapes `.ci/hostile-traces.py alternate` and
/// `cpus` at two sizes: doubling the trace must about double the work (it
/// grew with the square: every held unmap rescanned the pieces, every fault
/// and page free every CPU's held unmap).
@Suite struct HostileWorkTests {
  /// `alternate`: `n` maps of each of `ranges` ranges (16 spaces map each),
  /// then `ranges * n` unmaps rotating between them, each held on a CPU of its own.
  static func alternate(_ n: Int, ranges: Int = 2) -> TraceReplayer {
    var t = TraceBuilder()
    let iova = { (r: Int) in UInt64(0xffff_0000) - UInt64(r) << 16 }
    for _ in 0..<n {
      for r in 0..<ranges { t.map(iova(r), 0xc200_0000 + UInt64(r) << 24, 0x4000) }
    }
    for i in 0..<(ranges * n) { t.unmap(iova(i % ranges), 0x4000, cpu: i) }
    let replayer = TraceReplayer { _ in }
    replayer.consume(t.text)
    _ = replayer.finish()
    return replayer
  }

  /// Two ranges, and more than a small cache of ranges would hold (the first
  /// cache kept eight: nine ranges in rotation missed every time).
  @Test(arguments: [2, 12])
  func heldUnmapsRotatingBetweenRangesVisitPiecesLinearly(ranges: Int) {
    let small = Self.alternate(500, ranges: ranges).candidatePiecesVisited
    let large = Self.alternate(1000, ranges: ranges).candidatePiecesVisited
    #expect(small < 8 * 500 * ranges)
    #expect(Double(large) <= 2.5 * Double(small))
  }

  /// `cpus`: `steps` rounds over 2 x 512 CPUs, visited in alternating order:
  /// a `dma:` map and a map on one of the first half (the map stays recent),
  /// an unmap held on one of the second half (several spaces map its range),
  /// a fault on an address nothing maps, and every 16 steps a free of a
  /// mapped page.
  static func cpus(_ steps: Int) -> (TraceReplayer, reports: Int, held: Int) {
    var t = TraceBuilder()
    t.map(0x1000_0000, 0x9000_0000, 4096)
    t.map(0xffff_0000, 0xc200_0000, 4096)
    for step in 0..<steps {
      let j = step % 512
      let c = (step / 512) % 2 == 0 ? j : 511 - j
      t.dma("dma_map_page", "0000:01:00.0", 0x2000_0000, 4096, cpu: c)
      t.map(0xffff_0000, 0xc200_0000, 4096, cpu: c)
      t.unmap(0xffff_0000, 4096, cpu: 512 + c)
      t.fault("0000:c2:00.0", 0x3000_0000 + UInt64(step % 4096) << 12, cpu: 1023)
      if step % 16 == 0 { t.free(0x9_0000, cpu: 1023) }
    }
    var reports = 0
    let replayer = TraceReplayer { _ in reports += 1 }
    replayer.consume(t.text)
    let held = replayer.heldUnmaps
    _ = replayer.finish()
    return (replayer, reports, held)
  }

  @Test func faultsAndFreesDoNotVisitEveryCPUsHeldUnmap() {
    let (small, smallReports, held) = Self.cpus(2048)
    let (large, largeReports, _) = Self.cpus(4096)
    #expect(smallReports == 2048 / 16 && largeReports == 4096 / 16)
    // 512 unmaps are held at the end (one per CPU of the second half); a
    // fault or a free visited every one.
    #expect(held == 512)
    #expect(small.pendingUnmapsVisited < 2 * 2048)
    #expect(Double(large.pendingUnmapsVisited) <= 2.5 * Double(max(small.pendingUnmapsVisited, 1)))
    #expect(Double(large.candidatePiecesVisited) <= 2.5 * Double(small.candidatePiecesVisited))
  }

  @Test func cpuListKeepsOrderAndRemovesInPlace() {
    var l = CPUList()
    for c in [5, 1, 4000, 3, 1] { l.append(c) }
    #expect(l.members == [5, 1, 4000, 3] && l.count == 4)
    l.remove(1)
    l.remove(7)
    #expect(l.members == [5, 4000, 3] && l.first == 5 && l.after(4000) == 3 && l.after(3) == -1)
    l.remove(5)
    l.remove(3)
    l.append(1)
    #expect(l.members == [4000, 1] && l.contains(4000) && !l.contains(5))
    l.remove(4000)
    l.remove(1)
    #expect(l.isEmpty && l.first == -1)
  }
}
