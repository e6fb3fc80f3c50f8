import FixtureLanguage
import KernelTypes
import Reports
import Sanitizer

/// What one statement did.
package struct StatementOutcome: Sendable {
  package var index: Int
  package var line: Int
  /// Reports and events, in order.
  package var outputs: [SanitizerOutput]
  /// The errno the statement failed with, and why.
  package var error: (name: String, reason: String)?
  package var unmapped: UInt64?
  package var phys: UInt64?
  package var value: UInt64?
  package var faulted: Bool

  package var reports: [Report] {
    outputs.compactMap { if case .report(let r) = $0 { return r } else { return nil } }
  }
}

/// A failed expectation or an unexpected report, error or fault.
package struct ExpectationFailure: Sendable, Hashable, CustomStringConvertible {
  package var file: String
  package var line: Int
  package var column: Int
  package var message: String
  package var description: String { "\(file):\(line):\(column): error: \(message)" }

  package init(file: String, line: Int, column: Int, message: String) {
    self.file = file
    self.line = line
    self.column = column
    self.message = message
  }
}

/// The result of running one fixture.
package struct FixtureResult: Sendable {
  package var file: String
  /// The parser's warnings, then its errors or a runtime error that stopped the fixture.
  package var diagnostics: [Diagnostic]
  package var outcomes: [StatementOutcome]
  package var failures: [ExpectationFailure]
  /// `--stats` lines, when asked for.
  package var stats: [String]
  /// `--history`: the pages asked for, each with its events.
  package var histories: [PageLife] = []
  /// Whether `iommu.debug_pagealloc` was on: the kernel text starts with `iommu_debug_init()`'s boot line.
  package var debugPageAlloc = false
  /// `emu.kernel=`: the release the kernel lines name (`Not tainted 7.0.11-iommusan`).
  package var kernel: KernelVersion = .newest
  /// The run's invalidations, when `RunOptions.logsInvalidations` asked for them.
  package var invalidationLog: InvalidationLog?
  package var summary: RunSummary

  package init(
    file: String, diagnostics: [Diagnostic], outcomes: [StatementOutcome], failures: [ExpectationFailure],
    stats: [String], summary: RunSummary
  ) {
    self.file = file
    self.diagnostics = diagnostics
    self.outcomes = outcomes
    self.failures = failures
    self.stats = stats
    self.summary = summary
  }

  /// Whether the fixture passes as a test (`check`).
  /// Warnings do not make it fail.
  package var passed: Bool { !hasErrors && failures.isEmpty }
  /// Whether a diagnostic is an error: the fixture did not run, or stopped.
  package var hasErrors: Bool { diagnostics.contains(where: \.isError) }
  /// The diagnostics that are errors.
  package var errors: [Diagnostic] { diagnostics.filter(\.isError) }
  /// The diagnostics that are warnings.
  package var warnings: [Diagnostic] { diagnostics.filter { !$0.isError } }
  package var reports: [Report] { outcomes.flatMap(\.reports) }
  /// `run`'s exit status: 2 on errors that stopped the fixture; 1 when
  /// anything happened a developer must look at (a report, an I/O page
  /// fault, a statement that failed with an errno no `expect error` names);
  /// else 0.
  package var exitStatus: Int32 {
    if hasErrors { return 2 }
    return summary.reports > 0 || summary.faults > 0 || summary.unexpectedErrors > 0 ? 1 : 0
  }
}

/// The whole recorded life of one page (`run --history`).
package struct PageLife: Sendable, Hashable {
  /// The page as the command line named it.
  package var page: String
  package var pfn: PFN
  package var events: [PageHistoryEvent]
}

/// Counts for the closing summary.
package struct RunSummary: Sendable, Hashable {
  package var statements: Int = 0
  package var reports: Int = 0
  package var faults: Int = 0
  package var errors: Int = 0
  /// Errors that no `expect error` named.
  package var unexpectedErrors: Int = 0
  package var byKind: [String: Int] = [:]
  /// Distinct report sites: a kind at a guilty frame, as syzkaller tells
  /// one bug from another by its title.
  package var sites: Int { siteKeys.count }
  package var siteKeys: Set<String> = []

  package init() {}
}
