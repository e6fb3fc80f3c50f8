import Reports

extension BenchMatrix {
  /// What `run` prints: the table, the ratios and the goals, as text or as one JSON object.
  func output(rows unordered: [Row], memory: String?, fixture: String?) -> String {
    // By size, threads, then configuration in the cover letter's order.
    func key(_ r: Row) -> [Int] {
      [Int(r.c.granulePages), r.c.threads, BenchConfig.allCases.firstIndex(of: r.config) ?? 0]
    }
    let rows = unordered.sorted { key($0).lexicographicallyPrecedes(key($1)) }
    let ratioRows = ratios(rows)
    let scaling = scaling(rows)
    if json {
      return json(rows: rows, ratios: ratioRows, scaling: scaling, memory: memory, fixture: fixture).serialized + "\n"
    }
    return text(rows: rows, ratios: ratioRows, scaling: scaling, memory: memory, fixture: fixture)
  }

  /// `--json`: the rows, the ratios and the side measurements; figures with
  /// three decimals, null where not measured.
  private func json(rows: [Row], ratios: [Ratios], scaling: Double?, memory: String?, fixture: String?) -> JSONValue {
    func num(_ d: Double?) -> JSONValue { d.map { .fixed($0) } ?? .null }
    func range(_ r: ClosedRange<Double>) -> JSONValue { [num(r.lowerBound), num(r.upperBound)] }
    let results = rows.map { r in
      let result = r.sample.resultJSON(r.c, config: r.config, measured: !r.sample.turns.isEmpty)
      return JSONValue.object(result.members + [JSONMember("turns", JSONValue(r.sample.turns.count))])
    }
    let ratioObjects = ratios.map { r in
      let fields: [(String, Pair?)] = [
        ("exact_over_off", r.exactOverOff), ("off_over_compiled_out", r.offOverCompiledOut),
        ("kernel_over_exact", r.kernelOverExact), ("kernel_cost_us", r.kernelCost), ("exact_cost_us", r.exactCost),
        ("kernel_cost_over_exact_cost", r.costRatio),
      ]
      var members = [JSONMember("case", JSONValue(r.c.label)), JSONMember("threads", JSONValue(r.c.threads))]
      for (name, p) in fields {
        members += [JSONMember(name + "_map", num(p?.map)), JSONMember(name + "_unmap", num(p?.unmap))]
      }
      let byBuild = r.offOverCompiledOutByBuild.map { JSONValue.array([num($0.map), num($0.unmap)]) }
      let spread = r.offOverCompiledOutSpread.map { s -> JSONValue in
        [
          "pairs": JSONValue(s.pairs), "interval_95": JSONValue(s.isInterval), "map": range(s.map),
          "unmap": range(s.unmap),
        ]
      }
      members += [
        JSONMember("off_over_compiled_out_by_build", .array(byBuild)),
        JSONMember("off_over_compiled_out_spread", .optional(spread)),
      ]
      return JSONValue.object(members)
    }
    return [
      "seconds": JSONValue(seconds), "turn_seconds": JSONValue(BenchRig.turnSeconds), "builds": JSONValue(builds.count),
      "layouts": JSONValue(layouts), "results": .array(results), "ratios": .array(ratioObjects),
      "scaling_2_threads": num(scaling), "memory_1t": .optional(memory.map { .verbatim($0) }),
      "fixture_200k": .optional(fixture.map { .verbatim($0) }),
    ]
  }

