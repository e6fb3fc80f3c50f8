import Bench
import Dispatch
import Explore
import FixtureLanguage
import FixtureRunner
import Foundation
import KernelTypes
import Reports

extension Commands {
  static let explore = CommandSpec(
    name: "explore", abstract: "Search the interleavings of a fixture's task blocks for reports.",
    usage:
      "iommusan explore [--preemptions <k>] [--no-por] [--no-dpor] [--seed <n>] [--runs <n>] [--all] [--shard <i/n>] [--jobs <n>] [--format <format>] [--cmdline <params>] [--history <pages>] [--html <file>] [--max-schedules <n>] [--max-steps <n>] <file> ...",
    discussion: """
      Runs each fixture under many schedules of its 'task NAME {' blocks, switching tasks at
      statement ends and at the kernel steps inside statements (docs/Explore.md). Without --seed
      the search is systematic, fewest preemptions first: every schedule of a small fixture
      (at most \(ExploreOptions.exhaustiveLimit) interleavings), with partial-order reduction,
      else (or with --preemptions) every schedule with at most k preemptions. With
      --seed it runs PCT, randomized with a bug depth of k+1. It stops at the first schedule
      that reports, or with --all (or 'expect schedules=' lines) goes on and keeps each distinct
      report (kind and site). Each finding prints the schedule that 'iommusan run --schedule'
      replays, with the fewest preemptions, and the run's reports.
      Exit status: 0 when no schedule reported and every 'expect schedules=' line held; 1 when
      a schedule reported or one did not hold; 2 on usage or parse errors, or a limit.
      """,
    options: [
      (
        "preemptions", "k",
        "The most preemptions in a schedule; without it a small fixture is explored exhaustively, a large one with 2."
      ),
      ("seed", "n", "Randomized search (PCT) from this seed instead of the systematic one."),
      ("runs", "n", "Schedules PCT runs (default: 1000)."),
      ("shard", "i/n", "Explore part i (0-based) of n; 'iommusan merge' joins the parts' JSON output."),
      ("jobs", "n", "Shards to explore at once in this process (default: 1)."),
      ("format", "format", "kernel (default) or json (JSON Lines, ending with an 'explore' record)."),
      ("cmdline", "params", "Kernel parameters applied over each fixture's own cmdline."),
      ("history", "pages", "Print the whole life of these pages under each finding's schedule."),
      (
        "max-schedules", "n",
        "Stop after this many schedules, with a warning (default: \(ExploreOptions.defaultMaxSchedules))."
      ),
      (
        "max-steps", "n",
        "Stop after this many steps over all schedules (a scheduling point counts the tasks that could run there), with a warning (default: \(ExploreOptions.defaultMaxSteps))."
      ),
      (
        "html", "file",
        "Also write one HTML page: each finding's schedule and its run's timelines, a lane per task (docs/HTML.md)."
      ),
      ("max-ram", "size", "The largest 'memory' a fixture may ask for (default: 1T)."),
      ("max-resident", "size", "The most memory the emulated machine may keep (default: 1G)."),
    ],
    flags: [
      ("all", "Collect every distinct report (kind and site) instead of stopping at the first."),
      ("no-por", "No partial-order reduction in the exhaustive search (to compare)."),
      ("no-dpor", "Sleep sets only, no dynamic partial-order reduction, in the exhaustive search (to compare)."),
      ("no-timestamps", "Leave out the printk timestamps of kernel lines."),
    ],
    arguments: [("file", "Fixture files to explore.")])

  static let merge = CommandSpec(
    name: "merge", abstract: "Merge the JSON output of 'explore --shard' runs.",
    usage: "iommusan merge <file> ...",
    discussion: """
      Reads the 'explore' records of JSON Lines files (other lines are skipped), adds up the
      shards of each fixture and prints one record per fixture. Of the findings with one key,
      the one with the fewest preemptions stays. Warns when shards are missing.
      Exit status: 0 when no shard reported and every 'expect schedules=' line held; 1 when one
      did not; 2 on unreadable input or records that do not belong together.
      """,
    arguments: [("file", "JSON Lines files written by 'iommusan explore --format json' ('-': standard input).")])

  static func whole(_ p: ParsedArguments, _ name: String, _ range: ClosedRange<Int>) throws(UsageError) -> Int? {
    guard let text = p.options[name] else { return nil }
    guard let n = Int(text), range.contains(n) else {
      throw UsageError(
        message:
          "The value '\(text)' is invalid for '--\(name)': expected a whole number from \(range.lowerBound) to \(range.upperBound)"
      )
    }
    return n
  }

