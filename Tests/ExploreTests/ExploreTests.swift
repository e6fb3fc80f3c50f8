import Explore
import FixtureLanguage
import FixtureRunner
import Foundation
import KernelTypes
import Reports
import Testing

/// The repository root, found from this file.
let repositoryRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<3 { url.deleteLastPathComponent() }
  return url.path
}()

let exploreCorpus: [String] = {
  let (files, _) = fixtureFiles(under: [repositoryRoot + "/Fixtures/explore"])
  return files.map { String($0.dropFirst(repositoryRoot.count + 1)) }
}()

/// The race fixtures, each with the report kind its race shows and its fixed twin.
let races: [(race: String, kind: String, twin: String)] = [
  ("debug-pagealloc-check-race", "dma-use-after-free", "debug-pagealloc-check-ordered"),
  ("kva-free-walk-race", "dma-stale-walk", "kva-free-walk-deferred"),
  ("notifier-deferred-end-race", "dma-use-after-free", "notifier-sync"),
  ("ats-flr-race", "ats-invalidation-timeout", "ats-flr-fenced"),
  ("lazy-flush-queue-race", "dma-use-after-free", "lazy-flush-queue-race-strict"),
]

func parse(_ path: String) throws -> ParsedFixture {
  let text = try String(contentsOfFile: repositoryRoot + "/" + path, encoding: .utf8)
  return FixtureParser.parse(text: text, file: path)
}

func kernelText(_ r: FixtureResult) -> String {
  let renderer = RunOutputRenderer(format: .kernel)
  return renderer.stdout(r) + renderer.stderr(r)
}

@Suite struct ExploreCorpusTests {
  /// `iommusan check Fixtures/explore`: every `expect schedules=` line holds.
  @Test(arguments: exploreCorpus)
  func fixturePasses(_ path: String) throws {
    let r = Explorer.check(try parse(path), options: RunOptions())
    #expect(r.diagnostics.filter(\.isError).isEmpty, "\(r.diagnostics.map(\.description))")
    #expect(r.failures.isEmpty, "\(r.failures.map(\.description))")
  }

  /// Each race is found, with a schedule that `run --schedule` replays byte
  /// for byte; the twin explores clean at the default bound.
  @Test(arguments: races.map(\.race))
  func raceFoundAndReplayedTwinClean(_ name: String) throws {
    let race = try #require(races.first { $0.race == name })
    let parsed = try parse("Fixtures/explore/\(race.race).fixture")
    var options = ExploreOptions()
    options.all = true
    let r = Explorer.explore(parsed, options: options)
    #expect(r.complete)
    let finding = try #require(r.findings.first { $0.key.hasPrefix(race.kind + " ") }, "\(r.findings.map(\.key))")
    let schedule = try Schedule(parsing: finding.schedule.description)
    let (replayed, mismatch) = Explorer.replay(parsed, schedule: schedule, options: RunOptions())
    #expect(mismatch == nil)
    #expect(kernelText(replayed) == kernelText(finding.result))
    #expect(replayed.reports.contains { $0.kind.rawValue == race.kind })
    let twin = Explorer.explore(try parse("Fixtures/explore/\(race.twin).fixture"), options: options)
    #expect(twin.complete)
    #expect(twin.findings.isEmpty, "\(twin.findings.map { "\($0.key) '\($0.schedule)'" })")
  }

  /// The seed 003 window: in some schedule the device's write reaches the
  /// reused page and the kernel's checks say nothing.
  @Test func checkRaceHasASilentSchedule() throws {
    let parsed = try parse("Fixtures/explore/debug-pagealloc-check-race.fixture")
    var options = ExploreOptions()
    options.all = true
    let r = Explorer.explore(parsed, options: options)
    let alone = try #require(r.expectations.first { $0.expectation.text.hasSuffix("alone") })
    let witness = try #require(alone.witness)
    let (replayed, _) = Explorer.replay(parsed, schedule: witness, options: RunOptions())
    #expect(replayed.reports.map(\.kind.rawValue) == ["dma-use-after-free"])
    #expect(witness.choices.count >= 2)
  }
}

/// Small random concurrent fixtures for `reductionKeepsFindings`, named
/// `random SEED` (seed 4 is left out: 9510 schedules, too slow for a unit test).
let randomFixtures = [1, 2, 3, 5, 6, 7, 8, 9].map { "random \($0)" }

