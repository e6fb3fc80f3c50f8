import FixtureLanguage
import FixtureRunner

/// `iommusan bench --explore`: what a schedule costs against a plain run of
/// the same fixture, and how fast a whole search goes, measured in one run.
package struct ExploreBenchFigures: Sendable {
  /// One whole search.
  package struct Search: Sendable {
    package var mode: String
    package var schedules: Int
    /// Alternatives cut: by the partial-order reduction (exhaustive) or by the bound (bounded).
    package var pruned: Int
    package var complete: Bool
    /// The median of `repeats` searches.
    package var seconds: Double
    /// The schedules the search ran: `schedules`, the root's replay, the
    /// minimization's trials and each finding's replay with its history.
    package var runs: Int
    /// The median, over the same repeats, of `runs` plain runs in a row, per run.
    package var plainSeconds: Double
    package var schedulesPerSecond: Double { Double(schedules) / max(seconds, 1e-9) }
    package var prunedPerSecond: Double { Double(pruned) / max(seconds, 1e-9) }
    /// The median, over the repeats, of the search's time per schedule run
    /// over a plain run's in the batches around it: what one schedule costs.
    package var ratio: Double
  }

  package var file: String
  /// The default search (`--all`): exhaustive with the partial-order reduction (DPOR and sleep sets) when the
  /// fixture is small.
  package var search: Search
  /// The same with sleep sets only (`--no-dpor`).
  package var sleepSets: Search
  /// The same without the reduction (`--no-por`).
  package var noPOR: Search
  /// The bounded search at the default bound (`--preemptions 2`).
  package var bounded: Search
  /// The median of `runs` plain runs (`iommusan run`), in seconds.
  package var plainSeconds: Double
  /// The median of as many replays of the empty schedule, in seconds.
  package var scheduleSeconds: Double

  /// The default search's time per schedule run over a plain run's: what one schedule costs.
  package var searchRatio: Double { search.ratio }
  /// One replayed schedule (`run --schedule`, nothing shared) over a plain run.
  package var replayRatio: Double { scheduleSeconds / max(plainSeconds, 1e-9) }

  /// Measures one fixture: `runs` plain runs and replays (medians), then
  /// each search `repeats` times, alternated with as many plain runs in a
  /// row as the search ran schedules (medians).
  package static func measure(_ parsed: ParsedFixture, runs: Int = 21, repeats: Int = 9) -> ExploreBenchFigures {
    let clock = ContinuousClock()
    func seconds(_ d: Duration) -> Double {
      Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    // Alternated, so that both see the same machine load.
    var plain: [Double] = []
    var replay: [Double] = []
    for _ in 0..<runs {
      plain.append(seconds(clock.measure { _ = FixtureRunner.run(parsed: parsed) }))
      replay.append(seconds(clock.measure { _ = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions()) }))
    }
    func search(_ change: (inout ExploreOptions) -> Void) -> Search {
      var options = ExploreOptions()
      options.all = true
      change(&options)
      var result: ExploreResult?
      var times: [Double] = []
      var batches: [Double] = []
      var ratios: [Double] = []
      var started = 0
      // A batch of plain runs before and after each search, as many as the
      // search ran schedules: the ratio of each search to the mean of its
      // two batches sees the load that search saw.
      func batch() -> Double {
        seconds(clock.measure { for _ in 0..<max(started, 1) { _ = FixtureRunner.run(parsed: parsed) } })
          / Double(max(started, 1))
      }
      // A first search, not measured, counts the schedules it runs.
      let counted = ScheduleRun.started
      result = Explorer.explore(parsed, options: options)
      started = ScheduleRun.started - counted
      for _ in 0..<max(repeats, 1) {
        let before = ScheduleRun.started
        let first = batch()
        let t = seconds(clock.measure { result = Explorer.explore(parsed, options: options) })
        started = ScheduleRun.started - before
        let plain = (first + batch()) / 2
        times.append(t)
        batches.append(plain)
        ratios.append(t / Double(max(started, 1)) / max(plain, 1e-9))
      }
      let r = result!
      return Search(
        mode: r.mode, schedules: r.schedules, pruned: r.preemptionBound == nil ? r.reduced : r.pruned,
        complete: r.complete, seconds: median(times), runs: started, plainSeconds: median(batches),
        ratio: median(ratios))
    }
    return ExploreBenchFigures(
      file: parsed.file, search: search { _ in }, sleepSets: search { $0.dpor = false },
      noPOR: search { $0.por = false },
      bounded: search { $0.bounded = true }, plainSeconds: median(plain),
      scheduleSeconds: median(replay))
  }
}
