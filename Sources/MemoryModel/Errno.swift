/// A Linux errno, the way the kernel's API returns failures.
public enum Errno: String, Error, Sendable, Hashable, CaseIterable {
  case EPERM, ENOENT, EIO, ENXIO, E2BIG, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT, EBUSY, EEXIST
  case ENODEV, EINVAL, ENOSPC, ERANGE, EOPNOTSUPP, ETIMEDOUT, EADDRINUSE, EOVERFLOW, ESRCH

  /// The positive errno value (`-EINVAL` is `-22`).
  public var code: Int32 {
    switch self {
    case .EPERM: 1
    case .ENOENT: 2
    case .EIO: 5
    case .ENXIO: 6
    case .E2BIG: 7
    case .EBADF: 9
    case .EAGAIN: 11
    case .ENOMEM: 12
    case .EACCES: 13
    case .EFAULT: 14
    case .EBUSY: 16
    case .EEXIST: 17
    case .ENODEV: 19
    case .EINVAL: 22
    case .ENOSPC: 28
    case .ERANGE: 34
    case .EOPNOTSUPP: 95
    case .EADDRINUSE: 98
    case .ETIMEDOUT: 110
    case .EOVERFLOW: 75
    case .ESRCH: 3
    }
  }
}

/// A failed machine operation: the errno plus, where useful, why.
public struct MachineError: Error, Sendable, Hashable, CustomStringConvertible {
  public var errno: Errno
  public var reason: String
  public init(_ errno: Errno, _ reason: String = "") {
    self.errno = errno
    self.reason = reason
  }
  public var description: String { reason.isEmpty ? errno.rawValue : "\(errno.rawValue) (\(reason))" }
}
