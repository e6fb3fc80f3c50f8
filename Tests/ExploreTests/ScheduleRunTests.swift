import Explore
import FixtureLanguage
import FixtureRunner
import Foundation
import Synchronization
import Testing

/// The execution machinery of a schedule: which carrier (stack) runs which block.
@Suite struct ScheduleRunTests {
  /// The default schedule (each block to its end, in file order) runs on
  /// the calling thread's own stack alone, as a plain run does.
  @Test(arguments: exploreCorpus)
  func defaultScheduleSwitchesNoCarrier(_ path: String) throws {
    #expect(Explorer.carrierSwitches(try parse(path), schedule: Schedule()) == 0)
  }

  /// A preemption between statements runs the next block on the same
  /// carrier; one inside a statement (at a kernel step) parks its carrier.
  @Test func onlyAPreemptionInsideAStatementSwitchesCarriers() throws {
    let steps = try parse("Fixtures/explore/independent-steps.fixture")
    // cpu's first statement, then dev's block: chosen between statements.
    #expect(Explorer.carrierSwitches(steps, schedule: Schedule(choices: ["cpu", "dev"])) == 0)
    let race = try parse("Fixtures/explore/debug-pagealloc-check-race.fixture")
    var options = ExploreOptions()
    options.all = true
    let r = Explorer.explore(race, options: options)
    let finding = try #require(r.findings.first { $0.key.hasPrefix("freed-while-mapped-uncounted ") })
    #expect(Explorer.carrierSwitches(race, schedule: finding.schedule) > 0)
  }

  /// A run that switched carriers is freed when it ends: the carriers it
  /// left idle hold nothing of it.
  @Test func idleCarriersHoldNoFinishedRun() throws {
    let race = try parse("Fixtures/explore/debug-pagealloc-check-race.fixture")
    var options = ExploreOptions()
    options.all = true
    let finding = try #require(
      Explorer.explore(race, options: options).findings.first { $0.key.hasPrefix("freed-while-mapped-uncounted ") })
    #expect(Explorer.carrierSwitches(race, schedule: finding.schedule) > 0)
    #expect(Explorer.scheduleRunsAlive == 0)
  }

  /// A thread's carriers are freed when the thread exits: with user
  /// contexts their stacks are unmapped and the objects released, and
  /// without (IOMMUSAN_TSAN) their threads, idle, end instead of waiting
  /// for work forever.
  @Test func aThreadsCarriersAreFreedWhenItExits() throws {
    let race = try parse("Fixtures/explore/debug-pagealloc-check-race.fixture")
    var options = ExploreOptions()
    options.all = true
    let finding = try #require(
      Explorer.explore(race, options: options).findings.first { $0.key.hasPrefix("freed-while-mapped-uncounted ") })
    let watch = Mutex<CarrierWatch?>(nil)
    let thread = Thread {
      #expect(Explorer.carrierSwitches(race, schedule: finding.schedule) > 0)
      watch.withLock { $0 = CarrierWatch.current }
    }
    thread.start()
    var alive = -1
    for _ in 0..<500 {
      alive = watch.withLock { w in w.map(\.alive) ?? -1 }
      if alive == 0 { break }
      Thread.sleep(forTimeInterval: 0.01)
    }
    #expect(watch.withLock { $0?.count ?? 0 } > 1)
    #expect(alive == 0)
  }

  /// `bench --explore` counts every schedule a search runs: a finding's
  /// replay (with its history) and its minimization's trials too.
  @Test func benchCountsEveryScheduleRun() throws {
    let clean = ExploreBenchFigures.measure(try parse("Fixtures/explore/notifier-sync.fixture"), runs: 1, repeats: 1)
    #expect(clean.search.runs == clean.search.schedules)
    let race = ExploreBenchFigures.measure(try parse("Fixtures/explore/ats-flr-race.fixture"), runs: 1, repeats: 1)
    #expect(race.search.runs > race.search.schedules)
    #expect(race.search.ratio > 0 && race.search.plainSeconds > 0)
  }

  /// The plain run `bench --explore` measures a schedule against does the
  /// work `iommusan run` does (the default schedule), in one sequence: as
  /// many statements, reports and faults. A device block that comes first
  /// and uses a name the CPU's block binds runs after it; run as written it
  /// stops at that name, unbound, and costs a fraction of the run.
  @Test(arguments: exploreCorpus + ["Tests/ExploreTests/Fixtures/race-with-noise.fixture"])
  func benchPlainRunDoesTheDefaultSchedulesWork(_ path: String) throws {
    let parsed = try parse(path)
    let replay = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions()).0
    let plain = FixtureRunner.run(parsed: parsed.sequential)
    #expect(plain.summary == replay.summary)
    #expect(plain.diagnostics.filter(\.isError).isEmpty)
  }

  /// The plain run's order is the default schedule's, not a second guess
  /// from the names each block uses and binds: a block that uses a name
  /// bound before the group, which another block binds again, does not
  /// wait, and runs first.
  @Test func sequentialFollowsTheDefaultSchedule() throws {
    let text = """
      iommu vtd0 model=vtd
      device nic0 iommu=vtd0
      buf = alloc_pages
      h = dma_map nic0 buf size=4K
      task nic {
        dma nic0 read h
      }
      task cpu {
        dma_unmap h
        h = dma_map nic0 buf size=4K
      }
      """
    let parsed = FixtureParser.parse(text: text, file: "rebind.fixture")
    #expect(parsed.errors.isEmpty, "\(parsed.errors)")
    #expect(parsed.sequential.statements.compactMap(\.block?.task) == ["nic", "cpu", "cpu"])
    let replay = Explorer.replay(parsed, schedule: Schedule(), options: RunOptions()).0
    #expect(FixtureRunner.run(parsed: parsed.sequential).summary == replay.summary)
  }

  /// A block that waits halfway (cpu0 unmaps, then waits for 'done', which
  /// cpu1 binds last) is cut there: the plain run does cpu0's unmap, all of
  /// cpu1, then the rest of cpu0, as the default schedule does.
  @Test func sequentialCutsABlockThatWaitsHalfway() throws {
    let parsed = try parse("Fixtures/explore/iommu-map-two-iovas-synchronized.fixture")
    #expect(parsed.sequential.statements.compactMap(\.block?.task) == ["cpu0", "cpu1", "cpu1", "cpu1", "cpu0", "cpu0"])
    let plain = FixtureRunner.run(parsed: parsed.sequential)
    #expect(plain.diagnostics.filter(\.isError).isEmpty)
    #expect(plain.summary == Explorer.replay(parsed, schedule: Schedule(), options: RunOptions()).0.summary)
  }

  @Test func deviceBlockFirstRunsAfterTheBlockThatBindsItsName() throws {
    let parsed = try parse("Fixtures/explore/device-block-first-lazy.fixture")
    #expect(parsed.sequential.statements.compactMap(\.block?.task) == ["cpu", "cpu", "cpu", "cpu", "cpu", "nic"])
    let asWritten = FixtureRunner.run(parsed: parsed)
    #expect(asWritten.diagnostics.contains { $0.isError && $0.message.contains("use of unbound name 'h'") })
  }
}
