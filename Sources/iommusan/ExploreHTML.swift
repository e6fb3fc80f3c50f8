import Explore
import FixtureLanguage
import FixtureRunner
import Reports

extension Commands {
  /// `explore --html`: each finding's run, replayed under its schedule as
  /// `run --schedule` replays it (so the page shows what that command
  /// shows), with a lane for every task block, and a note per fixture with
  /// the findings' schedules and the command that replays each. Findings
  /// of one schedule share one run.
  static func exploreHTML(
    _ parsed: ParsedFixture, summary: ExploreSummary, options: RunOptions, into doc: inout HTMLDocument
  ) {
    var options = options
    options.logsInvalidations = true
    var tasks: [String] = []
    for s in parsed.statements {
      if let t = s.task?.name, !tasks.contains(t) { tasks.append(t) }
    }
    var lines = [
      "explored \(plural(summary.schedules, "schedule")) (\(summary.searchDescription)), "
        + (summary.complete ? "complete" : "stopped")
    ]
    if summary.findings.isEmpty { lines.append("no schedule reported") }
    // One run per schedule: findings that one schedule showed share its timelines.
    var schedules: [(schedule: String, keys: [String])] = []
    for f in summary.findings {
      lines.append("\(f.key): schedule '\(f.schedule)' (\(plural(f.preemptions, "preemption")))")
      lines.append("  replay: iommusan run --schedule '\(f.schedule)' \(summary.file)")
      if let k = schedules.firstIndex(where: { $0.schedule == f.schedule }) {
        schedules[k].keys.append(f.key)
      } else {
        schedules.append((f.schedule, [f.key]))
      }
    }
    for (schedule, keys) in schedules {
      var run = HTMLRun(name: summary.file, status: nil)
      do throws(ScheduleError) {
        let (result, mismatch) = Explorer.replay(parsed, schedule: try Schedule(parsing: schedule), options: options)
        run = HTMLRun(result, check: false)
        if let mismatch { run.messages.append(mismatch.message) }
      } catch {
        run.messages.append("schedule '\(schedule)': \(error.message)")
      }
      (run.finding, run.schedule, run.tasks) = (keys.joined(separator: "; "), schedule, tasks)
      doc.runs.append(run)
    }
    doc.notes.append(HTMLNote(title: "Explored \(summary.file)", lines: lines))
  }
}
