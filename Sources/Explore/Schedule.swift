/// A schedule: which task runs at each scheduling point of a fixture's task
/// groups, written as runs `TASK:N` (N points in a row), comma-separated,
/// for example `cpu:2,dev:1`. Past its last run the default continues: the
/// running task keeps running, and when it ends the first unfinished block
/// in file order starts. So a string only needs to reach its last switch.
package struct Schedule: Sendable, Hashable, CustomStringConvertible {
  /// The task chosen at each point, from the first.
  package var choices: [String]

  package init(choices: [String] = []) {
    self.choices = choices
  }

  /// Parses `TASK:N,...` (`TASK` alone means `TASK:1`). The empty string is the default schedule.
  package init(parsing text: String) throws(ScheduleError) {
    var choices: [String] = []
    let trimmed = text.trimmingSpaces
    guard !trimmed.isEmpty else {
      self.choices = []
      return
    }
    for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
      let parts = item.split(separator: ":", omittingEmptySubsequences: false)
      let name = String(parts[0]).trimmingSpaces
      guard !name.isEmpty, parts.count <= 2 else {
        throw ScheduleError(message: "invalid schedule item '\(item)': write TASK:N, for example cpu:2")
      }
      var count = 1
      if parts.count == 2 {
        guard let n = Int(String(parts[1]).trimmingSpaces), n >= 1, n <= Schedule.maxPoints else {
          throw ScheduleError(
            message: "invalid count in schedule item '\(item)': a whole number from 1 to \(Schedule.maxPoints)")
        }
        count = n
      }
      guard choices.count + count <= Schedule.maxPoints else {
        throw ScheduleError(message: "the schedule is longer than \(Schedule.maxPoints) points")
      }
      choices += Array(repeating: name, count: count)
    }
    self.choices = choices
  }

  /// The most scheduling points a schedule string may name.
  package static let maxPoints = 1_000_000

  /// The runs, `cpu:2,dev:1`; empty for the default schedule.
  package var description: String {
    var items: [String] = []
    var i = 0
    while i < choices.count {
      var j = i
      while j < choices.count, choices[j] == choices[i] { j += 1 }
      items.append("\(choices[i]):\(j - i)")
      i = j
    }
    return items.joined(separator: ",")
  }
}

/// A schedule string that does not parse, or that does not fit the fixture.
package struct ScheduleError: Error, Sendable, Hashable {
  package var message: String
}

extension StringProtocol {
  var trimmingSpaces: String {
    String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
  }
}
