import FixtureLanguage
import Reports
import Sanitizer

/// What one statement did.
public struct StatementOutcome: Sendable {
  public var index: Int
  public var line: Int
  /// Reports and events, in order.
  public var outputs: [SanitizerOutput]
  /// The errno the statement failed with, and why.
  public var error: (name: String, reason: String)?
  public var unmapped: UInt64?
  public var phys: UInt64?
  public var value: UInt64?
  public var faulted: Bool

  public var reports: [Report] {
    outputs.compactMap { if case .report(let r) = $0 { return r } else { return nil } }
  }
}

/// A failed expectation or an unexpected report, error or fault.
public struct ExpectationFailure: Sendable, Hashable, CustomStringConvertible {
  public var file: String
  public var line: Int
  public var column: Int
  public var message: String
  public var description: String { "\(file):\(line):\(column): error: \(message)" }
}

/// The result of running one fixture.
public struct FixtureResult: Sendable {
  public var file: String
  /// Parse errors, or a runtime error that stopped the fixture.
  public var diagnostics: [Diagnostic]
  public var outcomes: [StatementOutcome]
  public var failures: [ExpectationFailure]
  /// `--stats` lines, when asked for.
  public var stats: [String]
  public var summary: RunSummary

  /// Whether the fixture passes as a test (`check`).
  public var passed: Bool { diagnostics.isEmpty && failures.isEmpty }
  public var reports: [Report] { outcomes.flatMap(\.reports) }
  /// `run`'s exit status: 2 on errors, 1 when any report, else 0.
  public var exitStatus: Int32 {
    if diagnostics.contains(where: \.isError) { return 2 }
    return reports.isEmpty ? 0 : 1
  }
}

/// Counts for the closing summary.
public struct RunSummary: Sendable, Hashable {
  public var statements: Int = 0
  public var reports: Int = 0
  public var faults: Int = 0
  public var errors: Int = 0
  public var byKind: [String: Int] = [:]
}
