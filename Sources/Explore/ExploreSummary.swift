import FixtureLanguage
import Foundation
import Reports

/// What an exploration of one fixture found, without the runs: the `explore`
/// record of the JSON output, and what `iommusan merge` adds up over shards.
package struct ExploreSummary: Sendable, Hashable {
  package struct Finding: Sendable, Hashable {
    /// `KIND SITE`.
    package var key: String
    package var schedule: String
    package var preemptions: Int
  }

  package struct Expectation: Sendable, Hashable {
    package var line: Int
    package var column: Int
    package var text: String
    package var quantifier: String
    /// Schedules where the check held.
    package var held: Int
    /// The first schedule where it held (some, none) or did not (all), if any.
    package var witness: String?
    /// `count=N`: the schedules it must hold in, exactly.
    package var count: Int? = nil

    /// Whether the line holds over `schedules` schedules.
    package func holds(of schedules: Int) -> Bool {
      let q = ScheduleExpectation.Quantifier(rawValue: quantifier) ?? .all
      return ScheduleExpectation.holds(quantifier: q, count: count, seen: held, schedules: schedules)
    }

    /// What the line's check saw, whatever its quantifier: `reported in 6 of
    /// 20 schedules; first in 'cpu:3,nic:1'` (`clean in` for `no-report`;
    /// `; not in` the first schedule that broke an `all` line).
    package func tally(of schedules: Int) -> String {
      let what = text.hasSuffix(" no-report") ? "clean" : "reported"
      let first = witness.map { quantifier == "all" ? "; not in '\($0)'" : "; first in '\($0)'" } ?? ""
      return "\(what) in \(held) of \(Plural.count(schedules, "schedule"))\(first)"
    }
  }

  package var file: String
  package var mode: String
  /// nil: exhaustive.
  package var preemptionBound: Int?
  package var shardCount: Int
  /// The shards (0-based) this summary covers.
  package var shards: [Int]
  package var schedules: Int
  package var pruned: Int
  /// Alternatives the partial-order reduction skipped.
  package var reduced: Int
  /// Whether each shard covered explored its whole part.
  package var complete: Bool
  package var findings: [Finding]
  package var expectations: [Expectation]

  package init(_ r: ExploreResult) {
    file = r.file
    mode = r.mode
    preemptionBound = r.preemptionBound
    shardCount = r.shard.count
    shards = [r.shard.index]
    schedules = r.schedules
    pruned = r.pruned
    reduced = r.reduced
    complete = r.complete
    findings = r.findings.map { Finding(key: $0.key, schedule: $0.schedule.description, preemptions: $0.preemptions) }
    expectations = r.expectations.map {
      Expectation(
        line: $0.expectation.location.line, column: $0.expectation.location.column, text: $0.expectation.text,
        quantifier: $0.expectation.quantifier.rawValue, held: $0.held, witness: $0.witness?.description,
        count: $0.expectation.count)
    }
  }

  /// `systematic, at most 2 preemptions`, `exhaustive`.
  package var searchDescription: String {
    guard let b = preemptionBound else { return mode }
    return "\(mode), at most \(Plural.count(b, "preemption"))"
  }

  /// Whether every shard of `shardCount` is here and complete.
  package var coversAll: Bool { complete && Set(shards) == Set(0..<shardCount) }

  /// The failed `expect schedules=` lines (only decided once every shard is in).
  package var expectationFailures: [String] {
    guard Set(shards) == Set(0..<shardCount) else { return [] }
    return expectations.compactMap { e in
      e.holds(of: schedules)
        ? nil : "\(file):\(e.line):\(e.column): error: expected '\(e.text)': \(e.tally(of: schedules))"
    }
  }

  /// Adds another shard's summary of the same fixture and search: schedules
  /// and counts add up; of two findings with one key, the one with fewer
  /// preemptions (then the shorter, then the smaller schedule string) stays.
  package mutating func add(_ other: ExploreSummary) throws(ScheduleError) {
    guard other.file == file, other.mode == mode, other.preemptionBound == preemptionBound,
      other.shardCount == shardCount
    else {
      throw ScheduleError(
        message:
          "cannot merge \(other.file) (\(other.searchDescription), \(other.shardCount) shards) into \(file) (\(searchDescription), \(shardCount) shards)"
      )
    }
    if let twice = other.shards.first(where: shards.contains) {
      throw ScheduleError(message: "shard \(twice)/\(shardCount) of \(file) is given twice")
    }
    shards = (shards + other.shards).sorted()
    schedules += other.schedules
    pruned += other.pruned
    reduced += other.reduced
    complete = complete && other.complete
    for f in other.findings {
      if let k = findings.firstIndex(where: { $0.key == f.key }) {
        let a = findings[k]
        if (f.preemptions, f.schedule.count, f.schedule) < (a.preemptions, a.schedule.count, a.schedule) {
          findings[k] = f
        }
      } else {
        findings.append(f)
      }
    }
    findings.sort { $0.key < $1.key }
    for (k, e) in other.expectations.enumerated() where k < expectations.count {
      expectations[k].held += e.held
      if let w = e.witness, expectations[k].witness.map({ (w.count, w) < ($0.count, $0) }) ?? true {
        expectations[k].witness = w
      }
    }
  }

  /// The `{"explore": {...}}` JSON Lines record.
  package var jsonRecord: String {
    JSONLinesRenderer.record([
      "explore": .object([
        JSONMember("file", .string(file)), JSONMember("mode", .string(mode)),
        JSONMember("preemptions", preemptionBound.map { .int(Int64($0)) } ?? .null),
        JSONMember("shard_count", .int(Int64(shardCount))),
        JSONMember("shards", .array(shards.map { .int(Int64($0)) })),
        JSONMember("schedules", .int(Int64(schedules))), JSONMember("pruned", .int(Int64(pruned))),
        JSONMember("reduced", .int(Int64(reduced))), JSONMember("complete", .bool(complete)),
        JSONMember(
          "findings",
          .array(
            findings.map {
              .object([
                JSONMember("key", .string($0.key)), JSONMember("schedule", .string($0.schedule)),
                JSONMember("preemptions", .int(Int64($0.preemptions))),
              ])
            })),
        JSONMember(
          "expectations",
          .array(
            expectations.map {
              .object([
                JSONMember("line", .int(Int64($0.line))), JSONMember("column", .int(Int64($0.column))),
                JSONMember("text", .string($0.text)), JSONMember("quantifier", .string($0.quantifier)),
                JSONMember("held", .int(Int64($0.held))),
                JSONMember("witness", $0.witness.map { .string($0) } ?? .null),
                JSONMember("count", $0.count.map { .int(Int64($0)) } ?? .null),
              ])
            })),
      ])
    ])
  }

  /// Reads the `explore` records of a JSON Lines text (other lines are skipped).
  package static func records(in text: String) throws(ScheduleError) -> [ExploreSummary] {
    var out: [ExploreSummary] = []
    for (n, line) in text.split(separator: "\n").enumerated() where line.hasPrefix("{\"explore\"") {
      guard let data = line.data(using: .utf8),
        let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        let e = top["explore"] as? [String: Any], let summary = ExploreSummary(json: e)
      else {
        throw ScheduleError(message: "line \(n + 1): not an explore record")
      }
      out.append(summary)
    }
    return out
  }

  private init?(json e: [String: Any]) {
    func int(_ any: Any?) -> Int? { (any as? NSNumber)?.intValue }
    let bound = int(e["preemptions"])
    guard let file = e["file"] as? String, let mode = e["mode"] as? String, bound != nil || e["preemptions"] is NSNull,
      let shardCount = int(e["shard_count"]), let shards = (e["shards"] as? [Any])?.compactMap(int),
      let schedules = int(e["schedules"]), let pruned = int(e["pruned"]), let complete = e["complete"] as? Bool,
      let findings = e["findings"] as? [[String: Any]], let expectations = e["expectations"] as? [[String: Any]]
    else { return nil }
    self.file = file
    self.mode = mode
    preemptionBound = bound
    self.shardCount = shardCount
    self.shards = shards
    self.schedules = schedules
    self.pruned = pruned
    reduced = int(e["reduced"]) ?? 0
    self.complete = complete
    var fs: [Finding] = []
    for f in findings {
      guard let key = f["key"] as? String, let s = f["schedule"] as? String, let p = int(f["preemptions"]) else {
        return nil
      }
      fs.append(Finding(key: key, schedule: s, preemptions: p))
    }
    self.findings = fs
    var es: [Expectation] = []
    for x in expectations {
      guard let line = int(x["line"]), let column = int(x["column"]), let text = x["text"] as? String,
        let q = x["quantifier"] as? String, let held = int(x["held"])
      else { return nil }
      es.append(
        Expectation(
          line: line, column: column, text: text, quantifier: q, held: held, witness: x["witness"] as? String,
          count: int(x["count"])))
    }
    self.expectations = es
  }
}
