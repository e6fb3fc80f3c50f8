import FixtureLanguage
import FixtureRunner
import Foundation

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
  /// The median of as many replays of the empty schedule, in seconds (measured as `cost` says).
  package var scheduleSeconds: Double
  /// The median of as many plain runs, alternated with the replays, measured as they are (`cost`).
  package var plainCostSeconds: Double

  /// The default search's time per schedule run over a plain run's: what one schedule costs.
  package var searchRatio: Double { search.ratio }
  /// One replayed schedule (`run --schedule`, nothing shared) over a plain run.
  package var replayRatio: Double { scheduleSeconds / max(plainCostSeconds, 1e-9) }

  /// Measures one fixture (`measure(_:runs:repeats:)` of one).
  package static func measure(_ parsed: ParsedFixture, runs: Int = 21, repeats: Int = 9) -> ExploreBenchFigures {
    measure([parsed], runs: runs, repeats: repeats)[0]
  }

  /// Measures fixtures in rounds, so that a burst of load from elsewhere
  /// falls on a round of every fixture rather than on every round of one:
  /// `runs` rounds of a plain run and a replay of each fixture (medians),
  /// then `repeats` rounds of each search of each fixture, each between two
  /// batches of as many plain runs in a row as the search ran schedules
  /// (medians; the ratio of each search to the mean of its two batches).
  package static func measure(_ fixtures: [ParsedFixture], runs: Int = 21, repeats: Int = 9) -> [ExploreBenchFigures] {
    let clock = ContinuousClock()
    func seconds(_ d: Duration) -> Double {
      Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
    /// The time `body` takes for the ratios: the calling thread's CPU time
    /// where a schedule runs on that thread alone (user-level carriers),
    /// which leaves out the time other processes hold the cores; else wall time.
    func cost(_ body: () -> Void) -> Double {
      guard Carrier.sharesThread else { return seconds(clock.measure(body)) }
      let start = threadCPUSeconds()
      body()
      return threadCPUSeconds() - start
    }
    func median(_ xs: [Double]) -> Double { xs.isEmpty ? 0 : xs.sorted()[xs.count / 2] }
    // Alternated, so that both see the same machine load.
    var plain = Array(repeating: [Double](), count: fixtures.count)
    var replay = plain
    var plainCost = plain
    for _ in 0..<max(runs, 1) {
      for (f, parsed) in fixtures.enumerated() {
        plain[f].append(seconds(clock.measure { _ = FixtureRunner.run(parsed: parsed) }))
        plainCost[f].append(cost { _ = FixtureRunner.run(parsed: parsed) })
        replay[f].append(cost { _ = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions()) })
      }
    }
    let kinds: [(inout ExploreOptions) -> Void] = [
      { _ in }, { $0.dpor = false }, { $0.por = false }, { $0.bounded = true },
    ]
    struct Samples {
      var options = ExploreOptions()
      var result: ExploreResult?
      /// Schedules one search runs (counted by a first search, not measured).
      var started = 0
      var times: [Double] = []
      var batches: [Double] = []
      var ratios: [Double] = []
    }
    var samples = fixtures.map { parsed in
      kinds.map { change in
        var s = Samples()
        s.options.all = true
        change(&s.options)
        let counted = ScheduleRun.started
        s.result = Explorer.explore(parsed, options: s.options)
        s.started = ScheduleRun.started - counted
        return s
      }
    }
    for _ in 0..<max(repeats, 1) {
      for (f, parsed) in fixtures.enumerated() {
        for k in kinds.indices {
          let n = max(samples[f][k].started, 1)
          func batch() -> Double {
            cost { for _ in 0..<n { _ = FixtureRunner.run(parsed: parsed) } } / Double(n)
          }
          let options = samples[f][k].options
          let first = batch()
          var result: ExploreResult?
          let start = clock.now
          let t = cost { result = Explorer.explore(parsed, options: options) }
          let wall = seconds(clock.now - start)
          let around = (first + batch()) / 2
          samples[f][k].result = result
          samples[f][k].times.append(wall)
          samples[f][k].batches.append(around)
          samples[f][k].ratios.append(t / Double(n) / max(around, 1e-9))
        }
      }
    }
    return fixtures.indices.map { f in
      let searches = samples[f].map { s in
        let r = s.result!
        return Search(
          mode: r.mode, schedules: r.schedules, pruned: r.preemptionBound == nil ? r.reduced : r.pruned,
          complete: r.complete, seconds: median(s.times), runs: s.started, plainSeconds: median(s.batches),
          ratio: median(s.ratios))
      }
      return ExploreBenchFigures(
        file: fixtures[f].file, search: searches[0], sleepSets: searches[1], noPOR: searches[2], bounded: searches[3],
        plainSeconds: median(plain[f]), scheduleSeconds: median(replay[f]), plainCostSeconds: median(plainCost[f]))
    }
  }
}

/// The calling thread's CPU time so far, in seconds.
private func threadCPUSeconds() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