  static func exploreCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try explore.parse(args)
    if p.flags.contains("help") { return printHelp(explore) }
    let format = try outputFormat(p)
    var options = ExploreOptions()
    options.run = try runOptions(p)
    options.run.history = p.options["history"].map { $0.split(separator: ",").map(String.init) } ?? []
    options.preemptions = try whole(p, "preemptions", 0...64) ?? ExploreOptions.defaultPreemptions
    options.bounded = p.options["preemptions"] != nil
    options.por = !p.flags.contains("no-por")
    options.dpor = !p.flags.contains("no-dpor")
    options.runs = try whole(p, "runs", 1...100_000_000) ?? ExploreOptions.defaultRuns
    options.maxSchedules = try whole(p, "max-schedules", 1...1_000_000_000) ?? options.maxSchedules
    options.maxSteps = try whole(p, "max-steps", 1...Int.max) ?? options.maxSteps
    options.all = p.flags.contains("all")
    if let text = p.options["seed"] {
      guard let seed = UInt64(text) else {
        throw UsageError(message: "The value '\(text)' is invalid for '--seed': expected a whole number")
      }
      options.seed = seed
    }
    if let text = p.options["shard"] {
      let parts = text.split(separator: "/")
      guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 1_000_000, i >= 0, i < n
      else {
        throw UsageError(message: "The value '\(text)' is invalid for '--shard': write I/N with 0 <= I < N")
      }
      options.shard = Shard(index: i, count: n)
    }
    let jobs = try whole(p, "jobs", 1...1024) ?? 1
    guard !p.positionals.isEmpty else { throw UsageError(message: "Missing expected argument '<file> ...'") }
    var status: Int32 = 0
    var html = p.options["html"].map { _ in HTMLDocument(command: commandLine("explore", args)) }
    for file in p.positionals {
      let parsed = FixtureRunner.parse(path: file, options: options.run)
      let results = exploreShards(parsed, options: options, jobs: jobs)
      var summary = ExploreSummary(results[0])
      for r in results.dropFirst() { try? summary.add(ExploreSummary(r)) }
      status = max(
        status,
        printExplore(results, summary: summary, format: format, p: p))
      if html != nil, !results[0].diagnostics.contains(where: \.isError) {
        exploreHTML(parsed, summary: summary, options: options.run, into: &html!)
      }
    }
    if let html, let path = p.options["html"], !writeHTML(html, to: path) { return 2 }
    return status
  }

  /// Explores `jobs` shards at once: with `--shard I/N`, shards I, I+N, ... of N·jobs.
  static func exploreShards(_ parsed: ParsedFixture, options: ExploreOptions, jobs: Int) -> [ExploreResult] {
    guard jobs > 1 else { return [Explorer.explore(parsed, options: options)] }
    let slots = Slots<ExploreResult>(count: jobs)
    DispatchQueue.concurrentPerform(iterations: jobs) { k in
      var o = options
      o.shard = Shard(index: options.shard.index + k * options.shard.count, count: options.shard.count * jobs)
      slots.set(k, Explorer.explore(parsed, options: o))
    }
    return slots.values
  }

  static func printExplore(
    _ results: [ExploreResult], summary: ExploreSummary, format: OutputFormat, p: ParsedArguments
  )
    -> Int32
  {
    let first = results[0]
    let color = Terminal.colorsStandardError
    if first.diagnostics.contains(where: \.isError) {
      write(first.diagnostics.map { $0.rendered(color: color) }.joined(), to: .standardError)
      return 2
    }
    let renderer = RunOutputRenderer(
      format: format, maxReports: nil, sourceLines: true, color: color,
      timestamps: !p.flags.contains("no-timestamps"))
    var status: Int32 = summary.findings.isEmpty ? 0 : 1
    var out = ""
    if format == .kernel {
      out +=
        "\(summary.file): explored \(plural(summary.schedules, "schedule")) (\(summary.searchDescription)), "
        + (summary.preemptionBound == nil
          ? "\(summary.reduced) pruned by partial-order reduction, " : "\(summary.pruned) pruned by the bound, ")
        + (summary.complete ? "complete" : "stopped") + "\n"
    }
    write(out, to: .standardOutput)
    for f in summary.findings {
      guard
        let finding = results.lazy.flatMap(\.findings).first(where: {
          $0.key == f.key && $0.schedule.description == f.schedule
        })
      else { continue }
      switch format {
      case .kernel:
        write(
          "\(summary.file): \(f.key): schedule '\(f.schedule)' (\(plural(f.preemptions, "preemption")))\n"
            + "  replay: iommusan run --schedule '\(f.schedule)' \(summary.file)\n", to: .standardOutput)
      case .json:
        write(
          JSONLinesRenderer.record([
            "finding": .object([
              JSONMember("file", .string(summary.file)), JSONMember("key", .string(f.key)),
              JSONMember("schedule", .string(f.schedule)), JSONMember("preemptions", .int(Int64(f.preemptions))),
            ])
          ]) + "\n", to: .standardOutput)
      }
      for piece in renderer.pieces(finding.result) {
        switch piece {
        case .out(let s): write(s, to: .standardOutput)
        case .err(let s): write(s, to: .standardError)
        }
      }
    }
    for r in results {
      if let warning = r.limitWarning {
        write(warning.rendered(color: color), to: .standardError)
      }
      if let stopped = r.stopped {
        write(
          stopped.diagnostic.rendered(color: color) + "  (under schedule '\(stopped.schedule)')\n",
          to: .standardError)
        status = 2
      }
    }
    if format == .kernel {
      var lines = ""
      for e in summary.expectations {
        lines += "\(summary.file):\(e.line): \(e.text): \(e.tally(of: summary.schedules))\n"
      }
      write(lines, to: .standardOutput)
    } else {
      write(summary.jsonRecord + "\n", to: .standardOutput)
    }
    let failures = summary.expectationFailures
    if !failures.isEmpty {
      write(failures.map { $0 + "\n" }.joined(), to: .standardError)
      status = max(status, 1)
    }
    return status
  }

  static func mergeCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try merge.parse(args)
    if p.flags.contains("help") { return printHelp(merge) }
    guard !p.positionals.isEmpty else { throw UsageError(message: "Missing expected argument '<file> ...'") }
    var merged: [ExploreSummary] = []
    for path in p.positionals {
      var bytes: [UInt8] = []
      do {
        try InputFile.read(path: path) { chunk in
          bytes += chunk
          return true
        }
      } catch {
        write("\(path): error: \(error.reason)\n", to: .standardError)
        return 2
      }
      do throws(ScheduleError) {
        for record in try ExploreSummary.records(in: String(decoding: bytes, as: UTF8.self)) {
          if let k = merged.firstIndex(where: { $0.file == record.file }) {
            try merged[k].add(record)
          } else {
            merged.append(record)
          }
        }
      } catch {
        write("\(path): error: \(error.message)\n", to: .standardError)
        return 2
      }
    }
    var status: Int32 = 0
    for m in merged {
      write(m.jsonRecord + "\n", to: .standardOutput)
      let missing = Set(0..<m.shardCount).subtracting(m.shards).sorted()
      if !missing.isEmpty {
        write(
          "\(m.file): warning: \(missing.count) of \(m.shardCount) shards missing (\(missing.prefix(8).map(String.init).joined(separator: ", "))\(missing.count > 8 ? ", ..." : ""))\n",
          to: .standardError)
      }
      let failures = m.expectationFailures
      write(failures.map { $0 + "\n" }.joined(), to: .standardError)
      if !m.findings.isEmpty || !failures.isEmpty { status = 1 }
    }
    return status
  }

  /// `run --schedule STRING`: one schedule of each fixture, exactly as `explore` printed it.
  static func scheduledRun(_ file: String, schedule text: String, options: RunOptions) throws(UsageError) -> (
    FixtureResult, String?
  ) {
    let schedule: Schedule
    do throws(ScheduleError) {
      schedule = try Schedule(parsing: text)
    } catch {
      throw UsageError(message: "The value '\(text)' is invalid for '--schedule': \(error.message)")
    }
    let parsed = FixtureRunner.parse(path: file, options: options)
    let (result, mismatch) = Explorer.replay(parsed, schedule: schedule, options: options)
    return (result, mismatch.map { "\(result.file): error: \($0.message)" })
  }
}

