import FixtureLanguage
import FixtureRunner

extension Explorer {
  /// How many times one run of `parsed` under `schedule` switches from one
  /// carrier (stack) to another: none when every choice is made between statements.
  package static func carrierSwitches(_ parsed: ParsedFixture, schedule: Schedule) -> Int {
    ScheduleRun.run(parsed, options: RunOptions(), policy: .prefix(schedule.choices)).carrierSwitches
  }

  /// The schedule runs not yet freed on the calling thread.
  package static var scheduleRunsAlive: Int { ScheduleRun.alive }
}
