import KernelTypes

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Text replay on two threads: a reading thread reads the input in chunks,
/// splits it into lines and parses each (`TraceLineParser.classify` and
/// `payload`, which are pure functions of the line's bytes) into a batch; the
/// calling thread applies the batches in order (`TraceReplayer.apply`), so
/// the engine, its reports and their order are exactly those of the
/// one-thread path. At most `depth` batches (one chunk of input each) are in
/// flight, so memory stays bounded. The batches cross threads under a pthread
/// mutex and condition variables (which ThreadSanitizer sees).
enum ParsePipeline {
  static let depth = 2

  /// One line of a batch, parsed.
  struct ParsedLine {
    var pre = TraceLineParser.Prefix()
    var fields = EventFields()
    var kind = TraceLineParser.Kind.blank
    var payloadError: StaticString?
    /// The line in the batch's bytes (a batch is one chunk and a carried line: under 2^31 bytes).
    private var _start: Int32
    private var _count: Int32
    var rangeStart: Int32 = 0
    var rangeCount: Int32 = 0
    var physStart: Int32 = 0
    var physCount: Int32 = 0
    /// Longer than `TraceReplayer.maxLineLength`: counted as malformed, not parsed.
    var tooLong = false

    init(start: Int, count: Int, tooLong: Bool = false) {
      _start = Int32(truncatingIfNeeded: start)
      _count = Int32(truncatingIfNeeded: count)
      self.tooLong = tooLong
    }

    var start: Int { Int(_start) }
    var count: Int { Int(_count) }
  }

  /// A chunk's complete lines, their bytes and what the parser made of them.
  /// One thread at a time owns a batch (the channel's lock hands it over),
  /// so no access to its properties overlaps another: they are
  /// `@exclusivity(unchecked)` (the dynamic checks showed in the profile).
  final class Batch {
    @exclusivity(unchecked) var bytes: [UInt8] = []
    /// The records in storage the batch owns: each is parsed in place (no copy of a record to append it).
    @exclusivity(unchecked) var lines = RawColumn<ParsedLine>()
    @exclusivity(unchecked) var ranges: [DMARange] = []
    @exclusivity(unchecked) var phys: [UInt64] = []
    /// Input bytes this batch accounts for.
    @exclusivity(unchecked) var inputBytes = 0
    /// A trace.dat read from a pipe (the whole input), instead of lines.
    @exclusivity(unchecked) var binary: [UInt8]?

    deinit { lines.release() }

    /// Empties it for reuse, keeping its buffers (no page faults on the next chunk).
    func reset() {
      bytes.removeAll(keepingCapacity: true)
      lines.removeAll()
      ranges.removeAll(keepingCapacity: true)
      phys.removeAll(keepingCapacity: true)
      inputBytes = 0
    }
  }

  /// A bounded FIFO of batches between the two threads; nil ends it.
  final class Channel: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var notEmpty = pthread_cond_t()
    private var notFull = pthread_cond_t()
    private var items: [Batch?] = []
    /// Applied batches, handed back for reuse.
    private var spare: [Batch] = []
    var error: InputFileError?

    init() {
      pthread_mutex_init(&lock, nil)
      pthread_cond_init(&notEmpty, nil)
      pthread_cond_init(&notFull, nil)
    }

    deinit {
      pthread_cond_destroy(&notFull)
      pthread_cond_destroy(&notEmpty)
      pthread_mutex_destroy(&lock)
    }

    func put(_ b: Batch?) {
      pthread_mutex_lock(&lock)
      while items.count >= ParsePipeline.depth { pthread_cond_wait(&notFull, &lock) }
      items.append(b)
      pthread_cond_signal(&notEmpty)
      pthread_mutex_unlock(&lock)
    }

    func take() -> Batch? {
      pthread_mutex_lock(&lock)
      while items.isEmpty { pthread_cond_wait(&notEmpty, &lock) }
      let b = items.removeFirst()
      pthread_cond_signal(&notFull)
      pthread_mutex_unlock(&lock)
      return b
    }

