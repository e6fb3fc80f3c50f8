import FixtureLanguage
import FixtureRunner
import Foundation
import KernelTypes
import Synchronization
import Testing

/// How `iommusan run` reads its fixtures (issue 15 items 6 and 7): standard
/// input, FIFOs, errors that name the errno, and the parser's warnings.
@Suite(.serialized) struct InputTests {
  static let fixture = "iommu mmu0 model=vtd\ndevice nic iommu=mmu0\nb = alloc_pages\nfree_pages b\n"

  /// A fresh directory for one test.
  static func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "iommusan-input-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }

  /// Runs `path` with `text` behind standard input (a pipe dup'ed onto fd 0).
  static func runWithStandardInput(_ path: String, _ text: String) throws -> FixtureResult {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    let saved = dup(0)
    defer {
      dup2(saved, 0)
      close(saved)
    }
    dup2(fds[0], 0)
    close(fds[0])
    let input = fds[1]
    let writer = Thread {
      _ = text.utf8CString.withUnsafeBufferPointer { write(input, $0.baseAddress, $0.count - 1) }
      close(input)
    }
    writer.start()
    return FixtureRunner.run(path: path)
  }

  @Test func dashReadsStandardInput() throws {
    let r = try Self.runWithStandardInput("-", Self.fixture)
    #expect(r.file == "<stdin>")
    #expect(r.diagnostics.isEmpty && r.summary.statements == 4)
  }

  @Test func devStdinReadsStandardInput() throws {
    let r = try Self.runWithStandardInput("/dev/stdin", Self.fixture)
    #expect(r.diagnostics.isEmpty && r.summary.statements == 4)
  }

  @Test func fifo() throws {
    let dir = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/in.fixture"
    try #require(mkfifo(path, 0o600) == 0)
    let writer = Thread { try? Self.fixture.write(toFile: path, atomically: false, encoding: .utf8) }
    writer.start()
    let r = FixtureRunner.run(path: path)
    #expect(r.diagnostics.isEmpty && r.summary.statements == 4)
  }

  /// `cannot read file` names the errno and gives no invented line and column.
  @Test func unreadableFilesNameTheErrno() throws {
    let dir = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (path, reason) in [
      (dir, "is a directory (EISDIR)"), (dir + "/missing.fixture", "no such file or directory (ENOENT)"),
      (dir + "/missing/x.fixture", "no such file or directory (ENOENT)"),
    ] {
      let r = FixtureRunner.run(path: path)
      #expect(r.diagnostics.map(\.description) == ["\(path): error: cannot read file: \(reason)"])
      #expect(r.exitStatus == 2)
      #expect(RunOutputRenderer(format: .kernel).stderr(r) == "\(path): error: cannot read file: \(reason)\n")
    }
  }

  @Test(.enabled(if: geteuid() != 0, "root reads a file whatever its mode, so EACCES cannot be provoked"))
  func permissionDenied() throws {
    let dir = try Self.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/locked.fixture"
    try Self.fixture.write(toFile: path, atomically: false, encoding: .utf8)
    try #require(chmod(path, 0) == 0)
    let r = FixtureRunner.run(path: path)
    #expect(r.diagnostics.map(\.description) == ["\(path): error: cannot read file: permission denied (EACCES)"])
  }

  /// The parser's warnings reach standard error with their location; they
  /// change neither the exit status nor standard output, and `check` passes.
  @Test func warningsArePrintedAndChangeNothingElse() {
    let plain = Self.fixture + "device nic2 iommu=mmu0\ndma nic2 read 0x1000\nexpect fault\n"
    let warned = Self.fixture + "device nic2 iommu=mmu0\ndma nic2 read 0x1000 value=5\nexpect fault\n"
    let a = FixtureRunner.run(file: "w.fixture", source: Array(plain.utf8))
    let b = FixtureRunner.run(file: "w.fixture", source: Array(warned.utf8))
    #expect(
      b.warnings.map(\.description) == [
        "w.fixture:6:28: warning: value= has no effect on a read; use 'expect value=N' to check what it reads"
      ])
    #expect(b.exitStatus == a.exitStatus && b.passed && a.passed)
    for format in OutputFormat.allCases {
      let r = RunOutputRenderer(format: format)
      #expect(r.stdout(b) == r.stdout(a))
      #expect(r.stderr(b) == b.warnings[0].description + "\n")
    }
  }

  /// Warnings come with the errors of a fixture that does not run, in line order.
  @Test func warningsBesideErrors() {
    let text = Self.fixture + "dma nic read 0x1000 value=5\nbogus\n"
    let r = FixtureRunner.run(file: "w.fixture", source: Array(text.utf8))
    #expect(
      RunOutputRenderer(format: .kernel).stderr(r) == """
        w.fixture:5:27: warning: value= has no effect on a read; use 'expect value=N' to check what it reads
        w.fixture:6:1: error: unknown statement 'bogus'

        """)
    #expect(r.exitStatus == 2)
  }

  /// A second `device` or `iommu` of a name is refused before anything runs
  /// (it used to create a second device, or fail with EEXIST at run time).
  @Test func redefinitionIsAnError() {
    for text in [
      "iommu mmu0 model=vtd\niommu mmu0 model=vtd\n",
      "iommu mmu0 model=vtd\ndevice nic iommu=mmu0\nd = domain mmu0\nattach nic d\ndevice nic iommu=mmu0\ndetach nic\n",
    ] {
      let r = FixtureRunner.run(file: "r.fixture", source: Array(text.utf8))
      #expect(r.exitStatus == 2 && r.outcomes.isEmpty)
      #expect(r.errors.count == 1 && r.errors[0].message.contains("cannot be defined again"))
    }
  }

  /// `run` and `check` get their progress line from `RunOptions.progress`:
  /// lines read while the file is parsed, then statements run every 4096.
  @Test func progressIsReported() throws {
    var text = "iommu vtd0 model=vtd\ndevice nic iommu=vtd0\n"
    for _ in 0..<5000 { text += "b = alloc_pages\nfree_pages b\n" }
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("iommusan-progress-\(getpid()).fixture")
    try Data(text.utf8).write(to: path)
    defer { try? FileManager.default.removeItem(at: path) }
    let seen = Mutex<[RunProgress]>([])
    var options = RunOptions()
    options.progress = { p in seen.withLock { $0.append(p) } }
    let result = FixtureRunner.run(path: path.path, options: options)
    #expect(result.summary.statements == 10_002)
    let steps = seen.withLock { $0 }
    #expect(steps.first == RunProgress(file: path.path, linesRead: 10_002, statementsRun: nil, statements: 0))
    #expect(steps.compactMap(\.statementsRun) == [4096, 8192])
    #expect(steps.last?.statements == 10_002)
  }
}
