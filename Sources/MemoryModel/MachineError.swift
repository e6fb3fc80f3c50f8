import KernelTypes

/// A failed machine operation: the errno plus, where useful, why.
package struct MachineError: Error, Sendable, Hashable, CustomStringConvertible {
  package var errno: Errno
  package var reason: String
  package init(_ errno: Errno, _ reason: String = "") {
    self.errno = errno
    self.reason = reason
  }
  package var description: String { reason.isEmpty ? errno.name : "\(errno.name) (\(reason))" }
}

extension MachineError {
  /// A structure could not grow: the resident budget refused it (`--max-resident`).
  package static let residentLimit = MachineError(.ENOMEM, "the emulator's resident-memory limit was reached")
}