/// A fixture of two or three tasks with four statements drawn from a pool
/// (each at most once: unmaps, frees, device writes, an allocation, a CPU
/// write, the clock), strict or lazy, from `seed`.
func randomFixture(seed: UInt64) -> String {
  var state = seed &* 0x9E37_79B9_7F4A_7C15
  func next(_ n: Int) -> Int {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int((state >> 33) % UInt64(n))
  }
  var pool = [
    "dma_unmap ra", "free_pages a", "dma nic0 write ra value=1", "dma nic0 write rb value=2", "c = alloc_pages",
    "cpu_write b value=3", "advance 10ms", "dma_unmap rb",
  ]
  let taskCount = 2 + next(2)
  var tasks = Array(repeating: [String](), count: taskCount)
  for i in 0..<4 {
    let s = pool.remove(at: next(pool.count))
    tasks[i < taskCount ? i : next(taskCount)].append(s)
  }
  var text = next(2) == 0 ? "cmdline \"iommu.strict=0\"\n" : ""
  text += "iommu vtd0 model=vtd\ndevice nic0 iommu=vtd0\na = alloc_pages\nb = alloc_pages\n"
  text += "ra = dma_map nic0 a size=4K dir=from-device\nrb = dma_map nic0 b size=4K dir=from-device\n"
  for (k, t) in tasks.enumerated() {
    text += "task t\(k) {\n" + t.map { "  \($0)\n" }.joined() + "}\n"
  }
  return text + "expect schedules=all no-report\nexpect schedules=some report dma-use-after-free\n"
}

/// Small random fixtures where tasks wait for each other's names and loop:
/// `c` and `x[i]` (bound in a `repeat`) are bound in one random task and
/// used in another, above or below, with two statements of the pool of
/// `randomFixture`. Named `waiting SEED`.
let waitingFixtures = [1, 2, 3, 4, 5, 6].map { "waiting \($0)" }

func randomWaitingFixture(seed: UInt64) -> String {
  var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 17
  func next(_ n: Int) -> Int {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int((state >> 33) % UInt64(n))
  }
  var pool = ["dma_unmap ra", "free_pages a", "dma nic0 write ra value=1", "advance 10ms", "cpu_write b value=3"]
  let taskCount = 2 + next(2)
  var tasks = Array(repeating: [String](), count: taskCount)
  let binder = next(taskCount)
  let user = (binder + 1 + next(taskCount - 1)) % taskCount
  tasks[binder].append("c = alloc_pages")
  tasks[user].append("cpu_write c value=5")
  tasks[user].append("repeat 2 as i\n    x[i] = alloc_pages\n  end")
  tasks[binder].append("free_pages x[1]")
  for _ in 0..<2 { tasks[next(taskCount)].append(pool.remove(at: next(pool.count))) }
  var text = next(2) == 0 ? "cmdline \"iommu.strict=0\"\n" : ""
  text += "iommu vtd0 model=vtd\ndevice nic0 iommu=vtd0\na = alloc_pages\nb = alloc_pages\n"
  text += "ra = dma_map nic0 a size=4K dir=from-device\n"
  for (k, t) in tasks.enumerated() {
    text += "task t\(k) {\n" + t.map { "  \($0)\n" }.joined() + "}\n"
  }
  return text + "expect schedules=all no-report\nexpect schedules=some report dma-use-after-free\n"
}

@Suite struct ExploreSearchTests {
  /// The shards of a search cover it with no overlap: their schedules add up
  /// to the whole search's, and their findings to its findings.
  @Test func shardsPartitionTheSearch() throws {
    let parsed = try parse("Fixtures/explore/debug-pagealloc-check-race.fixture")
    var options = ExploreOptions()
    options.all = true
    // Shards keep sleep sets (DPOR's backtracking cannot be split): compare with that search.
    options.dpor = false
    let whole = ExploreSummary(Explorer.explore(parsed, options: options))
    options.dpor = true
    var merged: ExploreSummary?
    var shardSchedules = 0
    for i in 0..<3 {
      options.shard = Shard(index: i, count: 3)
      let part = ExploreSummary(Explorer.explore(parsed, options: options))
      shardSchedules += part.schedules
      // Through the JSON record, as `iommusan merge` reads it.
      let read = try #require(try ExploreSummary.records(in: part.jsonRecord + "\n").first)
      #expect(read == part)
      if merged == nil { merged = read } else { try merged!.add(read) }
    }
    let m = try #require(merged)
    #expect(shardSchedules == whole.schedules)
    #expect(m.pruned == whole.pruned && m.reduced == whole.reduced)
    #expect(m.schedules == whole.schedules)
    #expect(m.coversAll)
    #expect(Set(m.findings.map(\.key)) == Set(whole.findings.map(\.key)))
    #expect(m.expectations.map(\.held) == whole.expectations.map(\.held))
    #expect(m.findings.map(\.preemptions) == whole.findings.sorted { $0.key < $1.key }.map(\.preemptions))
  }

  /// With the partial-order reduction too, shards add up to the whole search.
  @Test func shardsPartitionTheReducedSearch() throws {
    let parsed = try parse("Fixtures/explore/independent-steps.fixture")
    var options = ExploreOptions()
    options.all = true
    options.dpor = false
    let whole = Explorer.explore(parsed, options: options)
    options.dpor = true
    #expect(whole.reduced > 0)
    var schedules = 0
    var reduced = 0
    for i in 0..<3 {
      options.shard = Shard(index: i, count: 3)
      let part = Explorer.explore(parsed, options: options)
      #expect(part.complete)
      schedules += part.schedules
      reduced += part.reduced
    }
    #expect(schedules == whole.schedules)
    #expect(reduced == whole.reduced)
  }