  /// The table, the ratios and the goals.
  private func text(
    rows: [Row], ratios ratioRows: [Ratios], scaling: Double?, memory: String?, fixture: String?
  ) -> String {
    let mode = base.sgMode ? "SG_MODE" : "SINGLE_MODE"
    var s =
      "iommusan bench --matrix: \(seconds.compact) s per variant in 25 ms turns, \(pairings), \(mode), "
      + "\(base.direction.kernelName), smmuv3 4K, strict; 2-thread cases on 2 domains\n\n"
    s +=
      pad("case", 6) + pad("threads", 9) + pad("config", 17) + pad("map(us)", 10) + pad("std", 9)
      + pad("unmap(us)", 11) + pad("std", 9) + "map+unmap/s\n"
    for r in rows {
      s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad(r.config.rawValue, 17)
      let (map, unmap) = (r.sample.map, r.sample.unmap)
      s +=
        r.sample.turns.isEmpty
        ? "not measured\n"
        : pad(f2(map.avg), 10) + pad(f2(map.std), 9) + pad(f2(unmap.avg), 11) + pad(f2(unmap.std), 9)
          + r.sample.throughput.fixed(0) + "\n"
    }
    func two(_ p: Pair?, _ f: (Double) -> String) -> String { p.map { "\(f($0.map)) / \(f($0.unmap))" } ?? "n/a" }
    s +=
      "\nratios (map / unmap): per worker pair the median over rounds of paired turns, then the median over the "
      + "\(layouts * builds.count) pairs\n"
    s +=
      pad("case", 6) + pad("threads", 9) + pad("exact/off", 16) + pad("off/compiled-out", 19)
      + pad("kernel/exact", 20) + "accounting cost (us), kernel / exact: map; unmap\n"
    for r in ratioRows {
      let cost = r.kernelCost.flatMap { k in
        r.exactCost.map { e in "\(f2(k.map)) / \(e.map.fixed(3)); \(f2(k.unmap)) / \(e.unmap.fixed(3))" }
      }
      s +=
        pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + pad(two(r.exactOverOff, f2), 16)
        + pad(two(r.offOverCompiledOut, f2), 19) + pad(two(r.kernelOverExact, f2), 20) + (cost ?? "n/a") + "\n"
    }
    if builds.count > 1 {
      s +=
        "\noff/compiled-out build by build (each the median over its \(layouts) address layouts), lowest-highest, "
        + "map / unmap\n"
      for r in ratioRows where !r.offOverCompiledOutByBuild.isEmpty {
        let b = r.offOverCompiledOutByBuild
        func span(_ xs: [Double]) -> String { "\(f2(xs.min() ?? .nan))-\(f2(xs.max() ?? .nan))" }
        s += pad(r.c.label, 6) + pad("\(r.c.threads)", 9) + span(b.map(\.map)) + " / " + span(b.map(\.unmap)) + "\n"
      }
    }
    /// A goal line: PASS only when measured and met.
    func goal(_ what: String, _ p: Pair?, _ show: (Double) -> String, _ met: (Double) -> Bool) -> String {
      guard let p else { return "  \(what): not measured FAIL\n" }
      return "  \(what): map \(show(p.map)) unmap \(show(p.unmap)) \(met(p.map) && met(p.unmap) ? "PASS" : "FAIL")\n"
    }
    s += "\ngoals\n"
    for r in ratioRows where r.c.threads == 1 {
      let limit = r.c.granulePages == 1 ? 1.10 : 1.25
      s += goal("exact on/off at \(r.c.label) <= \(f2(limit))x", r.exactOverOff, f2) { $0 <= limit }
    }
    if !hasCompiledOut {
      s += "  compiled-in-off/compiled-out: not measured (no compiled-out binary; see --help)\n"
    } else {
      for r in ratioRows where r.c.threads == 1 {
        let what = "compiled-in-off/compiled-out at \(r.c.label) <= 1.02x"
        var line = goal(what, r.offOverCompiledOut, f2) { $0 <= 1.02 }
        if let sp = r.offOverCompiledOutSpread {
          line.removeLast()
          line +=
            " (\(sp.isInterval ? "95% interval" : "range") over \(sp.pairs) worker pairs: "
            + "map \(f2(sp.map.lowerBound))-\(f2(sp.map.upperBound)), "
            + "unmap \(f2(sp.unmap.lowerBound))-\(f2(sp.unmap.upperBound)))\n"
        }
        s += line
      }
    }
    if let r = ratioRows.first(where: { $0.c.granulePages == 256 && $0.c.threads == 1 }) {
      s += goal(
        "exact accounting >= 5x faster than kernel accounting at 1M (cost added to a call)", r.costRatio,
        { $0.isFinite ? self.f2($0) + "x" : "inf (exact's cost below the noise)" },
        { $0 >= 5 }
      )
    }
    s +=
      "  2 threads on 2 domains >= 1.7x the throughput of 1 (4K, exact): "
      + (scaling.map { "\(f2($0))x \($0 >= 1.7 ? "PASS" : "FAIL")" } ?? "not measured FAIL") + "\n"
    s += "  memory 1T, a few pages touched, < 256 MiB resident: \(memory ?? "not measured")\n"
    s += "  200,000-statement fixture < 5 s: \(fixture ?? "not measured")\n"
    return s
  }

  /// What the ratios are medians over, for the header.
  var pairings: String {
    (builds.count == 1 ? "1 build (code layout)" : "\(builds.count) builds (code layouts)")
      + " x \(layouts) address layouts"
  }

  func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
  func f2(_ d: Double) -> String { d.fixed(2) }
}
