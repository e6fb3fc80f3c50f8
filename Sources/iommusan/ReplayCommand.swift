import Dispatch
import Foundation
import KernelTypes
import Replay
import Reports

extension Commands {
  static let replay = CommandSpec(
    name: "replay", abstract: "Replay an ftrace log of iommu, kmem and dma events through the sanitizer.",
    usage:
      "iommusan replay [--format <format>] [--page-size <size>] [--html <file>] [--no-progress] [--no-timestamps] [--no-history] [--one-thread] [--parse-thread] [<file>]",
    discussion: """
      Reads /sys/kernel/tracing/trace or trace_pipe text, 'trace-cmd report' (or 'report -R') output or
      'perf script' output line by line, or trace-cmd's binary trace.dat (versions 6 and 7, uncompressed),
      rebuilds per-page IOMMU map counts from iommu:map/unmap and the DMA-API's mappings from dma:
      events (Linux 6.12 to 7.0), checks every kmem page allocation and free as IOMMU_DEBUG_PAGEALLOC
      would, checks dma unmaps as CONFIG_DMA_API_DEBUG would, and reports io_page_faults on IOVAs a
      traced unmap released. Each report carries its page's last traced events and a verdict.
      docs/Replay.md says how to capture a trace.
      Exit status: 0 when nothing was reported, 1 when anything was, 2 on usage or input errors
      (an unreadable file, or an input in which no line is a trace event: empty or header-only too).
      """,
    options: [
      ("format", "format", "kernel (default): kernel log splats; json: JSON Lines."),
      ("page-size", "size", "The traced machine's PAGE_SIZE: 4K (default), 16K or 64K."),
      (
        "html", "file",
        "Also write one HTML page: a timeline per reported page from the trace lines its report names (bounded)."
      ),
    ],
    flags: [
      ("no-progress", "Never print the progress line on standard error."),
      ("no-timestamps", "Leave out the printk timestamps ('[    0.000000][    T1] ') of kernel lines."),
      ("no-history", "Keep no page histories (reports list no history; about a fifth faster on map-heavy traces)."),
      (
        "one-thread",
        "Parse on the replaying thread (by default a text trace is parsed on a second thread when a CPU is idle)."
      ),
      ("parse-thread", "Parse a text trace on a second thread even when no CPU is idle."),
    ],
    arguments: [("file", "The trace file; '-' or nothing reads standard input.")])

  static func replayCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try replay.parse(args)
    if p.flags.contains("help") { return printHelp(replay) }
    let format = try outputFormat(p)
    var pageSize: UInt64 = 4096
    if let s = p.options["page-size"] {
      switch s.uppercased() {
      case "4K", "4096": pageSize = 4096
      case "16K", "16384": pageSize = 16384
      case "64K", "65536": pageSize = 65536
      default: throw UsageError(message: "The value '\(s)' is invalid for '--page-size <size>': use 4K, 16K or 64K")
      }
    }
    guard p.positionals.count <= 1 else { throw UsageError(message: "Unexpected argument '\(p.positionals[1])'") }
    let path = p.positionals.first ?? "-"
    var options = ReplayOptions(pageSize: pageSize, traceName: path)
    options.pageHistory = !p.flags.contains("no-history")
    options.parseThread = !p.flags.contains("one-thread")
    options.parseThreadAlways = p.flags.contains("parse-thread")
    let progress = ProgressLine(enabled: !p.flags.contains("no-progress"), linesWhenPiped: true)
    let out = BufferedOutput(beforeWrite: progress.clear)
    var kernel = KernelLog(
      renderer: KernelTextRenderer(includeHistory: true), timestamps: !p.flags.contains("no-timestamps"))
    let json = JSONLinesRenderer()
    let summary: ReplaySummary
    // Bounded: HTMLRun counts every report and keeps a few thousand.
    var htmlRun = p.options["html"].map { _ in HTMLRun(name: path) }
    do throws(InputFileError) {
      summary = try TraceReplay.replay(
        path: path, options: options, progress: { progress.update(replayProgress($0, since: progress.start)) },
        kernelRelease: { release in
          // The traced kernel's own UTS_RELEASE; otherwise `run`'s default.
          kernel.renderer.release = release
          htmlRun?.release = release
        },
        report: { report in
          htmlRun?.add(report)
          switch format {
          case .kernel: out.append(kernel.report(report))
          case .json: out.append(json.render(report))
          }
        })
    } catch {
      out.flush()
      progress.finish()
      write("\(error.path): error: \(error.reason)\n", to: .standardError)
      return 2
    }
    progress.finish()
    if let message = summary.inputError {
      out.flush()
      write("\(path): error: \(message)\n", to: .standardError)
      return 2
    }
    switch format {
    case .kernel: out.append(summary.textLines.joined(separator: "\n") + "\n")
    case .json: out.append(summary.json.serialized + "\n")
    }
    out.flush()
    if var htmlRun, let htmlPath = p.options["html"] {
      htmlRun.status = .exit(summary.exitStatus)
      var html = HTMLDocument(command: commandLine("replay", args))
      html.runs = [htmlRun]
      html.notes = [HTMLNote(title: "Replay summary", lines: summary.textLines)]
      if !writeHTML(html, to: htmlPath) { return 2 }
    }
    if summary.events == 0 && summary.malformedLines > 0 {
      write(
        "\(path): error: no trace event recognised (\(Plural.count(summary.malformedLines, "malformed line"))"
          + (summary.malformed.first.map { "; first at line \($0.line): \($0.reason)" } ?? "") + "); "
          + "expected ftrace text ('<comm>-<pid> [<cpu>] <timestamp>: <event>: ...')\n", to: .standardError)
    } else if summary.events == 0 {
      write(
        "\(path): error: no trace event in the input (\(summary.lines) lines, \(summary.headerLines) header lines); "
          + "expected ftrace text ('<comm>-<pid> [<cpu>] <timestamp>: <event>: ...')\n", to: .standardError)
    } else if let first = summary.malformed.first {
      write(
        "\(path): warning: \(Plural.count(summary.malformedLines, "malformed line")) skipped (first at line \(first.line): \(first.reason))\n",
        to: .standardError)
    }
    return summary.exitStatus
  }
}

/// Standard output in 64 KiB writes.
final class BufferedOutput {
  private var buffer: [UInt8] = []
  /// Called before each write (clears the progress line).
  private let beforeWrite: () -> Void
  init(beforeWrite: @escaping () -> Void = {}) {
    self.beforeWrite = beforeWrite
    buffer.reserveCapacity(1 << 16)
  }
  func append(_ s: String) {
    buffer.append(contentsOf: s.utf8)
    if buffer.count >= 1 << 16 { flush() }
  }
  func flush() {
    guard !buffer.isEmpty else { return }
    beforeWrite()
    FileHandle.standardOutput.write(Data(buffer))
    buffer.removeAll(keepingCapacity: true)
  }
}

/// `iommusan: replay: 1.2 GiB, 10.5M lines, 2.31M events/s`.
func replayProgress(_ r: TraceReplayer, since start: UInt64) -> String {
  let seconds = max(1e-9, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
  let gib = Double(r.bytesConsumed) / Double(1 << 30)
  return String(
    format: "iommusan: replay: %.2f GiB, %.1fM lines, %.1fM events, %.2fM events/s",
    gib, Double(r.linesConsumed) / 1e6, Double(r.eventsSeen) / 1e6, Double(r.eventsSeen) / seconds / 1e6)
}
