import Conformance
import FixtureRunner
import KernelTypes
import Testing

@Suite struct ConformanceTests {
  @Test func placeholder() {}
}
