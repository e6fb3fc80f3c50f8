/// A Linux error number, as named by `expect error ERRNO`.
///
/// Compare `code`: aliases (`EWOULDBLOCK`, `EDEADLOCK`) share the code of the
/// name they alias.
public struct Errno: Sendable, Hashable, CustomStringConvertible {
  /// The name as written (`EINVAL`).
  public var name: String
  /// The positive error number (`EINVAL` is 22); x86-64 and generic values.
  public var code: Int32

  public init(name: String, code: Int32) {
    self.name = name
    self.code = code
  }

  /// The errno with this name; nil for an unknown name.
  public init?(named name: String) {
    guard let code = Errno.known[name] else { return nil }
    self.init(name: name, code: code)
  }

  /// The canonical errno with this code (aliases excluded); nil if unknown.
  public init?(code: Int32) {
    guard let entry = Errno.knownInOrder.first(where: { $0.1 == code }) else { return nil }
    self.init(name: entry.0, code: code)
  }

  public var description: String { name }

  // The errnos fixtures name most often.

  /// Operation not permitted.
  public static let EPERM = Errno(name: "EPERM", code: 1)
  public static let ENOENT = Errno(name: "ENOENT", code: 2)
  public static let EIO = Errno(name: "EIO", code: 5)
  public static let EAGAIN = Errno(name: "EAGAIN", code: 11)
  public static let ENOMEM = Errno(name: "ENOMEM", code: 12)
  public static let EFAULT = Errno(name: "EFAULT", code: 14)
  public static let EBUSY = Errno(name: "EBUSY", code: 16)
  public static let EEXIST = Errno(name: "EEXIST", code: 17)
  public static let ENODEV = Errno(name: "ENODEV", code: 19)
  public static let EINVAL = Errno(name: "EINVAL", code: 22)
  public static let ENOSPC = Errno(name: "ENOSPC", code: 28)
  public static let ERANGE = Errno(name: "ERANGE", code: 34)
  public static let EOPNOTSUPP = Errno(name: "EOPNOTSUPP", code: 95)
  public static let EADDRINUSE = Errno(name: "EADDRINUSE", code: 98)
  public static let ETIMEDOUT = Errno(name: "ETIMEDOUT", code: 110)

  /// Every accepted name and its code.
  public static let known: [String: Int32] = {
    var table: [String: Int32] = [:]
    for (name, code) in knownInOrder { table[name] = code }
    return table
  }()

  /// Every accepted name and its code, canonical names before their aliases.
  public static let knownInOrder: [(String, Int32)] = [
    ("EPERM", 1), ("ENOENT", 2), ("ESRCH", 3), ("EINTR", 4), ("EIO", 5), ("ENXIO", 6),
    ("E2BIG", 7), ("ENOEXEC", 8), ("EBADF", 9), ("ECHILD", 10), ("EAGAIN", 11),
    ("ENOMEM", 12), ("EACCES", 13), ("EFAULT", 14), ("ENOTBLK", 15), ("EBUSY", 16),
    ("EEXIST", 17), ("EXDEV", 18), ("ENODEV", 19), ("ENOTDIR", 20), ("EISDIR", 21),
    ("EINVAL", 22), ("ENFILE", 23), ("EMFILE", 24), ("ENOTTY", 25), ("ETXTBSY", 26),
    ("EFBIG", 27), ("ENOSPC", 28), ("ESPIPE", 29), ("EROFS", 30), ("EMLINK", 31),
    ("EPIPE", 32), ("EDOM", 33), ("ERANGE", 34), ("EDEADLK", 35), ("ENAMETOOLONG", 36),
    ("ENOLCK", 37), ("ENOSYS", 38), ("ENOTEMPTY", 39), ("ELOOP", 40), ("ENOMSG", 42),
    ("EIDRM", 43), ("ENODATA", 61), ("ETIME", 62), ("ENOLINK", 67), ("EPROTO", 71),
    ("EBADMSG", 74), ("EOVERFLOW", 75), ("EILSEQ", 84), ("EUSERS", 87), ("ENOTSOCK", 88),
    ("EMSGSIZE", 90), ("EPROTONOSUPPORT", 93), ("EOPNOTSUPP", 95), ("EAFNOSUPPORT", 97),
    ("EADDRINUSE", 98), ("EADDRNOTAVAIL", 99), ("ENETDOWN", 100), ("ENETUNREACH", 101),
    ("ECONNABORTED", 103), ("ECONNRESET", 104), ("ENOBUFS", 105), ("EISCONN", 106),
    ("ENOTCONN", 107), ("ESHUTDOWN", 108), ("ETIMEDOUT", 110), ("ECONNREFUSED", 111),
    ("EHOSTUNREACH", 113), ("EALREADY", 114), ("EINPROGRESS", 115), ("ESTALE", 116),
    ("EREMOTEIO", 121), ("EDQUOT", 122), ("ENOMEDIUM", 123), ("ECANCELED", 125),
    ("ENOKEY", 126), ("EKEYEXPIRED", 127), ("EOWNERDEAD", 130), ("ERFKILL", 132),
    ("EHWPOISON", 133),
    // Kernel-internal codes that drivers and the IOMMU core return.
    ("ERESTARTSYS", 512), ("EPROBE_DEFER", 517), ("ENOIOCTLCMD", 515), ("ENOTSUPP", 524),
    // Aliases.
    ("EWOULDBLOCK", 11), ("EDEADLOCK", 35), ("ENOTSUP", 95),
  ]
}
