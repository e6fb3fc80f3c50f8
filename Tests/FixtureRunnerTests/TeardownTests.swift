import FixtureLanguage
import IOMMU
import MemoryModel
import Testing

@testable import FixtureRunner

/// A finished run frees its machine: devices and domains, SVA domains and
/// processes, and the sanitizer attached to the machine all point at each
/// other, and `Machine.tearDown()` must break every such cycle, or each
/// run leaks its emulated memory (the fuzzer found this as an
/// out-of-memory after ~500,000 runs).
@Suite struct TeardownTests {
  @Test(arguments: corpus)
  func finishedRunFreesItsMachine(_ path: String) throws {
    weak var machine: Machine?
    weak var memory: PhysicalMemory?
    do {
      let bytes = try #require(readFile(repositoryRoot + "/" + path))
      var parsed = FixtureParser.parse(source: bytes, file: path)
      parsed.diagnostics = []
      let execution = try Execution(parsed: parsed, options: RunOptions())
      machine = execution.machine
      memory = execution.machine.memory
      _ = execution.run()
      execution.machine.tearDown()
    }
    #expect(machine == nil, "the machine of \(path) outlived its run")
    #expect(memory == nil, "the emulated memory of \(path) outlived its run")
  }
}
