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
    package var seconds: Double
    package var schedulesPerSecond: Double { Double(schedules) / max(seconds, 1e-9) }
    package var prunedPerSecond: Double { Double(pruned) / max(seconds, 1e-9) }
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
  /// The median of as many replays of the empty schedule (threads and all), in seconds.
  package var scheduleSeconds: Double

  /// The default search's time per schedule over a plain run's: what one schedule costs.
  package var searchRatio: Double { search.seconds / Double(max(search.schedules, 1)) / max(plainSeconds, 1e-9) }
  /// One replayed schedule (`run --schedule`, nothing shared) over a plain run.
  package var replayRatio: Double { scheduleSeconds / max(plainSeconds, 1e-9) }

  /// Measures one fixture: `runs` plain runs and replays (medians), then the three searches.
  package static func measure(_ parsed: ParsedFixture, runs: Int = 21) -> ExploreBenchFigures {
    let clock = ContinuousClock()
    func seconds(_ d: Duration) -> Double {
      Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
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
      let t = clock.measure { result = Explorer.explore(parsed, options: options) }
      let r = result!
      return Search(
        mode: r.mode, schedules: r.schedules, pruned: r.preemptionBound == nil ? r.reduced : r.pruned,
        complete: r.complete, seconds: seconds(t))
    }
    return ExploreBenchFigures(
      file: parsed.file, search: search { _ in }, sleepSets: search { $0.dpor = false },
      noPOR: search { $0.por = false },
      bounded: search { $0.bounded = true }, plainSeconds: plain.sorted()[runs / 2],
      scheduleSeconds: replay.sorted()[runs / 2])
  }
}
