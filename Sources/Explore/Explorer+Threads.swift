import FixtureLanguage
import FixtureRunner

extension Explorer {
  /// How many times one run of `parsed` under `schedule` passes control to
  /// another thread: none when every choice is made between statements.
  package static func threadSwitches(_ parsed: ParsedFixture, schedule: Schedule) -> Int {
    ScheduleRun.run(parsed, options: RunOptions(), policy: .prefix(schedule.choices)).threadSwitches
  }
}
