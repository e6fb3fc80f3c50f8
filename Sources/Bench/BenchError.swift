/// Why a measurement failed: what a worker said, or the machine's error.
package struct BenchError: Error {
  package var message: String
}
