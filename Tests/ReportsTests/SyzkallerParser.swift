import KernelTypes

/// A small re-implementation of syzkaller's Linux report parsing
/// (pkg/report, as described in shared/reference/report-and-trace-formats.md
/// section 3), enough to check that iommusan's splats get a distinct, correct
/// title: find the oops line, match the WARNING title formats, take the
/// function of the RIP frame unless the skip list drops it, and fall back to
/// the first frame after `Call Trace:` that the skip list keeps.
struct SyzkallerParser {
  struct Parsed: Equatable {
    var title: String
    var corrupted: String?
  }

  /// `{{FUNC}}`: a frame needs `+` or `.` after the name.
  static let funcPattern = "([a-zA-Z0-9_]+)(?:\\.|\\+)"
  /// `{{SRC}}`.
  static let srcPattern = "([a-zA-Z0-9-_/.]+\\.[a-z]+:[0-9]+)"
  /// `{{PC}}` (frames with a raw address).
  static let pcPattern = "\\[\\<?(?:0x)?[0-9a-f]+\\>?\\]"

  /// syzkaller's whole `linuxStackParams.skipPatterns` (iommusan's copy), and
  /// the extra skips of the rcu report format the reference example uses.
  static let skipPatterns = SyzkallerTitle.skipPatterns + ["cleanup_srcu_struct", "fast_dput", "dput"]
  static let stripPrefixes = ["__x64_sys_", "__arm64_", "__se_sys_", "__do_sys_", "ksys_"]

  /// Headers that start a report (`matchOops`); a second one means a second report.
  static let oopsHeaders = [
    "BUG:", "WARNING:", "INFO:", "general protection fault", "Unable to handle kernel", "kernel BUG",
    "UBSAN:", "Kernel panic", "KASAN:", "divide error:", "invalid opcode:", "unreferenced object",
  ]
  /// `linuxStackParams.stackStartRes`.
  static let stackStarts = [
    "Call (?:T|t)race", "Allocated:", "Allocated by task [0-9]+:", "Freed:", "Freed by task [0-9]+:",
    "[^k] backtrace(?: \\(crc [0-9a-f]*\\))?:", "Backtrace:",
  ]

  let skip: [Regex<AnyRegexOutput>]
  let warningFormats: [Regex<AnyRegexOutput>]
  let ripFrame: Regex<AnyRegexOutput>
  let frame: Regex<AnyRegexOutput>
  let stackStart: [Regex<AnyRegexOutput>]
  let callTrace: Regex<AnyRegexOutput>

  init() throws {
    skip = try Self.skipPatterns.map { try Regex($0) }
    // The generic WARNING formats, in syzkaller's order.
    warningFormats = try [
      "WARNING: \(Self.srcPattern) at 0x\\d+, CPU#\\d+",
      "WARNING: .* at \(Self.srcPattern) \(Self.funcPattern)",
      "WARNING: \(Self.srcPattern) at \(Self.funcPattern)",
      "WARNING: \\[.*\\] \(Self.srcPattern) at \(Self.funcPattern).*",
    ].map { try Regex($0) }
    ripFrame = try Regex(
      "(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:\(Self.pcPattern) +){0,2}\(Self.funcPattern)|(?:[0-9]+:)?0x[0-9a-f]+)"
    )
    frame = try Regex("^ *(?:\(Self.pcPattern) ){0,2}\(Self.funcPattern)")
    stackStart = try Self.stackStarts.map { try Regex($0) }
    callTrace = try Regex("(?:Call (?:T|t)race:)|(?:Backtrace:)")
  }

  func isSkipped(_ function: String) -> Bool {
    skip.contains { function.contains($0) }
  }

  func stripped(_ function: String) -> String {
    var best = function
    for prefix in Self.stripPrefixes where function.hasPrefix(prefix) {
      let candidate = String(function.dropFirst(prefix.count))
      if candidate.count < best.count { best = candidate }
    }
    return best
  }

  func isStackStart(_ line: String) -> Bool {
    stackStart.contains { line.contains($0) }
  }

  /// The capture of a FUNC group: the last non-nil capture of the match.
  func function(in line: String, _ regex: Regex<AnyRegexOutput>) -> String? {
    guard let match = line.firstMatch(of: regex) else { return nil }
    for i in stride(from: match.output.count - 1, through: 1, by: -1) {
      if let s = match.output[i].substring { return String(s) }
    }
    return nil
  }

  func parse(_ text: String) -> Parsed? {
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let start = lines.firstIndex(where: { line in Self.oopsHeaders.contains { line.contains($0) } }) else {
      return nil
    }
    let oopsLine = lines[start]
    guard oopsLine.contains("WARNING:") else { return Parsed(title: oopsLine, corrupted: "not a WARNING") }
    let report = Array(lines[start...])
    var corrupted: String?
    if report.dropFirst().contains(where: { line in Self.oopsHeaders.contains { line.contains($0) } }) {
      corrupted = "second report in the same output"
    }
    guard warningFormats.contains(where: { oopsLine.contains($0) }) else {
      return Parsed(title: "WARNING: corrupted", corrupted: "no WARNING format matched")
    }

    // parts: RIP frame, then the frames after it up to the next stack start.
    var frames: [String] = []
    var i = 0
    while i < report.count {
      if let f = function(in: report[i], ripFrame) {
        if !isSkipped(f) { frames.append(f) }
        i += 1
        while i < report.count, !isStackStart(report[i]) {
          if let f = function(in: report[i], frame), !isSkipped(f) { frames.append(f) }
          i += 1
        }
        break
      }
      i += 1
    }
    // parts2: the frames after the first Call Trace.
    if frames.isEmpty, let ct = report.firstIndex(where: { $0.contains(callTrace) }) {
      var j = ct + 1
      while j < report.count, !isStackStart(report[j]) {
        if let f = function(in: report[j], frame), !isSkipped(f) { frames.append(f) }
        j += 1
      }
    }
    guard let first = frames.first else {
      return Parsed(title: "WARNING in corrupted", corrupted: "no frames")
    }
    if corrupted == nil { corrupted = isCorrupted(report) }
    return Parsed(title: "WARNING in " + stripped(first), corrupted: corrupted)
  }

  /// `isCorrupted()`: each stack start must be followed, within 15 lines and
  /// before the next stack start, by a frame.
  func isCorrupted(_ report: [String]) -> String? {
    var sawTrace = false
    for (n, line) in report.enumerated() where isStackStart(line) {
      let following = report.dropFirst(n + 1)
      if following.count < 3 { return "call trace is missed" }
      var found = false
      for next in following.prefix(15) {
        if isStackStart(next) { break }
        if next.contains(frame) {
          found = true
          break
        }
      }
      if !found { return "no frames in a stack trace" }
      sawTrace = true
    }
    return sawTrace ? nil : "no stack trace in report"
  }
}
