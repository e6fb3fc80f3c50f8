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

/// Weak references to the carriers of one thread's pool, its own stack's
/// among them: a test's view of whether they were freed (and, without user
/// contexts, whether their threads ended) once the thread exited.
package struct CarrierWatch: @unchecked Sendable {
  private final class Weak {
    weak var carrier: Carrier?
    init(_ carrier: Carrier) { self.carrier = carrier }
  }
  private let refs: [Weak]

  /// The calling thread's carriers now.
  package static var current: CarrierWatch { CarrierWatch(refs: CarrierPool.current.carriers.map(Weak.init)) }

  /// How many carriers were watched.
  package var count: Int { refs.count }
  /// How many of them are not freed.
  package var alive: Int { refs.count { $0.carrier != nil } }
}