  /// Bounded, the shards' schedules and pruned alternatives add up too.
  @Test func shardsPartitionTheBoundedSearch() throws {
    let parsed = try parse("Fixtures/explore/debug-pagealloc-check-race.fixture")
    var options = ExploreOptions()
    options.all = true
    options.bounded = true
    let whole = Explorer.explore(parsed, options: options)
    #expect(whole.pruned > 0)
    var schedules = 0
    var pruned = 0
    for i in 0..<2 {
      options.shard = Shard(index: i, count: 2)
      let part = Explorer.explore(parsed, options: options)
      schedules += part.schedules
      pruned += part.pruned
    }
    #expect(schedules == whole.schedules && pruned == whole.pruned)
  }

  /// A bound of 0 runs only the schedules that switch where a task ends.
  @Test func preemptionBoundLimitsTheSearch() throws {
    let parsed = try parse("Fixtures/explore/ats-flr-race.fixture")
    var options = ExploreOptions()
    options.preemptions = 0
    options.bounded = true
    let r0 = Explorer.explore(parsed, options: options)
    #expect(r0.findings.isEmpty)
    #expect(r0.pruned > 0)
    options.preemptions = 1
    let r1 = Explorer.explore(parsed, options: options)
    #expect(r1.findings.map(\.preemptions) == [1])
    #expect(r1.schedules > r0.schedules)
  }

  /// A small fixture is explored exhaustively (every preemption count)
  /// unless `--preemptions` is given; then the bound applies.
  @Test func smallFixturesAreExhausted() throws {
    let parsed = try parse("Fixtures/explore/ats-flr-race.fixture")
    var options = ExploreOptions()
    options.all = true
    let all = Explorer.explore(parsed, options: options)
    #expect(all.mode == "exhaustive" && all.preemptionBound == nil && all.pruned == 0 && all.complete)
    options.bounded = true
    let bounded = Explorer.explore(parsed, options: options)
    #expect(bounded.mode == "systematic" && bounded.preemptionBound == 2 && bounded.pruned > 0)
    #expect(all.schedules > bounded.schedules)
  }

