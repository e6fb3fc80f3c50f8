#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Why an input file could not be read: its path and the errno that `open(2)`,
/// `fstat(2)` or `read(2)` gave.
package struct InputFileError: Error, Sendable, Hashable, CustomStringConvertible {
  package var path: String
  /// The errno (`ENOENT`, `EACCES`, `EISDIR`, ...).
  package var code: Int32

  package init(path: String, code: Int32) {
    self.path = path
    self.code = code
  }

  /// The C library's text for the errno, lower case, and its name: `no such file or directory (ENOENT)`.
  package var reason: String { InputFileError.reason(code) }

  /// `PATH: REASON`.
  package var description: String { "\(path): \(reason)" }

  /// The text of an errno, as `reason` gives it.
  package static func reason(_ code: Int32) -> String {
    let name = Errno(code: code)?.name ?? "errno \(code)"
    guard let s = strerror(code) else { return name }
    var text = String(cString: s)
    if let first = text.first, first.isUppercase, text.dropFirst().first?.isLowercase ?? true {
      text = first.lowercased() + text.dropFirst()
    }
    return "\(text) (\(name))"
  }
}

/// Reading an input (a fixture, a trace) from a path, or from standard input
/// for `-`, in fixed-size chunks with `read(2)`: regular files, `/dev/stdin`,
/// pipes and FIFOs alike, and never more than one chunk in memory.
package enum InputFile {
  /// The path that means standard input.
  package static let standardInputPath = "-"
  /// The size of one `read(2)`.
  package static let chunkSize = 1 << 20

  /// Calls `body` with each chunk of the file at `path` (`-`: standard input)
  /// until the end of the file or until `body` returns false.
  package static func read(
    path: String, chunkSize: Int = InputFile.chunkSize, _ body: (UnsafeRawBufferPointer) -> Bool
  ) throws(InputFileError) {
    if path == standardInputPath {
      try read(fileDescriptor: 0, name: path, chunkSize: chunkSize, body)
      return
    }
    var fd: Int32
    repeat { fd = open(path, O_RDONLY | O_CLOEXEC) } while fd < 0 && errno == EINTR
    guard fd >= 0 else { throw InputFileError(path: path, code: errno) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw InputFileError(path: path, code: errno) }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw InputFileError(path: path, code: EISDIR) }
    try read(fileDescriptor: fd, name: path, chunkSize: chunkSize, body)
  }

  /// Calls `body` with each chunk readable from `fd` (not closed); `name` is
  /// the path errors give.
  package static func read(
    fileDescriptor fd: Int32, name: String, chunkSize: Int = InputFile.chunkSize,
    _ body: (UnsafeRawBufferPointer) -> Bool
  ) throws(InputFileError) {
    let size = max(1, chunkSize)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
    defer { buffer.deallocate() }
    while true {
      let n = systemRead(fd, buffer.baseAddress, size)
      if n < 0 {
        if errno == EINTR { continue }
        throw InputFileError(path: name, code: errno)
      }
      if n == 0 { return }
      guard body(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) else { return }
    }
  }
}

/// `read(2)` (inside `InputFile` the name is its own).
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
  read(fd, buffer, count)
}
