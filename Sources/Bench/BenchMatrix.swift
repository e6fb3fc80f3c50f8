import Foundation
import Sanitizer

/// `bench --matrix`: 4K, 1M and 1G at 1 and 2 threads under every
/// configuration, then the ratios and the goals.
///
/// Two kinds of noise move a process's figures, and each ratio is taken so
/// that neither leans on it:
/// - **Time.** Noise on a shared host comes and goes within seconds and
///   moves figures by 20% or more. Workers serve 25 ms turns, and this
///   process hands them out in rounds, each round in a rotated order, so
///   the turns compared saw the same few hundred milliseconds.
/// - **Layout.** Where the stack, the heap and the code land moves one
///   process's speed by up to 10%, the same for every turn it serves; where
///   the linker put the functions moves one build's by up to 4%. So for
///   each size, each build (a binary with the hooks and one without, see
///   `--compiled-in`) has `layouts` workers of each binary: those with the
///   hooks hold off, exact and kernel at 1 and 2 threads on one machine,
///   those without hold off at 1 and 2 threads. Each worker starts with
///   address randomization and its own environment size.
///
/// A ratio is, per worker pair (build and address layout), the median over
/// rounds of the two variants' paired turns, then the median over the
/// pairs. Turns of one worker pair with the same worker (exact against
/// off) or with the other binary's worker of the same pair (off against
/// compiled-out).
package struct BenchMatrix {
  let seconds: Double
  let json: Bool
  /// The builds compared, each one code layout: a binary with the hooks
  /// and, when there is one, a binary without.
  let builds: [(compiledIn: String, compiledOut: String?)]
  var hasCompiledOut: Bool { builds.contains { $0.compiledOut != nil } }
  let base: BenchCase
  /// Worker processes per binary and size, each one draw of the address layout.
  let layouts: Int

  static let granules: [UInt64] = [1, 256, 262_144]
  static let threadCounts = [1, 2]

  /// The matrix of `base` (the granule, threads and domains set per case),
  /// `seconds` per variant, printed as text or with `json` as one object.
  package init(
    base: BenchCase, seconds: Double, builds: [(compiledIn: String, compiledOut: String?)], layouts: Int, json: Bool
  ) {
    self.base = base
    self.seconds = seconds
    self.builds = builds
    self.layouts = layouts
    self.json = json
  }

  /// The running binary, which runs the side measurements and by default
  /// the workers with the hooks.
  package static var selfPath: String { Bundle.main.executablePath ?? CommandLine.arguments[0] }

  /// One row of the table.
  struct Row {
    var c: BenchCase
    var config: BenchConfig
    var sample = BenchSample()
  }

  /// Runs the matrix, sending progress lines (for standard error) to
  /// `progress`; what to print, and what failed.
  package func run(progress: (String) -> Void) -> (output: String, failures: [String]) {
    signal(SIGPIPE, SIG_IGN)  // a worker that died fails its variant, not the run
    // Named compiled-in binaries have the hooks; this one may not.
    let hooked = Sanitizer.isCompiledIn || builds.contains { $0.compiledIn != Self.selfPath }
    let inProcess: [BenchConfig] = hooked ? [.off, .exact, .kernel] : [.off]
    var rows: [Row] = []
    var failures: [String] = []
    for (gi, g) in Self.granules.enumerated() {
      var c = base
      c.granulePages = g
      c.domains = 2  // 2-thread cases run on separate domains, for the scaling goal
      let inVariants = Self.threadCounts.flatMap { t in inProcess.map { BenchVariant(threads: t, config: $0) } }
      let outVariants = Self.threadCounts.map { BenchVariant(threads: $0, config: .off) }
      // One row per configuration and thread count; every worker's turns of it go there.
      func rowIndices(_ variants: [BenchVariant], _ config: (BenchVariant) -> BenchConfig) -> [Int] {
        variants.map { v in
          var rc = c
          rc.threads = v.threads
          rows.append(Row(c: rc, config: config(v)))
          return rows.count - 1
        }
      }
      let inRows = rowIndices(inVariants, \.config)
      let outRows = hasCompiledOut ? rowIndices(outVariants) { _ in .compiledOut } : []
      // Every variant of every worker: its server, its index there, its
      // row, its worker pair (build and address layout), the time it has run.
      var slots: [(server: TurnServer, index: Int, row: Int, pair: Int, elapsed: UInt64)] = []
      var servers: [TurnServer] = []
      for layout in 0..<layouts {
        for (bk, build) in builds.enumerated() {
          let pair = bk * layouts + layout
          var group = [(build.compiledIn, inVariants, inRows)]
          if let out = build.compiledOut { group.append((out, outVariants, outRows)) }
          for (binary, variants, rowsOf) in group {
            let server: TurnServer
            do { server = try TurnServer(binary: binary, c, variants: variants, layout: pair) } catch {
              failures.append("\(c.label): \(error.message)")
              continue
            }
            servers.append(server)
            for (i, row) in rowsOf.enumerated() { slots.append((server, i, row, pair, 0)) }
          }
        }
      }
      // Each worker pair runs a variant for its share of the seconds.
      let budget = max(1, UInt64(seconds * 1e9) / UInt64(layouts * builds.count))
      let turnNS = max(1, min(UInt64(BenchRig.turnSeconds * 1e9), budget))
      var failed = Set<ObjectIdentifier>()
      var round = 0
      func open(_ i: Int) -> Bool {
        !failed.contains(ObjectIdentifier(slots[i].server)) && slots[i].elapsed < budget
      }
      while slots.indices.contains(where: open) {
        progress(
          "\r[\(gi + 1)/\(Self.granules.count)] \(c.label): round \(round + 1), "
            + "\(slots.count) variants of \(servers.count) workers in 25 ms turns" + String(repeating: " ", count: 8))
        for k in slots.indices {
          let i = (k + round) % slots.count
          guard open(i) else { continue }
          let slot = slots[i]
          switch slot.server.turn(slot.index, ns: min(turnNS, budget - slot.elapsed)) {
          case .success(var t):
            for j in t.turns.indices {
              t.turns[j].round = round
              t.turns[j].pair = slot.pair
            }
            slots[i].elapsed += t.elapsedNS
            rows[slot.row].sample.add(t)
          case .failure(let e):
            failed.insert(ObjectIdentifier(slot.server))
            let r = rows[slot.row]
            failures.append("\(r.c.label) x\(r.c.threads) \(r.config.rawValue), worker pair \(slot.pair): \(e.message)")
          }
        }
        round += 1
      }
      for s in servers { s.finish() }
    }
    progress("\r" + String(repeating: " ", count: 80) + "\r")
    func side(_ flag: String) -> String? {
      switch Self.runChild(Self.selfPath, ["bench-worker", flag]) {
      case .success(let out): return out.trimmingCharacters(in: .whitespacesAndNewlines)
      case .failure(let e):
        failures.append("\(flag): \(e.message)")
        return nil
      }
    }
    let memory = side("--memory-test")
    let fixture = side("--fixture-test")
    return (output(rows: rows, memory: memory, fixture: fixture), failures)
  }

}
