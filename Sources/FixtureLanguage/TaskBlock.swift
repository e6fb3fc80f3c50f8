/// Where a statement of a `task NAME {` ... `}` block is: the block, and the
/// group of adjacent blocks that run concurrently. Statements outside every
/// block run alone, in file order, before and after each group.
package struct TaskBlock: Sendable, Hashable {
  /// The group: blocks with no statement between them (0, 1, ... in file order).
  package var group: Int
  /// The block, numbered over the whole fixture (0, 1, ... in file order).
  package var block: Int
  /// The task the block runs as.
  package var task: String

  package init(group: Int, block: Int, task: String) {
    self.group = group
    self.block = block
    self.task = task
  }
}

/// An `expect schedules=some|none|all ...` line: a check over every schedule
/// that `iommusan explore` runs, not on one statement.
package struct ScheduleExpectation: Sendable, Hashable {
  /// In how many of the explored schedules the check must hold.
  package enum Quantifier: String, Sendable, Hashable, CaseIterable {
    /// In at least one schedule.
    case some
    /// In no schedule.
    case none
    /// In every schedule.
    case all
  }

  /// What must be seen in a schedule.
  package enum Check: Sendable, Hashable {
    /// `report KIND [filters] [alone]`: a report of KIND matching the
    /// filters, from any statement; with `alone`, and no other report.
    case report(ExpectedReport, alone: Bool)
    /// `no-report`: no report at all.
    case noReport
  }

  package var quantifier: Quantifier
  package var check: Check
  /// Where the `expect` word is.
  package var location: SourceLocation
  /// The line, trimmed and without its comment.
  package var text: String
  /// `count=N` (with `some`): the line holds in exactly N of the schedules run.
  package var count: Int?

  package init(quantifier: Quantifier, check: Check, location: SourceLocation, text: String, count: Int? = nil) {
    self.quantifier = quantifier
    self.check = check
    self.location = location
    self.text = text
    self.count = count
  }

  /// Whether the line holds when its check was seen in `seen` of `schedules` schedules.
  package static func holds(quantifier: Quantifier, count: Int?, seen: Int, schedules: Int) -> Bool {
    switch quantifier {
    case .some: return count.map { seen == $0 } ?? (seen > 0)
    case .none: return seen == 0
    case .all: return seen == schedules
    }
  }
}
