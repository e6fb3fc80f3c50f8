// swift-format-ignore-file: AlwaysUseLowerCamelCase
// Kernel names (EPERM, SZ_4K's K/M/G) keep the kernel's spelling.

/// A Linux error number: what the kernel's API returns on failure, and what
/// `expect error ERRNO` names.
///
/// Compare `code`: aliases (`EWOULDBLOCK`, `EDEADLOCK`) share the code of the
/// name they alias.
package struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
  /// The name as written (`EINVAL`).
  package var name: String
  /// The positive error number (`EINVAL` is 22); x86-64 and generic values.
  package var code: Int32

  package init(name: String, code: Int32) {
    self.name = name
    self.code = code
  }

  /// The errno with this name; nil for an unknown name.
  package init?(named name: String) {
    guard let code = Errno.known[name] else { return nil }
    self.init(name: name, code: code)
  }

  /// The errno of a name in the table below (a program constant, never input).
  private init(known name: String) { self.init(name: name, code: Errno.known[name]!) }

  /// The canonical errno with this code (aliases excluded); nil if unknown.
  package init?(code: Int32) {
    guard let entry = Errno.knownInOrder.first(where: { $0.1 == code }) else { return nil }
    self.init(name: entry.0, code: code)
  }

  package var description: String { name }

  // The errnos the emulator returns.

  package static let EPERM = Errno(known: "EPERM")
  package static let ENOENT = Errno(known: "ENOENT")
  package static let ESRCH = Errno(known: "ESRCH")
  package static let EIO = Errno(known: "EIO")
  package static let ENXIO = Errno(known: "ENXIO")
  package static let E2BIG = Errno(known: "E2BIG")
  package static let EBADF = Errno(known: "EBADF")
  package static let EAGAIN = Errno(known: "EAGAIN")
  package static let ENOMEM = Errno(known: "ENOMEM")
  package static let EACCES = Errno(known: "EACCES")
  package static let EFAULT = Errno(known: "EFAULT")
  package static let EBUSY = Errno(known: "EBUSY")
  package static let EEXIST = Errno(known: "EEXIST")
  package static let ENODEV = Errno(known: "ENODEV")
  package static let EINVAL = Errno(known: "EINVAL")
  package static let ENOSPC = Errno(known: "ENOSPC")
  package static let ERANGE = Errno(known: "ERANGE")
  package static let EOVERFLOW = Errno(known: "EOVERFLOW")
  package static let EOPNOTSUPP = Errno(known: "EOPNOTSUPP")
  package static let EADDRINUSE = Errno(known: "EADDRINUSE")
  package static let ETIMEDOUT = Errno(known: "ETIMEDOUT")

  /// Every accepted name and its code.
  package static let known: [String: Int32] = {
    var table: [String: Int32] = [:]
    for (name, code) in knownInOrder { table[name] = code }
    return table
  }()

  /// Every accepted name and its code, canonical names before their aliases.
  package static let knownInOrder: [(String, Int32)] = [
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
