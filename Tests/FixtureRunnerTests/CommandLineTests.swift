import FixtureRunner
import Foundation
import Testing

/// The `iommusan` binary `swift build --build-tests` puts beside the test bundle.
enum BuiltBinary {
  static let url: URL? = {
    let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [directory, directory.deletingLastPathComponent()] {
      let url = candidate.appendingPathComponent("iommusan")
      if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    return nil
  }()
}

/// The `iommusan` binary's terminal habits.
@Suite(.enabled(if: BuiltBinary.url != nil, "the iommusan binary is built beside the tests"))
struct CommandLineTests {
  static var binary: URL? { BuiltBinary.url }

  struct Output {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs `executable` (default: iommusan) with `arguments` and `environment` added to this one's.
  static func run(
    _ arguments: [String], executable: URL? = nil, environment: [String: String] = [:], removing: [String] = []
  ) throws -> Output {
    let process = Process()
    process.executableURL = try #require(executable ?? binary)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    for name in removing { env.removeValue(forKey: name) }
    process.environment = env
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Output(
      status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
      stderr: String(decoding: stderr, as: UTF8.self))
  }

  static func fixture(_ name: String, _ text: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("iommusan-cli-\(getpid())-\(name)")
    try Data(text.utf8).write(to: url)
    return url.path
  }

  /// `help help` explains `help` (it used to be "Unknown subcommand 'help'").
  @Test func helpHelp() throws {
    let r = try Self.run(["help", "help"])
    #expect(r.status == 0)
    #expect(r.stdout.contains("USAGE: iommusan help [<subcommand>]"))
    #expect(try Self.run(["help", "rnu"]).stderr.contains("Unknown subcommand 'rnu' (did you mean 'run'?)"))
  }

  /// `help bench` spells one-letter options as its usage line does: `-t`, not `--t`.
  @Test func helpBenchSpellsShortOptions() throws {
    let r = try Self.run(["help", "bench"])
    #expect(r.stdout.contains("\n  -t <threads> "))
    #expect(!r.stdout.contains("--t "))
    #expect(try Self.run(["bench", "-t"]).stderr.contains("Missing value for '-t <threads>'"))
  }

  /// The README's usage lines name every option the help does.
  @Test func readmeUsageLinesAreComplete() throws {
    let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("README.md")
    let text = try String(contentsOf: readme, encoding: .utf8)
    for command in ["run", "check", "replay", "bench"] {
      let usage = try #require(
        text.split(separator: "\n").first { $0.hasPrefix("    iommusan \(command) ") }, "README has no \(command) line")
      let help = try Self.run(["help", command]).stdout
      for line in help.split(separator: "\n") where line.hasPrefix("  -") && !line.hasPrefix("  -h, --help") {
        let option = String(line.dropFirst(2).prefix { $0 != " " })
        // -n and -b are accepted for dma_map_benchmark compatibility only.
        if ["-n", "-b"].contains(option) { continue }
        #expect(
          usage.contains(option + " ") || usage.contains(option + "]"), "README's \(command) line lacks \(option)")
      }
    }
  }

  /// Piped: no colour, no progress line, and standard output byte for byte
  /// what the renderer makes; a parse error shows its line and a caret.
  @Test func pipedOutputIsPlain() throws {
    let bad = try Self.fixture("bad.fixture", "iommu vtd0 model=vtd\nh = dma_map nic buf size=4K\n")
    let r = try Self.run(["run", bad], removing: ["NO_COLOR"])
    #expect(r.status == 2)
    #expect(!r.stderr.contains("\u{1B}"))
    #expect(
      r.stderr.split(separator: "\n").dropFirst().prefix(2) == ["h = dma_map nic buf size=4K", "            ^"])
    let good = try Self.fixture(
      "good.fixture", "iommu vtd0 model=vtd\ndevice nic iommu=vtd0\nb = alloc_pages\nfree_pages b\nfree_pages b\n")
    let g = try Self.run(["run", good])
    let expected = RunOutputRenderer(format: .kernel).stdout(FixtureRunner.run(path: good))
    #expect(g.stdout == expected)
    #expect(!g.stderr.contains("iommusan: run:"))
  }

  /// On a terminal (a pseudo-terminal made by script(1)) diagnostics are
  /// coloured as clang's, and not with NO_COLOR set to a non-empty value.
  @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")))
  func colourOnATerminalUnlessNoColor() throws {
    let bad = try Self.fixture("colour.fixture", "bogus\n")
    let script = URL(fileURLWithPath: "/usr/bin/script")
    let command = "\(try #require(Self.binary).path) run \(bad)"
    let coloured = try Self.run(["-qec", command, "/dev/null"], executable: script, removing: ["NO_COLOR"])
    #expect(coloured.stdout.contains("\u{1B}[0;1;31merror: "))
    #expect(coloured.stdout.contains("\u{1B}[0;1;32m^"))
    let plain = try Self.run(["-qec", command, "/dev/null"], executable: script, environment: ["NO_COLOR": "1"])
    #expect(plain.stdout.contains("error: unknown statement 'bogus'"))
    #expect(!plain.stdout.contains("\u{1B}"))
    // An empty NO_COLOR does not count (no-color.org).
    let empty = try Self.run(["-qec", command, "/dev/null"], executable: script, environment: ["NO_COLOR": ""])
    #expect(empty.stdout.contains("\u{1B}[0;1;31merror: "))
  }

  /// `replay` names the kernel release the trace records (here perf's
  /// `# os release :` header), in text and HTML; without one, `run`'s default.
  @Test func replayUsesTheTracesRelease() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let trace = try String(
      contentsOf: root.appendingPathComponent("Fixtures/traces/freed-while-mapped-kmem.trace"), encoding: .utf8)
    let header = "# ========\n# hostname : acme\n# os release : 6.12.9-acme\n# ========\n#\n"
    let path = try Self.fixture("release.trace", header + trace)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let html = path + ".html"
    defer { try? FileManager.default.removeItem(atPath: html) }
    let r = try Self.run(["replay", "--no-progress", "--html", html, path])
    #expect(r.stdout.contains(" Not tainted 6.12.9-acme #1 "))
    #expect(!r.stdout.contains("-iommusan"))
    #expect(try String(contentsOfFile: html, encoding: .utf8).contains(" Not tainted 6.12.9-acme #1 "))
    let plain = try Self.fixture("plain.trace", trace)
    defer { try? FileManager.default.removeItem(atPath: plain) }
    #expect(try Self.run(["replay", "--no-progress", plain]).stdout.contains(" Not tainted 7.0.11-iommusan #1 "))
  }

  /// `run --html` prints the run's `emu.kernel=` release, as its text does.
  @Test func runHTMLFollowsEmuKernel() throws {
    let path = try Self.fixture(
      "release.fixture", "cmdline \"emu.kernel=7.0.0\"\nbuf = alloc_pages\nfree_pages buf\nfree_pages buf\n")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let html = path + ".html"
    defer { try? FileManager.default.removeItem(atPath: html) }
    let r = try Self.run(["run", "--html", html, path])
    #expect(r.stdout.contains(" Not tainted 7.0.0-iommusan #1 "))
    #expect(try String(contentsOfFile: html, encoding: .utf8).contains(" Not tainted 7.0.0-iommusan #1 "))
  }
}

