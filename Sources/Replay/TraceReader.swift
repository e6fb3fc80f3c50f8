import Reports

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why a trace could not be read.
package struct ReplayInputError: Error, Sendable, CustomStringConvertible {
  package var path: String
  package var message: String
  package var description: String { "\(path): \(message)" }
}

/// Reading a trace from a file or a file descriptor in fixed-size chunks.
package enum TraceReplay {
  /// The size of one `read(2)`.
  package static let chunkSize = 1 << 20

  /// Replays the file at `path` (`-` reads standard input). `progress` is
  /// called about every 64 MiB with the replayer, for a progress line.
  package static func replay(
    path: String, options: ReplayOptions, progress: ((TraceReplayer) -> Void)? = nil,
    report: @escaping (Report) -> Void
  ) throws(ReplayInputError) -> ReplaySummary {
    if path == "-" { return try replay(fileDescriptor: 0, options: options, progress: progress, report: report) }
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw ReplayInputError(path: path, message: errnoText(errno)) }
    defer { close(fd) }
    var st = stat()
    if fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
      throw ReplayInputError(path: path, message: "is a directory (EISDIR)")
    }
    return try replay(fileDescriptor: fd, options: options, progress: progress, report: report)
  }

  /// Replays everything readable from `fd` (not closed).
  package static func replay(
    fileDescriptor fd: Int32, options: ReplayOptions, progress: ((TraceReplayer) -> Void)? = nil,
    report: @escaping (Report) -> Void
  ) throws(ReplayInputError) -> ReplaySummary {
    let replayer = TraceReplayer(options: options, report: report)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    defer { buffer.deallocate() }
    var nextProgress: UInt64 = 64 << 20
    while true {
      let n = read(fd, buffer.baseAddress, chunkSize)
      if n < 0 {
        if errno == EINTR { continue }
        throw ReplayInputError(path: options.traceName, message: errnoText(errno))
      }
      if n == 0 { break }
      replayer.consume(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
      if let progress, replayer.bytesConsumed >= nextProgress {
        nextProgress = replayer.bytesConsumed + (64 << 20)
        progress(replayer)
      }
    }
    return replayer.finish()
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

  static func errnoText(_ e: Int32) -> String {
    switch e {
    case ENOENT: return "no such file or directory (ENOENT)"
    case EACCES: return "permission denied (EACCES)"
    case EISDIR: return "is a directory (EISDIR)"
    default:
      if let s = strerror(e) { return String(cString: s) + " (errno \(e))" }
      return "errno \(e)"
    }
  }
}
