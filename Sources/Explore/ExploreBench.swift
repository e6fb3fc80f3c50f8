import FixtureLanguage
import FixtureRunner

/// `iommusan bench --explore`: what a schedule costs against a plain run of
/// the same fixture, and how fast a whole search goes, measured in one run.
package struct ExploreBenchFigures: Sendable {
  package var file: String
  package var schedules: Int
  package var pruned: Int
  package var complete: Bool
  /// The exhaustive search at the default bound (`--all`), in seconds.
  package var exploreSeconds: Double
  /// The median of `plainRuns` plain runs (`iommusan run`), in seconds.
  package var plainSeconds: Double
  /// The median of as many replays of the empty schedule (threads and all), in seconds.
  package var scheduleSeconds: Double

  package var schedulesPerSecond: Double { Double(schedules) / max(exploreSeconds, 1e-9) }
  package var prunedPerSecond: Double { Double(pruned) / max(exploreSeconds, 1e-9) }
  /// The search's time per schedule over a plain run's.
  package var searchRatio: Double { exploreSeconds / Double(max(schedules, 1)) / max(plainSeconds, 1e-9) }
  /// One replayed schedule over a plain run.
  package var replayRatio: Double { scheduleSeconds / max(plainSeconds, 1e-9) }

  /// Measures one fixture: `runs` plain runs and replays (medians), then one whole search.
  package static func measure(_ parsed: ParsedFixture, runs: Int = 21) -> ExploreBenchFigures {
    let clock = ContinuousClock()
    func seconds(_ d: Duration) -> Double {
      Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
    func median(_ body: () -> Void) -> Double {
      var times: [Double] = []
      for _ in 0..<runs { times.append(seconds(clock.measure(body))) }
      return times.sorted()[times.count / 2]
    }
    // Alternated, so that both see the same machine load.
    var plain: [Double] = []
    var replay: [Double] = []
    for _ in 0..<runs {
      plain.append(seconds(clock.measure { _ = FixtureRunner.run(parsed: parsed) }))
      replay.append(seconds(clock.measure { _ = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions()) }))
    }
    var options = ExploreOptions()
    options.all = true
    var result: ExploreResult?
    let explore = clock.measure { result = Explorer.explore(parsed, options: options) }
    let r = result!
    return ExploreBenchFigures(
      file: parsed.file, schedules: r.schedules, pruned: r.pruned, complete: r.complete,
      exploreSeconds: seconds(explore), plainSeconds: plain.sorted()[runs / 2],
      scheduleSeconds: replay.sorted()[runs / 2])
  }
}
