import KernelTypes
import Reports

/// Reading a trace from a file or a file descriptor in fixed-size chunks
/// (`InputFile`).
package enum TraceReplay {
  /// Replays the file at `path` (`-` reads standard input). `progress` is
  /// called about every 64 MiB with the replayer, for a progress line.
  package static func replay(
    path: String, options: ReplayOptions, progress: ((TraceReplayer) -> Void)? = nil,
    report: @escaping (Report) -> Void
  ) throws(InputFileError) -> ReplaySummary {
    let replayer = TraceReplayer(options: options, report: report)
    try InputFile.read(path: path) { consume($0, replayer, progress) }
    return replayer.finish()
  }

  /// Replays everything readable from `fd` (not closed).
  package static func replay(
    fileDescriptor fd: Int32, options: ReplayOptions, progress: ((TraceReplayer) -> Void)? = nil,
    report: @escaping (Report) -> Void
  ) throws(InputFileError) -> ReplaySummary {
    let replayer = TraceReplayer(options: options, report: report)
    try InputFile.read(fileDescriptor: fd, name: options.traceName) { consume($0, replayer, progress) }
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
