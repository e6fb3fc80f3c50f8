import FixtureLanguage
import FixtureRunner
import Foundation
import Testing

/// One entry of `BadInputs/expected.tsv`: an input, the exit status of
/// `iommusan run` on it and the first line it prints on standard error.
struct BadInput: Sendable, CustomTestStringConvertible {
  /// The file name, or `gen:NAME` for an input the test generates.
  var name: String
  var exitStatus: Int32
  /// The first line of standard error (empty when nothing is printed there).
  var firstLine: String
  /// `--max-ram=SIZE`, `--max-resident=SIZE`, `--cmdline=PARAMS`, as given to `run`.
  var options: [String]

  var testDescription: String { name }
  /// The name diagnostics show.
  var fileName: String { name.hasPrefix("gen:") ? String(name.dropFirst(4)) : name }
}

/// The bad-input corpus (issue: no trap on any input): every file runs
/// through the code path of `iommusan run` and must end with the expected
/// exit status and first diagnostic line, never a crash.
@Suite struct BadInputTests {
  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("BadInputs")

  static let cases: [BadInput] = {
    guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent("expected.tsv").path) else {
      return []
    }
    var out: [BadInput] = []
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
      guard fields.count >= 3, let status = Int32(fields[1]) else { continue }
      let options = fields.count > 3 ? fields[3].split(separator: " ").map(String.init) : []
      out.append(BadInput(name: fields[0], exitStatus: status, firstLine: fields[2], options: options))
    }
    return out
  }()

  /// Inputs too large to commit, made at run time.
  static func generated(_ name: String) -> [UInt8]? {
    switch name {
    case "one-megabyte-line.fixture":
      // One comment line of exactly 1 MiB, then a statement.
      return Array("#".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: (1 << 20) - 1)
        + Array("\nb = alloc_pages\n".utf8)
    case "100k-statements.fixture":
      var text = "iommu vtd0 model=vtd\ndevice nic0 iommu=vtd0\n"
      for _ in 0..<25_000 { text += "b = alloc_pages\nh = dma_map nic0 b size=4K\ndma_unmap h\nfree_pages b\n" }
      return Array(text.utf8)
    case "vmalloc-space-exhausted.fixture":
      // Regression: the 32768th 1G vmalloc used to wrap the vmalloc address
      // past 2^64 (a trap); the vmalloc space now runs out with ENOMEM.
      var text = "# The vmalloc space runs out (32T): ENOMEM, not a wrapped address.\nmemory 8K\n"
      for _ in 0..<32_768 { text += "vmalloc 1G\nexpect error ENOMEM\n" }
      return Array((text + "vmalloc 1G\n").utf8)
    case "garbage-lines.fixture":
      // 20,000 lines of random bytes without NUL or newline.
      var rng = SplitMix64(seed: 0xBAD_1DEA)
      var bytes: [UInt8] = []
      for _ in 0..<20_000 {
        for _ in 0..<(rng.next() % 64) {
          var b = UInt8(truncatingIfNeeded: rng.next())
          if b == 0x0A { b = 0x20 }
          bytes.append(b)
        }
        bytes.append(0x0A)
      }
      return bytes
    case "scattered-maps-resident-limit.fixture":
      // Regression: leaf tables were written without charging their frames,
      // and each carried 4 KiB of epochs: 120,000 such maps reached 1.16 GB
      // under --max-resident 1M.
      return Array(ResidentLimitFixtures.scatteredMaps(5_000).utf8)
    case "domains-resident-limit.fixture":
      // Regression: domains (about 6 KB each) were not counted at all.
      return Array(ResidentLimitFixtures.domains(2_000).utf8)
    default:
      return nil
    }
  }

  /// What `iommusan run` does with its options.
  static func runOptions(_ options: [String]) throws -> RunOptions {
    var o = RunOptions()
    for option in options {
      let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
      guard parts.count == 2 else { throw BadManifest(message: "option \(option) has no value") }
      switch parts[0] {
      case "--cmdline": o.cmdline = parts[1]
      case "--max-ram": o.maximumRAM = try SizeArgument.parse(parts[1]).get()
      case "--max-resident": o.maximumResident = try SizeArgument.parse(parts[1]).get()
      default: throw BadManifest(message: "unknown option \(option)")
      }
    }
    return o
  }

  struct BadManifest: Error { var message: String }

  @Test(arguments: cases)
  func badInput(_ input: BadInput) throws {
    let bytes: [UInt8]
    if input.name.hasPrefix("gen:") {
      bytes = try #require(Self.generated(input.fileName), "no generator for \(input.name)")
    } else {
      let data = try #require(
        FileManager.default.contents(atPath: Self.directory.appendingPathComponent(input.name).path))
      bytes = [UInt8](data)
    }
    let result = FixtureRunner.run(file: input.fileName, source: bytes, options: try Self.runOptions(input.options))
    let stderr = RunOutputRenderer(format: .kernel).stderr(result)
    let first =
      stderr.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
    #expect(result.exitStatus == input.exitStatus, "exit status of \(input.name)")
    #expect(first == input.firstLine, "first diagnostic of \(input.name)")
    // Both renderers handle whatever the run produced.
    #expect(!RunOutputRenderer(format: .kernel).stdout(result).isEmpty)
    #expect(!RunOutputRenderer(format: .json).stdout(result).isEmpty)
  }

  /// The corpus is complete: at least 25 inputs, and every file has a line.
  @Test func manifestCoversTheCorpus() throws {
    #expect(Self.cases.count >= 25)
    let files = try FileManager.default.contentsOfDirectory(atPath: Self.directory.path).filter {
      $0.hasSuffix(".fixture")
    }
    let listed = Set(Self.cases.map(\.name))
    for f in files { #expect(listed.contains(f), "\(f) has no line in expected.tsv") }
    for c in Self.cases where !c.name.hasPrefix("gen:") {
      #expect(files.contains(c.name), "\(c.name) is listed but missing")
    }
  }
}
