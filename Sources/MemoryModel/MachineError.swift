import KernelTypes

/// A failed machine operation: the errno plus, where useful, why.
public struct MachineError: Error, Sendable, Hashable, CustomStringConvertible {
  public var errno: Errno
  public var reason: String
  public init(_ errno: Errno, _ reason: String = "") {
    self.errno = errno
    self.reason = reason
  }
  public var description: String { reason.isEmpty ? errno.name : "\(errno.name) (\(reason))" }
}