extension CommandLineTests {
  /// `explore --jobs 2` finds what `--jobs 1` finds (keys, preemptions,
  /// schedules), and prints the same bytes every time.
  @Test func exploreJobsAgreeAndAreDeterministic() throws {
    let fixture = repositoryRoot + "/Fixtures/explore/debug-pagealloc-check-race.fixture"
    func record(_ out: String) throws -> [String: Any] {
      let line = try #require(out.split(separator: "\n").last { $0.hasPrefix("{\"explore\"") })
      let top = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      return try #require(top["explore"] as? [String: Any])
    }
    func findings(_ r: [String: Any]) -> [String] {
      ((r["findings"] as? [[String: Any]]) ?? []).map { "\($0["key"] ?? "") \($0["preemptions"] ?? "")" }.sorted()
    }
    let one = try Self.run(["explore", "--all", "--format", "json", "--jobs", "1", fixture])
    let two = try Self.run(["explore", "--all", "--format", "json", "--jobs", "2", fixture])
    let again = try Self.run(["explore", "--all", "--format", "json", "--jobs", "2", fixture])
    #expect(one.status == 1 && two.status == 1)
    #expect(two.stdout == again.stdout)
    let r1 = try record(one.stdout)
    let r2 = try record(two.stdout)
    #expect(r2["shards"] as? [Int] == [0, 1])
    #expect(r1["schedules"] as? Int == r2["schedules"] as? Int)
    #expect(r1["complete"] as? Bool == true && r2["complete"] as? Bool == true)
    #expect(findings(r1) == findings(r2))
    #expect(!findings(r1).isEmpty)
    let kernel1 = try Self.run(["explore", "--all", "--jobs", "2", fixture])
    let kernel2 = try Self.run(["explore", "--all", "--jobs", "2", fixture])
    #expect(kernel1.stdout == kernel2.stdout)
  }

  /// `explore --html`: the finding's schedule as `explore` prints it (and
  /// `run --schedule` takes it), its run's timeline with a lane for each
  /// task block, the device and the IOTLB; in a browser with JavaScript
  /// blocked, the same lanes are in the DOM.
  @Test func exploreWritesTheFindingsScheduleAndTimelines() throws {
    let fixture = repositoryRoot + "/Fixtures/explore/lazy-flush-queue-race.fixture"
    let html = FileManager.default.temporaryDirectory.appendingPathComponent("iommusan-explore-\(getpid()).html").path
    defer { try? FileManager.default.removeItem(atPath: html) }
    let r = try Self.run(["explore", "--html", html, fixture])
    #expect(r.status == 1, "\(r.stderr)")
    let schedule = try #require(
      r.stdout.components(separatedBy: "schedule '").dropFirst().first?.components(separatedBy: "'").first)
    let page = try String(contentsOfFile: html, encoding: .utf8)
    #expect(page.contains("<td><code class=\"schedule\">\(schedule)</code></td>"))
    #expect(page.contains("iommusan run --schedule &#39;\(schedule)&#39; \(fixture)"))
    #expect(page.contains("dma-use-after-free lazy_flush_queue_race_dma_nic0"))
    let lanes = HTMLBrowserTests.sections(page).first?.lanes ?? []
    for task in ["cpu", "timer", "nic"] {
      #expect(lanes.contains { $0 == "task:\(task)" || $0.hasPrefix("task:\(task)/") }, "\(lanes)")
    }
    #expect(lanes.contains("device:nic0") && lanes.contains("cache:vtd0 IOTLB"), "\(lanes)")
    // The run under that schedule reports as `run --schedule` does.
    let replay = try Self.run(["run", "--schedule", schedule, fixture])
    #expect(replay.stdout.contains("DMA use-after-free"))
    guard Browser.available else { return }
    let (dom, err) = try Browser.run(["--dump-dom"], file: html, javaScript: false)
    #expect(Browser.consoleMessages(err).isEmpty, "\(Browser.consoleMessages(err))")
    #expect(HTMLBrowserTests.sections(dom).first?.lanes == lanes)
    #expect(dom.contains("<code class=\"schedule\">\(schedule)</code>"))
  }
}
