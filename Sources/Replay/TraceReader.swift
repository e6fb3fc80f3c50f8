import KernelTypes
import Reports

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A regular file mapped read-only (trace.dat needs random access).
struct MappedFile {
  let bytes: UnsafeRawBufferPointer

  init?(path: String) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_size >= 10 else { return nil }
    var head = [UInt8](repeating: 0, count: 10)
    guard pread(fd, &head, 10, 0) == 10, head.withUnsafeBytes({ TraceDat.isTraceDat($0) }) else { return nil }
    let size = Int(st.st_size)
    guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else { return nil }
    bytes = UnsafeRawBufferPointer(start: p, count: size)
  }

  func unmap() { munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count) }
}

/// Reading a trace from a file or a file descriptor in fixed-size chunks
/// (`InputFile`).
package enum TraceReplay {
  /// Replays the file at `path` (`-` reads standard input). `progress` is
  /// called about every 64 MiB with the replayer, for a progress line;
  /// `kernelRelease` when the trace names its kernel's release (before the
  /// reports that follow).
  package static func replay(
    path: String, options: ReplayOptions, progress: ((TraceReplayer) -> Void)? = nil,
    kernelRelease: ((String) -> Void)? = nil, report: @escaping (Report) -> Void
  ) throws(InputFileError) -> ReplaySummary {
    let replayer = TraceReplayer(options: options, report: report)
    replayer.onKernelRelease = kernelRelease
    if path != InputFile.standardInputPath, let mapped = MappedFile(path: path), TraceDat.isTraceDat(mapped.bytes) {
      replayer.consumeTraceDat(mapped.bytes)
      mapped.unmap()
      return replayer.finish()
    }
    if options.parseThread, options.parseThreadAlways || ParsePipeline.available,
      try ParsePipeline.replay(
        replayer, progress: progress,
        read: { body throws(InputFileError) in
          try InputFile.read(path: path, body)
        })
    {
      return replayer.finish()
    }
    var binary: [UInt8]?
    try InputFile.read(path: path) { chunk in
      if binary == nil, replayer.bytesConsumed == 0, TraceDat.isTraceDat(chunk) { binary = [] }
      if binary != nil { return appendBinary(chunk, &binary) }
      return consume(chunk, replayer, progress)
    }
    if let b = binary { b.withUnsafeBytes { replayer.consumeTraceDat($0, fromPipe: true) } }
    return replayer.finish()
  }

  /// The largest trace.dat read from a pipe (a file is mapped instead).
  static let maxBufferedTraceDat = 1 << 30

  static func appendBinary(_ chunk: UnsafeRawBufferPointer, _ binary: inout [UInt8]?) -> Bool {
    guard var b = binary else { return false }
    binary = nil
    if b.count + chunk.count > maxBufferedTraceDat {
      binary = Array("too large".utf8)
      return false
    }
    b.append(contentsOf: chunk)
    binary = b
    return true
  }

  /// Replays everything readable from `fd` (not closed).
  package static func replay(
    fileDescriptor fd: Int32, options: ReplayOptions, progress: ((TraceReplayer) -> Void)? = nil,
    kernelRelease: ((String) -> Void)? = nil, report: @escaping (Report) -> Void
  ) throws(InputFileError) -> ReplaySummary {
    let replayer = TraceReplayer(options: options, report: report)
    replayer.onKernelRelease = kernelRelease
    let name = options.traceName
    if options.parseThread, options.parseThreadAlways || ParsePipeline.available,
      try ParsePipeline.replay(
        replayer, progress: progress,
        read: { body throws(InputFileError) in
          try InputFile.read(fileDescriptor: fd, name: name, body)
        })
    {
      return replayer.finish()
    }
    var binary: [UInt8]?
    try InputFile.read(fileDescriptor: fd, name: options.traceName) { chunk in
      if binary == nil, replayer.bytesConsumed == 0, TraceDat.isTraceDat(chunk) { binary = [] }
      if binary != nil { return appendBinary(chunk, &binary) }
      return consume(chunk, replayer, progress)
    }
    if let b = binary { b.withUnsafeBytes { replayer.consumeTraceDat($0, fromPipe: true) } }
    return replayer.finish()
  }

  /// Feeds one chunk; calls `progress` each time another 64 MiB were consumed.
  private static func consume(
    _ chunk: UnsafeRawBufferPointer, _ replayer: TraceReplayer, _ progress: ((TraceReplayer) -> Void)?
  ) -> Bool {
    let before = replayer.bytesConsumed
    replayer.consume(chunk)
    if let progress, before >> 26 != replayer.bytesConsumed >> 26 { progress(replayer) }
    return true
  }

  /// Replays text held in memory; returns the reports and the summary.
  package static func replay(text: String, options: ReplayOptions = ReplayOptions()) -> (
    reports: [Report], summary: ReplaySummary
  ) {
    var reports: [Report] = []
    let replayer = TraceReplayer(options: options) { reports.append($0) }
    replayer.consume(text)
    let summary = replayer.finish()
    return (reports, summary)
  }
}