  /// The partial-order reduction keeps every finding (kind and site) and
  /// every `expect schedules=` verdict of the search without it, in fewer
  /// schedules or as many.
  @Test(
    arguments: exploreCorpus + ["Tests/ExploreTests/Fixtures/race-with-noise.fixture"] + randomFixtures
      + waitingFixtures)
  func reductionKeepsFindings(_ path: String) throws {
    let parsed =
      path.hasPrefix("random ")
      ? FixtureParser.parse(text: randomFixture(seed: UInt64(path.dropFirst(7))!), file: path)
      : path.hasPrefix("waiting ")
        ? FixtureParser.parse(text: randomWaitingFixture(seed: UInt64(path.dropFirst(8))!), file: path)
        : try parse(path)
    #expect(parsed.errors.isEmpty, "\(parsed.errors)")
    var options = ExploreOptions()
    options.all = true
    let reduced = Explorer.explore(parsed, options: options)
    options.dpor = false
    let sleepSets = Explorer.explore(parsed, options: options)
    // DPOR finds what sleep sets alone find, with the same schedules, in as many schedules or fewer.
    func found(_ r: ExploreResult) -> [String] { r.findings.map { "\($0.key) '\($0.schedule)'" } }
    // The seed races: the very same schedules. Elsewhere DPOR may meet
    // another schedule of as few preemptions first (its queue order differs).
    if races.contains(where: { path.hasSuffix("/\($0.race).fixture") || path.hasSuffix("/\($0.twin).fixture") }) {
      #expect(found(reduced) == found(sleepSets))
    }
    #expect(
      reduced.findings.map { "\($0.key) \($0.preemptions)" } == sleepSets.findings.map { "\($0.key) \($0.preemptions)" }
    )
    #expect(
      reduced.expectations.map { reduced.holds($0.expectation, held: $0.held) }
        == sleepSets.expectations.map { sleepSets.holds($0.expectation, held: $0.held) })
    #expect(reduced.schedules <= sleepSets.schedules)
    options.por = false
    let full = Explorer.explore(parsed, options: options)
    #expect(reduced.complete && full.complete && full.reduced == 0)
    #expect(Set(reduced.findings.map(\.key)) == Set(full.findings.map(\.key)))
    #expect(reduced.findings.map(\.preemptions) == full.findings.map(\.preemptions))
    #expect(reduced.expectationFailures.isEmpty == full.expectationFailures.isEmpty)
    #expect(
      reduced.expectations.map { reduced.holds($0.expectation, held: $0.held) }
        == full.expectations.map { full.holds($0.expectation, held: $0.held) })
    #expect(reduced.schedules <= full.schedules)
  }

  /// DPOR runs one schedule per order of `independent-steps`' dependent
  /// steps: `free_pages`' two steps against the device's four (it reads the
  /// IOMMU caches the accesses write), 6 choose 2 = 15, where sleep sets alone run 17.
  @Test func dporRunsOneSchedulePerOrderOfDependentSteps() throws {
    let parsed = try parse("Fixtures/explore/independent-steps.fixture")
    var options = ExploreOptions()
    options.all = true
    #expect(Explorer.explore(parsed, options: options).schedules == 15)
    options.dpor = false
    #expect(Explorer.explore(parsed, options: options).schedules == 17)
  }

  /// Steps on other pages commute: the reduction skips their reorderings.
  @Test func reductionPrunesIndependentSteps() throws {
    for path in ["Fixtures/explore/independent-steps.fixture", "Tests/ExploreTests/Fixtures/race-with-noise.fixture"] {
      let parsed = try parse(path)
      var options = ExploreOptions()
      options.all = true
      let reduced = Explorer.explore(parsed, options: options)
      options.por = false
      let full = Explorer.explore(parsed, options: options)
      #expect(reduced.reduced > 0, "\(path)")
      #expect(reduced.schedules < full.schedules, "\(path)")
    }
  }

  /// PCT finds the ATS race from a seed, and its schedule, minimized, replays it.
  @Test func pctFindsTheATSRace() throws {
    let parsed = try parse("Fixtures/explore/ats-flr-race.fixture")
    var options = ExploreOptions()
    options.seed = 7
    options.runs = 200
    let r = Explorer.explore(parsed, options: options)
    let f = try #require(r.findings.first)
    #expect(f.preemptions == 1)
    let (replayed, _) = Explorer.replay(parsed, schedule: f.schedule, options: RunOptions())
    #expect(replayed.reports.contains { $0.kind == .atsInvalidationTimeout })
  }

  /// PCT's finding is cut to its shortest prefix that still shows the
  /// report: no free switch after a task ended is left at its end.
  @Test func pctSchedulesAreShortest() throws {
    let text = """
      cmdline "iommu.strict=0"
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      task cpu {
        repeat 3 as i
          b[i] = alloc_pages
          h[i] = dma_map nic0 b[i] size=4K dir=from-device
        end
        dma_unmap h[1]
        free_pages b[1]
        again = alloc_pages
      }
      task nic {
        dma nic0 write h[1] value=2
      }
      task timer {
        advance 10ms
      }
      """
    let parsed = FixtureParser.parse(text: text, file: "p.fixture")
    var options = ExploreOptions()
    options.seed = 3
    options.runs = 100
    let f = try #require(Explorer.explore(parsed, options: options).findings.first)
    #expect(f.schedule.description == "cpu:6,nic:1,cpu:1")
    #expect(f.preemptions == 2)
  }

  /// Without a schedule, task blocks run one after the other in file order:
  /// a plain run is the empty schedule.
  @Test func plainRunIsTheDefaultSchedule() throws {
    let parsed = try parse("Fixtures/explore/lazy-flush-queue-race.fixture")
    let plain = FixtureRunner.run(parsed: parsed)
    let (scheduled, _) = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions())
    #expect(kernelText(plain) == kernelText(scheduled))
  }

  @Test func scheduleStrings() throws {
    let s = try Schedule(parsing: "cpu:2,dev,cpu:1")
    #expect(s.choices == ["cpu", "cpu", "dev", "cpu"])
    #expect(s.description == "cpu:2,dev:1,cpu:1")
    #expect(try Schedule(parsing: "").choices.isEmpty)
    #expect(throws: ScheduleError.self) { try Schedule(parsing: "cpu:0") }
    #expect(throws: ScheduleError.self) { try Schedule(parsing: "cpu:x") }
    #expect(throws: ScheduleError.self) { try Schedule(parsing: ",cpu") }
    #expect(throws: ScheduleError.self) { try Schedule(parsing: "cpu:99999999999999999999") }
  }

  /// A schedule that names a task that cannot run is an error, not a trap.
  /// A device access is two steps: its translation is a scheduling point
  /// (`translated`), and the access lands after it. A strict unmap's
  /// invalidation waits for the request in flight (it lands before the
  /// unmap returns), so the page freed next is not written.
  @Test func deviceAccessIsTranslationThenAccess() throws {
    let parsed = try parse("Fixtures/explore/lazy-flush-queue-race-strict.fixture")
    // Point 1: start (nic); point 2: after nic's translation, where only cpu/timer/nic can run.
    let (_, mismatch) = Explorer.replay(
      parsed, schedule: try Schedule(parsing: "nic:1,nobody:1"), options: RunOptions())
    #expect(mismatch?.message.contains("schedule point 2 (line 21 translated)") == true, "\(mismatch?.message ?? "")")
    // nic translated, then cpu unmaps (draining the write), frees and allocates.
    let (r, m) = Explorer.replay(parsed, schedule: try Schedule(parsing: "nic:1,cpu:5"), options: RunOptions())
    #expect(m == nil)
    #expect(r.reports.isEmpty, "\(r.reports.map(\.kind))")
  }

  /// `repeat` blocks inside a task block run in its task, in order, as a
  /// plain run runs them (the default schedule is the plain run).
  @Test func loopsRunInsideTaskBlocks() throws {
    let parsed = try parse("Fixtures/explore/ring-refill-loop-lazy.fixture")
    let plain = FixtureRunner.run(parsed: parsed)
    let (scheduled, mismatch) = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions())
    #expect(mismatch == nil)
    #expect(!scheduled.hasErrors, "\(scheduled.diagnostics)")
    #expect(scheduled.summary.statements == parsed.executedStatements)
    #expect(kernelText(plain) == kernelText(scheduled))
    // A loop around a group runs the group once per iteration.
    let text = """
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      repeat 3 as i
      task a {
        b[i] = alloc_pages
      }
      task n {
        x[i] = alloc_pages
      }
      end
      free_pages b[2]
      free_pages x[2]
      """
    let looped = FixtureParser.parse(text: text, file: "g.fixture")
    #expect(looped.errors.isEmpty)
    let (r, m) = Explorer.replay(looped, schedule: try Schedule(parsing: "n:1"), options: RunOptions())
    #expect(m == nil)
    #expect(!r.hasErrors && r.summary.statements == 10, "\(r.diagnostics)")
  }

  /// A block above the one that binds its name: the default schedule (and
  /// `run`) starts the binding task first, as the task waits.
  @Test func defaultScheduleWaitsForALaterBlock() throws {
    let text = """
      cmdline "iommu.strict=0"
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      task nic {
        dma nic0 write h value=2
      }
      task cpu {
        buf = alloc_pages
        h = dma_map nic0 buf size=4K dir=from-device
        dma_unmap h
        free_pages buf
        other = alloc_pages
      }
      expect schedules=some report dma-use-after-free
      """
    let parsed = FixtureParser.parse(text: text, file: "w.fixture")
    #expect(parsed.errors.isEmpty, "\(parsed.errors)")
    let (r, m) = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions())
    #expect(m == nil && !r.hasErrors, "\(r.diagnostics)")
    var options = ExploreOptions()
    options.all = true
    let e = Explorer.explore(parsed, options: options)
    #expect(e.complete && e.expectationFailures.isEmpty)
    #expect(Explorer.check(parsed, options: RunOptions()).passed)
  }

  /// Blocks that each wait for a name the other binds later: a deadlock,
  /// said as such (exit status 2), not only as an unbound name.
  @Test func blocksWaitingForEachOtherAreAnError() {
    let text =
      "iommu vtd0 model=vtd\ntask a {\n  free_pages y\n  x = alloc_pages\n}\ntask b {\n  free_pages x\n  y = alloc_pages\n}\n"
    let parsed = FixtureParser.parse(text: text, file: "d.fixture")
    #expect(parsed.errors.isEmpty)
    let (r, _) = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions())
    #expect(
      r.diagnostics.first?.message
        == "every task of the group waits for a name another of its tasks binds later ('a' for 'y', 'b' for 'x'): 'a' runs on, and its statement finds the name unbound"
    )
    #expect(r.exitStatus == 2)
  }

  /// A deadlock of two tasks while a third can run: the third runs to its
  /// end first, then the deadlock is said; `explore` stops there (exit status 2).
  @Test func aDeadlockWithABystanderIsSaidOnceTheBystanderEnds() throws {
    let parsed = try parse("Tests/ExploreTests/Fixtures/deadlock-with-bystander.fixture")
    let (r, _) = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions())
    #expect(r.diagnostics.first?.message.hasPrefix("every task of the group waits for a name") == true)
    #expect(r.exitStatus == 2)
    let e = Explorer.explore(parsed, options: ExploreOptions())
    #expect(e.stopped?.diagnostic.message.hasPrefix("every task of the group waits") == true)
    #expect(e.exitStatus == 2 && !e.complete)
  }

  /// A task whose statement uses a name another task of its group binds
  /// waits for it: its step is not enabled (no error), and choosing it is
  /// a mismatch that names the tasks that can run.
  @Test func taskWaitsForANameAnotherTaskBinds() throws {
    let parsed = try parse("Fixtures/explore/bound-by-another-task-lazy.fixture")
    let (_, mismatch) = Explorer.replay(parsed, schedule: try Schedule(parsing: "nic:1"), options: RunOptions())
    #expect(mismatch?.message.contains("the tasks that can run are: cpu") == true, "\(mismatch?.message ?? "")")
    #expect(mismatch?.message.contains("nic,") == false)
    var options = ExploreOptions()
    options.all = true
    let r = Explorer.explore(parsed, options: options)
    #expect(r.stopped == nil && r.complete)
    #expect(r.findings.map { $0.key.prefix { $0 != " " } } == ["dma-use-after-free"])
  }

  /// `check` of a fixture that does not parse gives its errors, not also
  /// each `expect schedules=` line as failed in 0 of 0 schedules.
  @Test func checkOfABrokenFixtureGivesItsErrorsOnly() {
    let text = "task a {\n}\ntask a {\nadvance 1ms\n}\nexpect schedules=some report dma-use-after-free\n"
    let r = Explorer.check(FixtureParser.parse(text: text, file: "t.fixture"), options: RunOptions())
    #expect(r.diagnostics.filter(\.isError).count == 1)
    #expect(r.failures.isEmpty, "\(r.failures.map(\.description))")
  }

  /// Choices past the run's last scheduling point are an error, not ignored.
  @Test func choicesPastTheEndAreAnError() throws {
    let parsed = try parse("Fixtures/explore/ats-flr-race.fixture")
    let (_, ok) = Explorer.replay(parsed, schedule: try Schedule(parsing: "reset:1,cpu:1"), options: RunOptions())
    #expect(ok == nil)
    let (_, mismatch) = Explorer.replay(
      parsed, schedule: try Schedule(parsing: "reset:1,cpu:1,reset:1,cpu:9"), options: RunOptions())
    #expect(mismatch?.message.contains("were never made") == true, "\(mismatch?.message ?? "")")
  }

  /// `--max-schedules` (default 20,000) stops the search with a warning.
  @Test func maxSchedulesStopsWithAWarning() throws {
    #expect(ExploreOptions().maxSchedules == 20_000)
    var options = ExploreOptions()
    options.all = true
    options.maxSchedules = 3
    let r = Explorer.explore(try parse("Fixtures/explore/lazy-flush-queue-race.fixture"), options: options)
    #expect(r.schedules == 3 && !r.complete && r.limited)
    #expect(r.limitWarning?.message.contains("--max-schedules 3") == true)
    let full = Explorer.explore(try parse("Fixtures/explore/ats-flr-race.fixture"), options: ExploreOptions())
    #expect(!full.limited && full.limitWarning == nil)
  }

  /// `--max-steps` (default 1,000,000) bounds the scheduling points of a
  /// whole search: four tasks that each loop stop in bounded time, with a
  /// warning, where `--max-schedules` alone would run 20,000 schedules of
  /// hundreds of points each.
  @Test func maxStepsStopsALongLoopInEveryTask() throws {
    #expect(ExploreOptions().maxSteps == 1_000_000)
    let parsed = try parse("Tests/ExploreTests/Fixtures/four-loops.fixture")
    var options = ExploreOptions()
    options.all = true
    options.maxSteps = 3000
    let r = Explorer.explore(parsed, options: options)
    let perSchedule = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions()).0.summary.statements
    #expect(r.limit == .steps(3000) && !r.complete)
    // One schedule past the limit at most: its points times the 4 tasks.
    #expect(r.steps >= 3000 && r.steps < 3000 + 4 * 4 * perSchedule)
    #expect(r.schedules > 1 && r.schedules < 3000 / 100)
    let warning = try #require(r.limitWarning)
    #expect(warning.severity == .warning)
    #expect(
      warning.message.contains("the search stopped at --max-steps 3000 (")
        && warning.message.contains("it is incomplete"))
    // A small fixture's search is far from the default.
    let small = Explorer.explore(try parse("Fixtures/explore/lazy-flush-queue-race.fixture"), options: ExploreOptions())
    #expect(small.limit == nil && small.steps > 0 && small.steps < ExploreOptions.defaultMaxSteps / 100)
  }

  /// A step of `--max-steps` is a task that could run at a scheduling
  /// point: a fixture of many one-statement tasks does work proportional to
  /// its tasks at each point (choosing, queueing each alternative), and
  /// stops after a few schedules, not after as many as a two-task fixture.
  @Test func maxStepsCountsTheTasksAtEachPoint() {
    var text = "iommu vtd0 model=vtd\n"
    for t in 0..<100 { text += "task t\(t) {\n  x\(t) = alloc_pages\n  free_pages x\(t)\n}\n" }
    let parsed = FixtureParser.parse(text: text, file: "many.fixture")
    var options = ExploreOptions()
    options.all = true
    options.maxSteps = 50_000
    let r = Explorer.explore(parsed, options: options)
    #expect(r.limit == .steps(50_000))
    #expect(r.schedules >= 1 && r.schedules <= 5, "\(r.schedules)")
  }

  /// The queue of a bounded search holds no schedule `--max-schedules`
  /// would never reach: a long fixture queues its points times its tasks
  /// per schedule run (memory that grew past a gigabyte at the default).
  @Test func theQueueStaysWithinTheScheduleLimit() throws {
    var options = ExploreOptions()
    options.all = true
    options.maxSchedules = 20
    let r = Explorer.explore(try parse("Tests/ExploreTests/Fixtures/four-loops.fixture"), options: options)
    #expect(r.schedules == 20 && r.limit == .schedules(20))
    // One level per preemption (0, 1, 2), each holding at most the limit.
    #expect(r.maxQueued > 0 && r.maxQueued <= 3 * 20)
  }

  /// `count=N` on a `schedules=some` line: the schedules it is seen in;
  /// every line says in how many schedules its report was seen, `none` too.
  @Test func scheduleCounts() throws {
    let base = try String(
      contentsOfFile: repositoryRoot + "/Fixtures/explore/bound-by-another-task-lazy.fixture", encoding: .utf8)
    var options = ExploreOptions()
    options.all = true
    let r = Explorer.explore(FixtureParser.parse(text: base, file: "b.fixture"), options: options)
    let seen = try #require(r.expectations.first).held
    #expect(seen > 0)
    let counted = FixtureParser.parse(
      text: base + "expect schedules=some report dma-use-after-free count=\(seen)\n"
        + "expect schedules=some report dma-use-after-free count=\(seen + 1)\n"
        + "expect schedules=none report dma-use-after-free\n", file: "b.fixture")
    #expect(counted.errors.isEmpty, "\(counted.errors)")
    #expect(counted.scheduleExpectations.map(\.count) == [nil, nil, seen, seen + 1, nil])
    let c = Explorer.explore(counted, options: options)
    #expect(
      c.expectationFailures == [
        "b.fixture:25:1: error: expected 'expect schedules=some report dma-use-after-free count=\(seen + 1)': reported in \(seen) of \(c.schedules) schedules; first in '\(c.findings[0].schedule)'",
        "b.fixture:26:1: error: expected 'expect schedules=none report dma-use-after-free': reported in \(seen) of \(c.schedules) schedules; first in '\(c.findings[0].schedule)'",
      ])
    let bad = FixtureParser.parse(text: "expect schedules=all report dma-use-after-free count=2\n", file: "t.fixture")
    #expect(bad.errors.map(\.message).first?.contains("'schedules=all' takes none") == true)
    let zero = FixtureParser.parse(text: "expect schedules=some report dma-use-after-free count=0\n", file: "t.fixture")
    #expect(
      zero.errors.map(\.message) == ["'count=0' says the report is in no schedule: write 'schedules=none' instead"])
    // `alone` anywhere after the kind.
    let alone = FixtureParser.parse(
      text: "expect schedules=some report dma-use-after-free alone count=2\n", file: "t.fixture")
    #expect(alone.errors.isEmpty, "\(alone.errors)")
    #expect(alone.scheduleExpectations.first?.count == 2)
    if case .report(_, let isAlone)? = alone.scheduleExpectations.first?.check {
      #expect(isAlone)
    } else {
      Issue.record()
    }
  }

  /// `check` of a concurrent fixture checks the per-statement `expect` lines
  /// in the default schedule (and only the statements that have some).
  @Test func checkEvaluatesStatementExpectationsInTheDefaultSchedule() {
    let text = """
      cmdline "iommu.strict=0"
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      buf = alloc_pages
      h = dma_map nic0 buf size=4K dir=from-device
      task cpu {
        dma_unmap h
        free_pages buf
        expect report freed-while-mapped
      }
      task nic {
        dma nic0 write h value=2
      }
      expect schedules=some report dma-use-after-free
      """
    let r = Explorer.check(FixtureParser.parse(text: text, file: "t.fixture"), options: RunOptions())
    #expect(r.failures.map(\.line) == [9], "\(r.failures.map(\.description))")
  }

  /// `check`: a report kind that the reporting statement's own `expect
  /// report` names needs no `expect schedules=` line; one no line names is
  /// a failure at the statement that reported it.
  @Test func checkNamesReportsByTheirStatement() {
    func failures(_ expect: String) -> [String] {
      let text = """
        iommu vtd0 model=vtd
        device nic0 iommu=vtd0
        buf = alloc_pages
        task cpu {
          h = dma_map nic0 buf size=4K
          dma_unmap h
          dma_unmap h
        \(expect)
        }
        task cpu2 {
          free_pages buf
        }
        expect schedules=some report freed-while-mapped
        """
      let r = Explorer.check(FixtureParser.parse(text: text, file: "t.fixture"), options: RunOptions())
      return r.failures.map(\.description)
    }
    #expect(failures("  expect report dma-unmap-not-mapped").isEmpty)
    #expect(
      failures("")
        == [
          "t.fixture:7:3: error: unexpected report dma-unmap-not-mapped in schedule '': no 'expect schedules=' line names it"
        ])
  }

  @Test func mismatchedScheduleIsAnError() throws {
    let parsed = try parse("Fixtures/explore/ats-flr-race.fixture")
    let (_, mismatch) = Explorer.replay(parsed, schedule: try Schedule(parsing: "nic:1"), options: RunOptions())
    #expect(mismatch?.message.contains("chooses 'nic'") == true)
  }
}