extension Commands {
  /// `bench --explore FILE...`: one line per fixture, measured in this run.
  static func benchExplore(_ files: [String]) -> Int32 {
    guard !files.isEmpty else {
      write("bench: --explore needs fixture files\n", to: .standardError)
      return 2
    }
    var out =
      "                                         exhaustive, DPOR + sleep sets                --no-dpor        --no-por        --preemptions 2\n"
      + "fixture                                  sched reduced  runs search s sched/s red/s   sched search s   sched search s   sched pruned search s  plain ms  replay/plain  sched/plain\n"
    var parsed: [ParsedFixture] = []
    for file in files {
      let p = FixtureRunner.parse(path: file)
      guard !p.hasErrors else {
        write(p.errors.map { $0.description + "\n" }.joined(), to: .standardError)
        return 2
      }
      parsed.append(p)
    }
    for (file, f) in zip(files, ExploreBenchFigures.measure(parsed)) {
      let name = String(file.split(separator: "/").last ?? Substring(file))
      func col(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
      let complete = f.search.complete && f.sleepSets.complete && f.noPOR.complete && f.bounded.complete
      out +=
        name.padding(toLength: 40, withPad: " ", startingAt: 0)
        + col("\(f.search.schedules)", 6) + col("\(f.search.pruned)", 8) + col("\(f.search.runs)", 6)
        + col(f.search.seconds.fixed(3), 9)
        + col(f.search.schedulesPerSecond.fixed(0), 8) + col(f.search.prunedPerSecond.fixed(0), 6)
        + col("\(f.sleepSets.schedules)", 8) + col(f.sleepSets.seconds.fixed(3), 9)
        + col("\(f.noPOR.schedules)", 8) + col(f.noPOR.seconds.fixed(3), 9)
        + col("\(f.bounded.schedules)", 8) + col("\(f.bounded.pruned)", 7) + col(f.bounded.seconds.fixed(3), 9)
        + col((f.plainSeconds * 1000).fixed(3), 10) + col(f.replayRatio.fixed(2), 14) + col(f.searchRatio.fixed(2), 13)
        + (f.search.mode == "exhaustive" ? "" : "  (\(f.search.mode))") + (complete ? "" : "  (stopped)") + "\n"
    }
    write(out, to: .standardOutput)
    return 0
  }
}