    /// A batch to fill: a spare one, or a new one.
    func fresh() -> Batch {
      pthread_mutex_lock(&lock)
      let b = spare.popLast()
      pthread_mutex_unlock(&lock)
      guard let b else { return Batch() }
      b.reset()
      return b
    }

    /// Gives back a batch the calling thread has applied.
    func recycle(_ b: Batch) {
      pthread_mutex_lock(&lock)
      if spare.count <= ParsePipeline.depth { spare.append(b) }
      pthread_mutex_unlock(&lock)
    }

    func setError(_ e: InputFileError) {
      pthread_mutex_lock(&lock)
      error = e
      pthread_mutex_unlock(&lock)
    }

    func takeError() -> InputFileError? {
      pthread_mutex_lock(&lock)
      defer { pthread_mutex_unlock(&lock) }
      return error
    }
  }

  /// Whether a second thread is worth it: more than one CPU online and, by
  /// the last minute's load average, one of them idle. On a busy machine the
  /// two threads only take turns on one core, and the hand-over costs about
  /// a third more CPU time (docs/Benchmarks.md, "Replay throughput").
  static var available: Bool {
    let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    guard cpus > 1 else { return false }
    var load = [Double](repeating: 0, count: 1)
    guard getloadavg(&load, 1) == 1 else { return true }
    return load[0] <= Double(cpus - 1)
  }

  /// The reading thread's work: `read` calls its body with each chunk.
  final class Producer: @unchecked Sendable {
    let channel = Channel()
    let read: ((UnsafeRawBufferPointer) -> Bool) throws(InputFileError) -> Void
    private var carry: [UInt8] = []
    private var carryTooLong = false
    private var binary: [UInt8]?
    private var first = true

    init(read: @escaping ((UnsafeRawBufferPointer) -> Bool) throws(InputFileError) -> Void) {
      self.read = read
    }

    func run() {
      do throws(InputFileError) {
        try read { chunk in self.chunk(chunk) }
      } catch {
        channel.setError(error)
      }
      finish()
      channel.put(nil)
    }

    private func chunk(_ chunk: UnsafeRawBufferPointer) -> Bool {
      if first {
        first = false
        if TraceDat.isTraceDat(chunk) { binary = [] }
      }
      if binary != nil { return TraceReplay.appendBinary(chunk, &binary) }
      let batch = channel.fresh()
      batch.inputBytes = chunk.count
      guard let base = chunk.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return true }
      let n = chunk.count
      // The line that spans from the previous chunk, completed.
      var start = 0
      if !carry.isEmpty || carryTooLong {
        guard let hit = memchr(base, 0x0A, n) else {
          appendCarry(UnsafeBufferPointer(start: base, count: n))
          channel.put(batch)
          return true
        }
        let nl = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
        appendCarry(UnsafeBufferPointer(start: base, count: nl))
        flushCarry(into: batch)
        start = nl + 1
      }
      // Then the chunk's own complete lines, copied with their newlines.
      var lastNL = n - 1
      while lastNL >= start, base[lastNL] != 0x0A { lastNL -= 1 }
      if lastNL >= start {
        let offset = batch.bytes.count
        batch.bytes.append(contentsOf: UnsafeBufferPointer(start: base + start, count: lastNL + 1 - start))
        parseLines(batch, from: offset)
      }
      if lastNL + 1 < n { appendCarry(UnsafeBufferPointer(start: base + lastNL + 1, count: n - lastNL - 1)) }
      channel.put(batch)
      return true
    }

    private func appendCarry(_ bytes: UnsafeBufferPointer<UInt8>) {
      if carryTooLong { return }
      if carry.count + bytes.count > TraceReplayer.maxLineLength {
        carryTooLong = true
        carry.removeAll()
        return
      }
      carry.append(contentsOf: bytes)
    }

    /// Ends the carried line: a line of its own at the end of `batch`.
    private func flushCarry(into batch: Batch) {
      if carryTooLong {
        batch.lines.append(ParsedLine(start: batch.bytes.count, count: 0, tooLong: true))
        carryTooLong = false
        carry.removeAll(keepingCapacity: false)
        return
      }
      let offset = batch.bytes.count
      batch.bytes.append(contentsOf: carry)
      batch.bytes.append(0x0A)
      carry.removeAll(keepingCapacity: true)
      parseLines(batch, from: offset)
    }

    private func finish() {
      if let b = binary {
        let batch = Batch()
        batch.binary = b
        binary = nil
        channel.put(batch)
        return
      }
      guard !carry.isEmpty || carryTooLong else { return }
      let batch = Batch()
      flushCarry(into: batch)
      channel.put(batch)
    }

    /// Parses the newline-terminated lines of `batch.bytes` from `offset` on.
    private func parseLines(_ batch: Batch, from offset: Int) {
      var ranges: [DMARange] = []
      var phys: [UInt64] = []
      batch.bytes.withUnsafeBufferPointer { all in
        guard let base = all.baseAddress else { return }
        var s = offset
        let n = all.count
        while s < n {
          let rest = n - s
          guard let hit = memchr(base + s, 0x0A, rest) else { break }
          let nl = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
          var line = Line(start: base + s, count: nl - s)
          if line.count > 0, line[line.count - 1] == ASCII.cr { line = Line(start: base + s, count: nl - s - 1) }
          let p = batch.lines.appendSlot(ParsedLine(start: s, count: line.count))
          let kind = TraceLineParser.classify(line, &p.pointee.pre)
          p.pointee.kind = kind
          let type = p.pointee.pre.type
          if kind == .event, type != .other {
            let error = TraceLineParser.payload(line, p.pointee.pre, &p.pointee.fields, ranges: &ranges, phys: &phys)
            p.pointee.payloadError = error
          }
          // Only `dma:` events carry ranges and physical addresses (`payload` leaves the last ones otherwise).
          if kind == .event, type.isDMA {
            if !ranges.isEmpty {
              p.pointee.rangeStart = Int32(truncatingIfNeeded: batch.ranges.count)
              p.pointee.rangeCount = Int32(truncatingIfNeeded: ranges.count)
              batch.ranges.append(contentsOf: ranges)
            }
            if !phys.isEmpty {
              p.pointee.physStart = Int32(truncatingIfNeeded: batch.phys.count)
              p.pointee.physCount = Int32(truncatingIfNeeded: phys.count)
              batch.phys.append(contentsOf: phys)
            }
          }
          s = nl + 1
        }
      }
    }
  }

  /// Replays what `read` delivers with the parsing on a second thread.
  /// False when the thread could not be started (nothing was read then).
  static func replay(
    _ replayer: TraceReplayer, progress: ((TraceReplayer) -> Void)?,
    read: @escaping ((UnsafeRawBufferPointer) -> Bool) throws(InputFileError) -> Void
  ) throws(InputFileError) -> Bool {
    let producer = Producer(read: read)
    var thread = pthread_t()
    let context = Unmanaged.passRetained(producer).toOpaque()
    let started = pthread_create(
      &thread, nil,
      { raw in
        #if canImport(Darwin)
          let p = Unmanaged<Producer>.fromOpaque(raw).takeRetainedValue()
        #else
          guard let raw else { return nil }
          let p = Unmanaged<Producer>.fromOpaque(raw).takeRetainedValue()
        #endif
        p.run()
        return nil
      }, context)
    if started != 0 {
      Unmanaged<Producer>.fromOpaque(context).release()
      return false
    }
    while let batch = producer.channel.take() {
      if let b = batch.binary {
        b.withUnsafeBytes { replayer.consumeTraceDat($0, fromPipe: true) }
        continue
      }
      let before = replayer.bytesConsumed
      replayer.apply(batch)
      producer.channel.recycle(batch)
      if let progress, before >> 26 != replayer.bytesConsumed >> 26 { progress(replayer) }
    }
    pthread_join(thread, nil)
    if let e = producer.channel.takeError() { throw e }
    return true
  }
}