@Suite struct TaskBlockParserTests {
  func errors(_ text: String) -> [String] {
    FixtureParser.parse(text: text, file: "t.fixture").errors.map { "\($0.line):\($0.column): \($0.message)" }
  }

  @Test func blocksRunAsTheirTask() {
    let p = FixtureParser.parse(
      text: "a = alloc_pages\ntask cpu0 {\n  free_pages a\n}\ntask dev {\n  advance 1ms\n}\nadvance 1ms\n",
      file: "t.fixture")
    #expect(p.errors.isEmpty)
    #expect(p.statements.map { $0.task?.name } == [nil, "cpu0", "dev", nil])
    #expect(p.statements.map { $0.block?.group } == [nil, 0, 0, nil])
    #expect(p.statements.map { $0.block?.block } == [nil, 0, 1, nil])
  }

  @Test func blockMistakes() {
    #expect(errors("task a {\n}\n}\n") == ["3:1: '}' closes no task block"])
    #expect(errors("task a {\ntask b {\n}\n").first?.contains("do not nest") == true)
    #expect(errors("task a {\nadvance 1ms\n") == ["1:1: task block 'a' is not closed: end it with a line '}'"])
    #expect(errors("task a {\n@irq advance 1ms\n}\n").first?.contains("remove '@irq'") == true)
    #expect(errors("task a {\nmemory 1G\n}\n").first?.contains("cannot be in a task block") == true)
    #expect(errors("task a {\n}\ntask a {\n}\n").first?.contains("already has a block") == true)
    // One mistake, one error: the '}' of a block whose opening line was wrong says nothing.
    #expect(errors("task a {\ntask b {\nadvance 1ms\n}\n}\n").count == 1)
    #expect(errors("task {\nadvance 1ms\n}\n").count == 1)
    #expect(errors("task a b {\nadvance 1ms\n}\n").count == 1)
    #expect(errors("task a {\n}\ntask a {\nadvance 1ms\n}\n").count == 1)
    // A task's loop stays in its block; a loop around a group closes outside it.
    #expect(
      errors("task a {\nrepeat 2 as i\nadvance 1ms\n}\n")
        == ["4:1: '}' closes task block 'a' while its 'repeat' at line 2 is open; close the loop with 'end' first"])
    #expect(
      errors("repeat 2 as i\ntask a {\nadvance 1ms\nend\n}\n")
        == ["4:1: 'end' in task block 'a' cannot close the 'repeat' at line 1, which is outside the block"])
    #expect(errors("repeat 2 as i\ntask a {\nadvance 1ms\n}\nend\n").isEmpty)
    // Blocks written on one line, without a space before '{', or closed by '}}'.
    #expect(errors("task a{\nadvance 1ms\n}\n") == ["1:6: write a space before '{': 'task a {'"])
    #expect(errors("task a { advance 1ms }\n").first?.contains("on lines of their own") == true)
    #expect(errors("task a { advance 1ms }\n").count == 1)
    #expect(errors("task a { advance 1ms\n}\n").count == 1)
    #expect(errors("task a {\nadvance 1ms\n}}\n") == ["3:1: write each '}' on a line of its own"])
  }

  /// A block may use a name another block of its group binds, above or
  /// below it (the task waits for it); the same block, another group or no
  /// binding at all is an error as before.
  @Test func namesBoundByAnotherBlockOfTheGroup() {
    let head = "iommu vtd0 model=vtd\ndevice nic0 iommu=vtd0\n"
    #expect(errors(head + "task nic {\ndma nic0 write h value=2\n}\ntask cpu {\nh = alloc_pages\n}\n").isEmpty)
    #expect(
      errors(head + "task cpu {\nfree_pages q\nq = alloc_pages\n}\n")
        == ["4:12: use of unbound name 'q': 'q' is bound later, at line 5"])
    #expect(
      errors(head + "task a {\nfree_pages q\n}\nadvance 1ms\ntask b {\nq = alloc_pages\n}\n")
        == ["4:12: use of unbound name 'q': 'q' is bound later, at line 8"])
    #expect(
      errors(head + "task a {\nfree_pages zz\n}\ntask b {\nq = alloc_pages\n}\n") == ["4:12: use of unbound name 'zz'"])
    #expect(
      errors(head + "task a {\nfree_pages d\n}\ntask b {\nd = domain vtd0\n}\n").first?.contains(
        "bound by task 'b' at line 7") == true)
    // In a loop: `h[0]` used by one block, `h[i]` bound by another.
    #expect(
      errors(head + "task n {\ndma nic0 write h[0] value=1\n}\ntask c {\nrepeat 2 as i\nh[i] = alloc_pages\nend\n}\n")
        .isEmpty)
  }

  /// v1 meanings stay: `task` is still a name one may bind.
  @Test func taskIsStillAName() {
    let p = FixtureParser.parse(text: "task = alloc_pages\nfree_pages task\n", file: "t.fixture")
    #expect(p.errors.isEmpty)
    #expect(p.statements.count == 2)
  }

  @Test func scheduleExpectations() {
    let p = FixtureParser.parse(
      text:
        "a = alloc_pages\nexpect schedules=some report dma-use-after-free page=a alone\nexpect schedules=all no-report\n",
      file: "t.fixture")
    #expect(p.errors.isEmpty)
    #expect(p.scheduleExpectations.map(\.quantifier) == [.some, .all])
    #expect(p.statements[0].expectations.isEmpty)
    #expect(errors("expect schedules=most no-report\n").first?.contains("takes some, none or all") == true)
    #expect(errors("expect schedules=some fault\n").first?.contains("checks 'report KIND") == true)
  }
}
