import KernelTypes
import MemoryModel
import Reports

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The streaming replay engine: feed it trace text in chunks of any size,
/// it parses each line, rebuilds per-page IOMMU map counts from map and
/// unmap events, checks every page allocation and free as the kernel's
/// IOMMU_DEBUG_PAGEALLOC would have, and hands each report to `report` as
/// soon as it is found. Memory is bounded by the live mappings (plus a
/// bounded history of released IOVA ranges), not by the trace's length.
///
/// ```swift
/// let replayer = TraceReplayer(options: ReplayOptions(traceName: "boot.trace")) { print($0.kind) }
/// replayer.consume(text)
/// let summary = replayer.finish()
/// ```
///
/// One replayer is used from one thread at a time. Its hot stored properties
/// are `@exclusivity(unchecked)`: no access to them ever overlaps another
/// (closures passed to `IntervalIndex.forEachOverlap` only read them or
/// append to scratch buffers nothing else touches meanwhile), and the
/// dynamic checks cost a quarter of the replay time.
package final class TraceReplayer {
  package let options: ReplayOptions
  let shift: UInt64
  let emit: (Report) -> Void
  @exclusivity(unchecked) var summary: ReplaySummary
  /// `siteFrame`'s symbols by traced name and event type (the skip-list check is a regex search).
  @exclusivity(unchecked) var siteSymbols: [String: String] = [:]
  /// Events seen, by `TraceEventType.rawValue` (unsafe storage: counted once a line, no uniqueness check).
  let eventCounts: UnsafeMutableBufferPointer<Int> = {
    let b = UnsafeMutableBufferPointer<Int>.allocate(capacity: TraceEventType.allCases.count)
    b.initialize(repeating: 0)
    return b
  }()

  // Line assembly.
  @exclusivity(unchecked) private var carry: [UInt8] = []
  @exclusivity(unchecked) private var carryTooLong = false
  static let maxLineLength = 1 << 20
  /// Why a line over `maxLineLength` is malformed.
  static let lineTooLongMessage = "line longer than \(maxLineLength >> 20) MiB"
  @exclusivity(unchecked) private(set) var lineNumber = 0
  @exclusivity(unchecked) private var finished = false
  @exclusivity(unchecked) private var sawTraceCmdHeader = false
  @exclusivity(unchecked) private var sawFtraceHeader = false
  @exclusivity(unchecked) private var sawPerf = false
  /// A text form other than the plain one (`TraceLineParser.Form`): latency format, no context.
  @exclusivity(unchecked) private var sawForm = TraceLineParser.Form.plain
  @exclusivity(unchecked) private var sawRaw = false
  /// The input's format when a reader other than the text one produced the
  /// lines (`trace.dat v7`).
  package var formatOverride: String?
  /// The traced kernel's release, when the trace records it: trace.dat's
  /// UNAME option, or `perf script --header`'s `# os release : ...` line.
  package private(set) var kernelRelease: String?
  /// Called when the trace names its kernel's release, before any report
  /// after it (the headers come before the events).
  package var onKernelRelease: ((String) -> Void)?

  // The line being processed (valid only inside `process`).
  @exclusivity(unchecked) var cur: Line = Line(start: nil, count: 0)
  @exclusivity(unchecked) var pre = TraceLineParser.Prefix()
  @exclusivity(unchecked) var fields = EventFields()
  @exclusivity(unchecked) var ranges: [DMARange] = []
  /// `phys_addrs=` of the current `dma:` event.
  @exclusivity(unchecked) var physAddrs: [UInt64] = []
  /// The physical ranges of the current `dma:` map event (`dmaAPIMap`).
  @exclusivity(unchecked) var dmaPhysScratch: [(start: UInt64, last: UInt64)] = []

  // Counting state.
  /// Per-page map counts of mappings up to `largeMappingPages` pages: PFN → (count, last mapping).
  let counts = U64Table(capacity: 4096, rangeIndexed: true)
  /// Larger mappings by physical range, counted when a page is checked.
  let physIndex = IntervalIndex()
  static let largeMappingPages: UInt64 = 256
  @exclusivity(unchecked) var mappings = RawColumn<Mapping>()
  @exclusivity(unchecked) var freeMappings: [Int32] = []
  @exclusivity(unchecked) var liveMappings = 0
  @exclusivity(unchecked) var spaces: [AddressSpace] = []
  /// Indices of spaces that emptied, for the next space that maps.
  @exclusivity(unchecked) var spareIndices: [IntervalIndex] = []
  static let maxSpareIndices = 16
  /// Every live mapping piece of every space, by IOVA: an unmap finds the
  /// spaces it overlaps without visiting the others.
  let allLive = IntervalIndex()
  @exclusivity(unchecked) var unattributed: [Int32] = []
  static let maxUnattributedSpaces = 16
  @exclusivity(unchecked) var deviceNames: [String] = []
  @exclusivity(unchecked) var deviceIDs: [String: Int32] = [:]
  let deviceCache = DeviceCache()
  @exclusivity(unchecked) var deviceSpaceOf: [Int32] = []
  @exclusivity(unchecked) var deviceDriver: [String] = []
  @exclusivity(unchecked) var deviceGroup: [Int64?] = []
  @exclusivity(unchecked) var groupSpaceOf: [Int64: Int32] = [:]
  @exclusivity(unchecked) var released = RawColumn<Released>()
  /// Why an attribution was ambiguous, for the few mappings and released records that have a note.
  @exclusivity(unchecked) var mappingNotes: [Int32: String] = [:]
  @exclusivity(unchecked) var releasedNotes: [Int: String] = [:]
  @exclusivity(unchecked) var hitScratch: [Int32] = []
  @exclusivity(unchecked) var releasedHead = 0
  /// The live released records by IOVA range: a fault finds its candidates
  /// without scanning the history.
  let releasedIndex = IntervalIndex()
  /// PFN → released record, for the first page free after an unmap.
  let pageMarks = U64Table(capacity: 64, rangeIndexed: true)
  static let markedPagesPerRange: UInt64 = 256
  @exclusivity(unchecked) var cpus: [CPUState] = []
  /// Each CPU's last `mm_page_free` PFN (`.max`: none), for the
  /// `mm_page_free_batched` that repeats it; beside `cpus`, in unsafe storage
  /// (read and written on every kmem event).
  @exclusivity(unchecked) var lastFreePFN = RawColumn<UInt64>()
  /// CPUs holding a pending unmap, in the order the unmaps were deferred.
  @exclusivity(unchecked) var pendingCPUs = CPUList()
  /// The pending unmaps by IOVA range (id: the CPU): a fault or a page
  /// event finds those it may resolve without visiting every CPU.
  let pendingIndex = IntervalIndex()
  /// CPUs with recent maps (`CPUState.recentMaps` not empty).
  @exclusivity(unchecked) var recentCPUs = CPUList()
  @exclusivity(unchecked) var reportedLargerUnmap = false
  @exclusivity(unchecked) var scratch: [Int32] = []
  @exclusivity(unchecked) var candidateScratch: [Candidate] = []
  /// The candidates of the ranges looked up while `liveGeneration` is
  /// `candidateCacheGeneration` (up to `candidateCacheSize` ranges, found by
  /// `candidateCacheIndex`): unmaps of ranges deferred on many CPUs, in any
  /// interleaving and rotation, reuse them.
  @exclusivity(unchecked) var candidateCache: [[Candidate]] = []
  @exclusivity(unchecked) var candidateCacheIndex: [CandidateRange: Int] = [:]
  @exclusivity(unchecked) var candidateCacheUsed = 0
  @exclusivity(unchecked) var candidateCacheGeneration: UInt64 = .max
  static let candidateCacheSize = 4096
  /// Bumped by every `place` and `unplace`: the live pieces changed.
  @exclusivity(unchecked) var liveGeneration: UInt64 = 0
  /// Live pieces visited to find unmap candidates (a work count for tests).
  package internal(set) var candidatePiecesVisited = 0
  /// Live pieces visited to find the pending unmaps a page event affects (a work count for tests).
  package internal(set) var pendingPiecesVisited = 0
  /// Pending unmaps looked at by faults and page events (a work count for tests).
  package internal(set) var pendingUnmapsVisited = 0
  /// The DMA-API's accounting, from `dma:` events alone.
  let dmaAPI: DMAAPIAccounting
  /// The last events of the pages mappings touched, for reports' histories.
  let trail = PageTrail()
  /// VT-d's traced IOTLB flushes.
  let flushes = FlushLog()

  /// Progress: bytes and lines consumed so far, and events recognised.
  package var bytesConsumed: UInt64 { summary.bytes }
  package var linesConsumed: Int { lineNumber }
  package var eventsSeen: Int { summary.events }
  /// Address spaces that hold an index of live pieces (only those that map something).
  package var spacesWithIndex: Int { spaces.reduce(0) { $0 + ($1.live == nil ? 0 : 1) } }
  package var spaceCount: Int { spaces.count }
  /// Unmaps waiting on their CPU for a `dma:` event to name the device.
  package var heldUnmaps: Int { pendingCPUs.count }

  deinit {
    mappings.release()
    released.release()
    eventCounts.deallocate()
    lastFreePFN.release()
  }

  package init(options: ReplayOptions = ReplayOptions(), report: @escaping (Report) -> Void) {
    self.options = options
    self.shift = options.pageShift
    self.emit = report
    self.summary = ReplaySummary(file: options.traceName, pageSize: UInt64(1) << options.pageShift)
    self.dmaAPI = DMAAPIAccounting(pageShift: options.pageShift, releasedHistory: options.releasedHistory)
    spaces.append(AddressSpace(kind: .unattributed, device: 1))
    unattributed.append(0)
  }

  // MARK: - Input

  /// Consumes a chunk of trace text; lines may span chunks.
  package func consume(_ chunk: UnsafeRawBufferPointer) {
    guard !finished, let base = chunk.baseAddress, chunk.count > 0 else { return }
    let bytes = base.assumingMemoryBound(to: UInt8.self)
    let n = chunk.count
    summary.bytes &+= UInt64(n)
    var start = 0
    while start < n {
      let rest = n - start
      guard let hit = memchr(bytes + start, 0x0A, rest) else {
        appendCarry(Line(start: bytes + start, count: rest))
        return
      }
      let nl = bytes.distance(to: hit.assumingMemoryBound(to: UInt8.self))
      let line = Line(start: bytes + start, count: nl - start)
      if carry.isEmpty && !carryTooLong {
        process(line)
      } else {
        appendCarry(line)
        flushCarry()
      }
      start = nl + 1
    }
  }

  /// Replays a whole trace.dat held in memory (`TraceDat`).
  package func consumeTraceDat(_ file: UnsafeRawBufferPointer, fromPipe: Bool = false) {
    guard !finished else { return }
    if fromPipe, !TraceDat.isTraceDat(file) {
      formatOverride = "trace.dat"
      summary.inputError =
        "a trace.dat larger than \(TraceReplay.maxBufferedTraceDat >> 20) MiB on standard input: give its path"
      return
    }
    summary.bytes &+= UInt64(file.count)
    do throws(TraceDat.Failure) {
      let dat = try TraceDat(file)
      formatOverride = "trace.dat v\(dat.version)"
      if let release = dat.release { noteKernelRelease(release) }
      dat.forEachLine { process($0) }
    } catch {
      formatOverride = "trace.dat"
      summary.inputError = error.message
    }
  }

  package func consume(_ text: String) {
    var t = text
    t.withUTF8 { consume(UnsafeRawBufferPointer($0)) }
  }

  package func consume(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { consume($0) }
  }

  private func appendCarry(_ line: Line) {
    if carryTooLong { return }
    if carry.count + line.count > Self.maxLineLength {
      carryTooLong = true
      carry.removeAll()
      return
    }
    carry.append(contentsOf: line)
  }

  private func flushCarry() {
    if carryTooLong {
      lineNumber += 1
      malformed(Self.lineTooLongMessage)
      carryTooLong = false
      carry.removeAll(keepingCapacity: false)
      return
    }
    carry.withUnsafeBufferPointer { process($0) }
    carry.removeAll(keepingCapacity: true)
  }

  /// The first release the trace names wins.
  private func noteKernelRelease(_ release: String) {
    guard kernelRelease == nil else { return }
    kernelRelease = release
    onKernelRelease?(release)
  }

  /// Ends the input: processes a last line without a newline, resolves what
  /// waited for a following event, and returns the summary.
  package func finish() -> ReplaySummary {
    if !finished {
      if !carry.isEmpty || carryTooLong { flushCarry() }
      finished = true
      resolveAllPending()
      for c in recentCPUs.members { finalizeRecentMaps(c) }
    }
    return currentSummary()
  }

  func currentSummary() -> ReplaySummary {
    var s = summary
    s.lines = lineNumber
    s.eventCounts = [:]
    for t in TraceEventType.allCases where eventCounts[t.rawValue] > 0 {
      s.eventCounts[t.name] = eventCounts[t.rawValue]
    }
    s.format =
      formatOverride
      ?? (sawPerf
        ? "perf-script"
        : sawForm == .latency
          ? "ftrace-latency"
          : sawForm == .noContext
            ? "ftrace-no-context"
            : sawRaw
              ? "trace-cmd-raw"
              : sawTraceCmdHeader
                ? "trace-cmd" : sawFtraceHeader ? "ftrace" : summary.events > 0 ? "trace_pipe" : "empty")
    s.liveMappings = liveMappings
    var bytes: UInt64 = 0
    for m in mappings where m.live { bytes &+= m.last &- m.iova &+ 1 }
    s.liveMappedBytes = bytes
    var pages = counts.count
    for m in mappings where m.live && m.isLarge {
      pages += Int(clamping: ((m.paddr &+ (m.last &- m.iova)) >> shift) - (m.paddr >> shift) + 1)
    }
    s.mappedPages = pages
    s.deviceSpaces = spaces.filter { $0.kind == .device }.count
    s.groupSpaces = spaces.filter { $0.kind == .group }.count
    s.unattributedSpaces = spaces.filter { $0.kind == .unattributed }.count
    s.devices = deviceNames
    s.dmaAPIMaps = dmaAPI.maps
    s.dmaAPIMapsWithoutPhys = dmaAPI.mapsWithoutPhys
    s.dmaAPIUnmaps = dmaAPI.unmaps
    s.dmaAPIUnmatchedUnmaps = dmaAPI.unmatchedUnmaps
    s.dmaAPISyncs = dmaAPI.syncs
    s.dmaAPIUnmatchedSyncs = dmaAPI.unmatchedSyncs
    s.dmaAPIRemapsOverLive = dmaAPI.remapsOverLive
    s.dmaAPILiveMappings = dmaAPI.liveCount
    s.dmaAPILivePages = dmaAPI.livePages
    return s
  }

  // MARK: - Lines

  func malformed(_ reason: String) {
    summary.malformedLines += 1
    if summary.malformed.count < options.malformedLinesListed {
      summary.malformed.append(MalformedLine(line: lineNumber, reason: reason))
    }
  }

  func process(_ raw: Line) {
    lineNumber += 1
    var line = raw
    if line.count > 0, line[line.count - 1] == ASCII.cr { line = Line(rebasing: line[0..<(line.count - 1)]) }
    let kind = TraceLineParser.classify(line, &pre)
    var payloadError: StaticString?
    if kind == .event, pre.type != .other {
      payloadError = TraceLineParser.payload(line, pre, &fields, ranges: &ranges, phys: &physAddrs)
    }
    apply(line, kind, payloadError)
  }

  /// Applies a batch the reading thread parsed (`ParsePipeline`): the same
  /// as `process` of each of its lines.
  func apply(_ batch: ParsePipeline.Batch) {
    guard !finished else { return }
    summary.bytes &+= UInt64(batch.inputBytes)
    batch.bytes.withUnsafeBufferPointer { all in
      guard let base = all.baseAddress else {
        for p in batch.lines where p.tooLong {
          lineNumber += 1
          malformed(Self.lineTooLongMessage)
        }
        return
      }
      // Each record is read in place, its prefix and payload copied once into `pre` and `fields`.
      do {
        let lines = batch.lines.buffer
        for i in lines.indices {
          lineNumber += 1
          if lines[i].tooLong {
            malformed(Self.lineTooLongMessage)
            continue
          }
          pre = lines[i].pre
          let kind = lines[i].kind
          if kind == .event, pre.type != .other {
            fields = lines[i].fields
          }
          // Only the `dma:` handlers read the ranges and physical addresses.
          if kind == .event, pre.type.isDMA {
            ranges.removeAll(keepingCapacity: true)
            physAddrs.removeAll(keepingCapacity: true)
            let rangeStart = Int(lines[i].rangeStart)
            let rangeCount = Int(lines[i].rangeCount)
            if rangeCount > 0 { ranges.append(contentsOf: batch.ranges[rangeStart..<(rangeStart + rangeCount)]) }
            let physStart = Int(lines[i].physStart)
            let physCount = Int(lines[i].physCount)
            if physCount > 0 { physAddrs.append(contentsOf: batch.phys[physStart..<(physStart + physCount)]) }
          }
          apply(Line(start: base + lines[i].start, count: lines[i].count), kind, lines[i].payloadError)
        }
      }
    }
  }

  /// The rest of `process`: `pre` (and, for an event, `fields` and `ranges`) hold the parsed line.
  private func apply(_ line: Line, _ kind: TraceLineParser.Kind, _ payloadError: StaticString?) {
    switch kind {
    case .blank:
      summary.blankLines += 1
    case .header:
      summary.headerLines += 1
      var k = 0
      line.skipSpaces(&k)
      if line.expect("cpus=", &k) { sawTraceCmdHeader = true }
      k = 0
      line.skipSpaces(&k)
      if line.expect("# tracer:", &k) { sawFtraceHeader = true }
      k = 0
      // The latency format's `print_trace_header()`: `# %s latency trace v1.1.5 on %s` (UTS_RELEASE).
      if line.expect("# ", &k), let on = TraceLineParser.latencyHeaderRelease(line, k) {
        var end = line.count
        while end > on, ASCII.isSpace(line[end - 1]) { end -= 1 }
        if let release = TraceDat.plausibleRelease(line.string(on, end)) { noteKernelRelease(release) }
      }
      k = 0
      // perf's `print_osrelease()`: `# os release : %s`.
      if line.expect("# os release :", &k) {
        line.skipSpaces(&k)
        var end = line.count
        while end > k, ASCII.isSpace(line[end - 1]) || line[end - 1] == ASCII.cr { end -= 1 }
        if let release = TraceDat.plausibleRelease(line.string(k, end)) { noteKernelRelease(release) }
      }
    case .lost(_, let n):
      summary.lostEventMarkers += 1
      let (sum, overflow) = summary.lostEvents.addingReportingOverflow(n ?? 0)
      summary.lostEvents = overflow ? .max : sum
      if summary.firstLostEventsLine == nil { summary.firstLostEventsLine = lineNumber }
    case .malformed(let reason):
      malformed(reason.description)
    case .event:
      if pre.perf { sawPerf = true }
      if pre.form != .plain { sawForm = pre.form }
      if pre.type == .other {
        summary.events += 1
        eventCounts[TraceEventType.other.rawValue] += 1
        return
      }
      if let reason = payloadError {
        malformed(reason.description)
        return
      }
      // `[FAILED TO PARSE]` lines of a `trace-cmd report` hold fields too, but the report is not `-R`.
      if fields.raw, !fields.failedToParse { sawRaw = true }
      summary.events += 1
      eventCounts[pre.type.rawValue] += 1
      cur = line
      dispatch()
      cur = Line(start: nil, count: 0)
    }
  }

  private func dispatch() {
    let cpu = pre.cpu
    if cpu >= cpus.count {
      cpus.append(contentsOf: repeatElement(CPUState(), count: cpu + 1 - cpus.count))
      while lastFreePFN.count < cpus.count { lastFreePFN.append(.max) }
    }
    switch pre.type {
    case .map: handleMap(cpu)
    case .unmap: handleUnmap(cpu)
    case .mmPageAlloc, .mmPageFree, .mmPageFreeBatched: handlePage(cpu)
    case .ioPageFault: handleFault(cpu)
    case .cacheTagFlushRange, .cacheTagFlushRangeNP, .cacheTagFlushAll: handleIOTLBFlush()
    case .addDeviceToGroup:
      let d = device(fields.devStart, fields.devEnd)
      if d >= 0 { deviceGroup[Int(d)] = fields.group }
      otherEvent(cpu)
    case .removeDeviceFromGroup, .attachDeviceToDomain, .detachDeviceFromDomain:
      _ = device(fields.devStart, fields.devEnd)
      otherEvent(cpu)
    default:
      if pre.type.isDMAMap {
        handleDMAMap(cpu)
      } else if pre.type.isDMARelease {
        handleDMARelease(cpu)
      } else if pre.type.isDMASync {
        // The sync events map and unmap nothing; check_sync() checks them.
        dmaAPISync(device: device(fields.devStart, fields.devEnd))
      } else {
        // dma_map_sg_err and dma_alloc_sgt_err map and unmap nothing.
        _ = device(fields.devStart, fields.devEnd)
      }
    }
  }

  /// An iommu or dma event that ends the per-CPU windows.
  func otherEvent(_ cpu: Int) {
    resolvePending(cpu)
    finalizeRecentMaps(cpu)
    cpus[cpu].preRelease = nil
    cpus[cpu].lastReleased.removeAll(keepingCapacity: true)
  }

  // MARK: - Devices and spaces

  /// The id of the device named by `[a, b)` of the current line.
  func device(_ a: Int, _ b: Int) -> Int32 {
    guard b > a else { return -1 }
    // A direct-mapped cache of the exact name bytes: a known device costs a
    // hash of its bytes and one compare, no `String`.
    let length = b - a
    var slot = -1
    if length <= DeviceCache.maxName, let base = cur.baseAddress {
      var h: UInt64 = 0xCBF2_9CE4_8422_2325
      for k in a..<b { h = (h ^ UInt64(cur[k])) &* 0x100_0000_01B3 }
      slot = Int(truncatingIfNeeded: h >> 58)
      if let id = deviceCache.lookup(slot, base + a, length) { return id }
    }
    let name = cur.string(a, b)
    if let id = deviceIDs[name] {
      if slot >= 0, let base = cur.baseAddress { deviceCache.store(slot, base + a, length, id) }
      return id
    }
    let id = Int32(deviceNames.count)
    deviceNames.append(name)
    deviceIDs[name] = id
    deviceSpaceOf.append(-1)
    deviceDriver.append("")
    deviceGroup.append(nil)
    if slot >= 0, let base = cur.baseAddress { deviceCache.store(slot, base + a, length, id) }
    return id
  }

  /// The address space of a device (its IOMMU group's, when traced), created on first use.
  func spaceOf(device d: Int32) -> Int32 {
    let di = Int(d)
    if deviceSpaceOf[di] >= 0 { return deviceSpaceOf[di] }
    let id = Int32(spaces.count)
    if let g = deviceGroup[di] {
      if let s = groupSpaceOf[g] {
        deviceSpaceOf[di] = s
        return s
      }
      spaces.append(AddressSpace(kind: .group, group: g))
      groupSpaceOf[g] = id
    } else {
      spaces.append(AddressSpace(kind: .device, device: d))
    }
    deviceSpaceOf[di] = id
    return id
  }

  /// The space a device's events belong to, if it has one yet.
  func existingSpace(of d: Int32) -> Int32? {
    guard d >= 0, Int(d) < deviceSpaceOf.count else { return nil }
    let s = deviceSpaceOf[Int(d)]
    if s >= 0 { return s }
    if let g = deviceGroup[Int(d)], let gs = groupSpaceOf[g] { return gs }
    return nil
  }

  /// The space's index of live pieces, created (or taken from the spares) when it has none.
  func liveIndex(_ space: Int32) -> IntervalIndex {
    if let index = spaces[Int(space)].live { return index }
    let index = spareIndices.popLast() ?? IntervalIndex()
    spaces[Int(space)].live = index
    return index
  }

  /// Some live piece of `space` overlaps `[start, last]`.
  @inline(__always) func spaceOverlaps(_ space: Int32, _ start: UInt64, _ last: UInt64) -> Bool {
    spaces[Int(space)].live?.overlaps(start: start, last: last) ?? false
  }

  /// A space's name in reports: the device, `group N`, or `unattributed[ N]`.
  func spaceName(_ space: Int32) -> String {
    let s = spaces[Int(space)]
    switch s.kind {
    case .device: return deviceNames[Int(s.device)]
    case .group: return "group \(s.group)"
    case .unattributed: return s.device <= 1 ? "unattributed" : "unattributed \(s.device)"
    }
  }

  // MARK: - Mapping records

  func newMapping(_ m: Mapping) -> Int32 {
    liveMappings += 1
    if let id = freeMappings.popLast() {
      mappings[Int(id)] = m
      return id
    }
    mappings.append(m)
    return Int32(mappings.count - 1)
  }

  func freeMapping(_ id: Int32) {
    mappings[Int(id)].live = false
    if !mappingNotes.isEmpty { mappingNotes[id] = nil }
    freeMappings.append(id)
    liveMappings -= 1
  }

  /// Adds `delta` to every page of `[paddr, paddr + size)` of a small mapping.
  @inline(__always)
  func countRange(paddr: UInt64, last: UInt64, delta: Int32, owner: Int32) {
    var p = paddr >> shift
    let end = last >> shift
    while true {
      counts.add(p, delta, owner: owner)
      if p == end { break }
      p += 1
    }
  }

  /// Number of pages `[paddr, last]` spans.
  @inline(__always) func pageSpan(_ paddr: UInt64, _ last: UInt64) -> UInt64 {
    (last >> shift) - (paddr >> shift) + 1
  }

  /// Inserts a mapping piece into a space's index and the page counts.
  func place(_ id: Int32, in space: Int32) {
    var m = mappings[Int(id)]
    m.space = space
    m.slot = liveIndex(space).insert(start: m.iova, last: m.last, id: id)
    m.globalSlot = allLive.insert(start: m.iova, last: m.last, id: id)
    mappings[Int(id)] = m
    liveGeneration &+= 1
  }

  /// Takes a mapping piece out of its space's index (and the global one).
  func unplace(_ id: Int32) {
    leaveSpace(id)
    let m = mappings[Int(id)]
    if m.globalSlot >= 0 { allLive.remove(slot: m.globalSlot) }
    mappings[Int(id)].globalSlot = -1
    liveGeneration &+= 1
  }

  /// Moves a live piece to another space (a `dma:` event named its device):
  /// its entry in the global index, which does not say the space, stays.
  func move(_ id: Int32, to space: Int32) {
    leaveSpace(id)
    let m = mappings[Int(id)]
    mappings[Int(id)].space = space
    mappings[Int(id)].slot = liveIndex(space).insert(start: m.iova, last: m.last, id: id)
    liveGeneration &+= 1
  }

  /// Takes a piece out of its space's index; an emptied index goes to the spares.
  private func leaveSpace(_ id: Int32) {
    let m = mappings[Int(id)]
    if let index = spaces[Int(m.space)].live {
      index.remove(slot: m.slot)
      if index.isEmpty {
        // The space maps nothing now: its index goes (to the spares).
        spaces[Int(m.space)].live = nil
        if spareIndices.count < Self.maxSpareIndices { spareIndices.append(index) }
      }
    }
  }

  // MARK: - Released ranges

  @discardableResult
  func addReleased(_ r: Released, note: String? = nil) -> Int {
    var rec = r
    let index: Int
    if released.count < options.releasedHistory {
      // The whole history at once (untouched pages cost nothing): growing it
      // by doubling copied it twice over and showed in the profile.
      if released.isEmpty { released.reserveCapacity(options.releasedHistory) }
      index = released.count
      released.append(rec)
    } else {
      index = releasedHead
      releasedHead = (releasedHead + 1) % released.count
      dropReleased(index)
      released[index] = rec
    }
    if rec.hasPaddr, pageSpan(rec.paddr, rec.paddr &+ (rec.last &- rec.iova)) <= Self.markedPagesPerRange {
      rec.marked = true
      var p = rec.paddr >> shift
      let end = (rec.paddr &+ (rec.last &- rec.iova)) >> shift
      while true {
        pageMarks.set(p, Int32(index), 0)
        if p == end { break }
        p += 1
      }
    }
    rec.indexSlot = releasedIndex.insert(start: rec.iova, last: rec.last, id: Int32(index))
    released[index] = rec
    if let note { releasedNotes[index] = note }
    return index
  }

  /// Forgets a released record (evicted from the history).
  func dropReleased(_ index: Int) {
    guard index < released.count, released[index].live else { return }
    let r = released[index]
    if r.marked {
      var p = r.paddr >> shift
      let end = (r.paddr &+ (r.last &- r.iova)) >> shift
      while true {
        if let (v, _) = pageMarks.get(p), v == Int32(index) { pageMarks.remove(p) }
        if p == end { break }
        p += 1
      }
    }
    if r.indexSlot >= 0 { releasedIndex.remove(slot: r.indexSlot) }
    released[index].indexSlot = -1
    released[index].live = false
    if !releasedNotes.isEmpty { releasedNotes[index] = nil }
  }
}
