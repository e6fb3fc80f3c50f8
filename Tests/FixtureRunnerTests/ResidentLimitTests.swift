import FixtureRunner
import Foundation
import Testing

/// Fixtures that grow the machine without bound, for the resident limit.
enum ResidentLimitFixtures {
  /// `count` 4K maps 2M apart: each needs its own leaf table.
  static func scatteredMaps(_ count: Int) -> String {
    var text = "iommu smmu0 model=smmuv3\nd = domain smmu0\nbuf = alloc_pages\n"
    for i in 0..<count { text += "iommu_map d iova=0x\(String(UInt64(i) << 21, radix: 16)) phys=buf size=4K\n" }
    return text
  }

  /// `count` paging domains.
  static func domains(_ count: Int) -> String {
    var text = "iommu smmu0 model=smmuv3\n"
    for i in 0..<count { text += "d\(i) = domain smmu0\n" }
    return text
  }
}

/// Peak resident memory of `iommusan run` stays within `--max-resident`
/// plus the fixed overhead docs/Robustness.md states (issue 15 item 4).
@Suite struct ResidentLimitTests {
  /// The `iommusan` built beside this test bundle.
  static var executable: String? {
    guard let me = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    let path = URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("iommusan").path
    return FileManager.default.isExecutableFile(atPath: path) ? path : nil
  }

  /// The overhead docs/Robustness.md states: 32 MiB for the process (a
  /// debug build's is larger than a release build's 20 MB) and 1 KiB per
  /// statement run (the parsed statement, or a loop iteration's outcome and
  /// bindings).
  static func allowance(limit: UInt64, statements: Int) -> UInt64 {
    limit + (32 << 20) + UInt64(statements) * 1024
  }

  /// `VmHWM` of a live process, in KiB.
  static func highWaterMarkKiB(_ pid: pid_t) -> UInt64? {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/status") else { return nil }
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("VmHWM:") {
      return UInt64(line.dropFirst(6).filter(\.isNumber))
    }
    return nil
  }

  /// Runs `iommusan run --max-resident LIMIT` on `text`; its exit status,
  /// standard error, the statements it ran (its summary line) and peak RSS
  /// in bytes (the child's VmHWM).
  static func run(_ text: String, limit: String) throws -> (
    status: Int32, stderr: String, statements: Int, peak: UInt64
  ) {
    let exe = try #require(executable, "iommusan is not built beside the tests")
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "resident-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("big.fixture")
    try Data(text.utf8).write(to: file)
    let errFile = dir.appendingPathComponent("stderr").path
    let outFile = dir.appendingPathComponent("stdout").path
    // ru_maxrss cannot be used: posix_spawn shares the test process's memory
    // until exec, and exec keeps that high-water mark in the child's
    // ru_maxrss. VmHWM of /proc/PID/status is the child's own image's peak;
    // it only grows, so the last reading before the exit is the peak, give or
    // take the last millisecond.
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 1, outFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, errFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    let args = [exe, "run", "--max-resident", limit, file.path]
    var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
    defer { for a in argv { free(a) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, exe, &actions, nil, &argv, environ)
    try #require(rc == 0, "posix_spawn: \(rc)")
    var status: Int32 = 0
    var peakKiB: UInt64 = 0
    while true {
      if let hwm = Self.highWaterMarkKiB(pid) { peakKiB = max(peakKiB, hwm) }
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid || (r < 0 && errno != EINTR) { break }
      usleep(1000)
    }
    let stderr = String(decoding: FileManager.default.contents(atPath: errFile) ?? Data(), as: UTF8.self)
    let stdout = String(decoding: FileManager.default.contents(atPath: outFile) ?? Data(), as: UTF8.self)
    try #require(peakKiB > 0, "no VmHWM reading of the child")
    // The summary: `iommusan: FILE: N statements, ...`.
    let summary = stdout.split(separator: "\n").last { $0.hasPrefix("iommusan: ") && $0.contains(" statements, ") }
    let statements = summary.flatMap { line in
      line.components(separatedBy: " statements, ").first?.split(separator: " ").last.flatMap { Int($0) }
    }
    return ((status >> 8) & 0xff, stderr, statements ?? 0, peakKiB * 1024)  // WEXITSTATUS
  }

  @Test(.serialized, arguments: [("maps", 20_000, "8M"), ("domains", 40_000, "16M")])
  func peakResidentStaysWithinTheLimit(_ kind: String, _ count: Int, _ limit: String) throws {
    let text = kind == "maps" ? ResidentLimitFixtures.scatteredMaps(count) : ResidentLimitFixtures.domains(count)
    let (status, stderr, _, peak) = try Self.run(text, limit: limit)
    #expect(status == 2)
    #expect(stderr.contains("passed the limit on resident emulated memory (\(limit); in use: "))
    #expect(stderr.contains("raise it with --max-resident"))
    let bytes: UInt64 = (UInt64(limit.dropLast()) ?? 0) << 20
    #expect(peak <= Self.allowance(limit: bytes, statements: count + 3), "peak RSS \(peak >> 20) MiB")
  }

  /// Loops that fill the caches, the DMA state and the slab: the statements
  /// are few, the state large; peak RSS stays within the limit plus the
  /// overhead of the statements run.
  @Test(.serialized, arguments: ["iotlb", "dma-maps", "kmallocs", "lazy-unmaps", "map-count-sections"])
  func loopsThatFillTheMachineStayWithinTheLimit(_ kind: String) throws {
    let text =
      switch kind {
      case "iotlb": ResidentLimitFixtures.iotlbFill(200_000)
      case "dma-maps": ResidentLimitFixtures.dmaMaps(200_000)
      case "kmallocs": ResidentLimitFixtures.kmallocs(500_000)
      // Regression: 60,000 such maps took 1.97 GB under --max-resident 16M.
      case "map-count-sections": ResidentLimitFixtures.scatteredPhysicalPages(60_000, memory: "1T")
      default: ResidentLimitFixtures.lazyUnmapsThenKmallocs()
      }
    let limit = "16M"
    let (status, stderr, statements, peak) = try Self.run(text, limit: limit)
    #expect(status == 2)
    #expect(stderr.contains("passed the limit on resident emulated memory (\(limit); in use: "))
    #expect(statements > 400)
    #expect(peak <= Self.allowance(limit: 16 << 20, statements: statements), "peak RSS \(peak >> 20) MiB")
  }
}
