import KernelTypes
import MemoryModel
import Testing

/// The driver context every test call runs in.
package let ctx = CallContext(
  task: EmulatedTask(pid: 100, tgid: 100, comm: "kunit"),
  caller: KernelFrame("test_driver", module: "kunit", isDriver: true))

/// The errno a call fails with, or nil when it succeeds.
package func errno<T>(_ body: () throws -> T) -> Errno? {
  do {
    _ = try body()
    return nil
  } catch let error as MachineError {
    return error.errno
  } catch {
    Issue.record("unexpected error \(error)")
    return nil
  }
}
