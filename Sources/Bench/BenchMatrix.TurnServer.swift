import Dispatch
import Foundation

extension BenchMatrix {
  /// A worker process serving turns (`bench-worker --serve`).
  final class TurnServer {
    let proc = Process()
    let input = Pipe()
    let output = Pipe()
    /// The worker's standard error, read when it fails.
    let errors: URL
    var buffer: [UInt8] = []
    /// The longest a turn may take before the worker counts as hung: a
    /// turn is 25 ms, or one iteration (a 1G unmap under kernel
    /// accounting takes about 30 ms here).
    static let timeoutMS: Int32 = 60_000

    /// Starts a worker; `layout` sizes its environment, so that its stack
    /// lands at a different offset from its siblings' even where address
    /// randomization is off.
    init(binary: String, _ c: BenchCase, variants: [BenchVariant], layout: Int) throws(BenchError) {
      proc.executableURL = URL(fileURLWithPath: binary)
      let interleave = variants.map(\.label).joined(separator: ",")
      proc.arguments = BenchMatrix.workerArguments(c, seconds: 1) + ["--serve", "--interleave", interleave]
      // Swift seeds its hashing per process, and the seed moves the
      // model's dictionaries, and a process's speed, by up to 15%: every
      // worker gets the same seed, so the binaries are compared on equal tables.
      proc.environment = ProcessInfo.processInfo.environment.merging([
        "SWIFT_DETERMINISTIC_HASHING": "1", "IOMMUSAN_BENCH_LAYOUT": String(repeating: "x", count: 1 + layout * 1040),
      ]) { $1 }
      proc.standardInput = input
      proc.standardOutput = output
      let name = "iommusan-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
      errors = FileManager.default.temporaryDirectory.appendingPathComponent(name)
      _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
      proc.standardError = try? FileHandle(forWritingTo: errors)
      do { try proc.run() } catch { throw BenchError(message: "\(binary) did not start: \(error)") }
    }

    deinit { try? FileManager.default.removeItem(at: errors) }

    /// One turn of variant `v`, or why the worker failed (it is then stopped).
    func turn(_ v: Int, ns: UInt64) -> Result<BenchSample, BenchError> {
      do { try input.fileHandleForWriting.write(contentsOf: Data("\(v) \(ns)\n".utf8)) } catch {
        return .failure(stop("the worker exited"))
      }
      let fd = output.fileHandleForReading.fileDescriptor
      var chunk = [UInt8](repeating: 0, count: 4096)
      while true {
        if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
          let line = String(decoding: buffer[..<nl], as: UTF8.self)
          buffer.removeSubrange(...nl)
          guard let sample = BenchSample(json: line), sample.iterations > 0 else {
            return .failure(stop("unreadable answer: \(line.prefix(80))"))
          }
          return .success(sample)
        }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&pfd, 1, Self.timeoutMS)
        if ready == 0 { return .failure(stop("no answer within \(Self.timeoutMS / 1000) s")) }
        if ready < 0 {
          if errno == EINTR { continue }
          return .failure(stop("poll: errno \(errno)"))
        }
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return .failure(stop("the worker exited")) }
        buffer += chunk[..<n]
      }
    }

    /// Stops the worker; the reason, with the first line it wrote to standard error.
    private func stop(_ why: String) -> BenchError {
      reap(after: 0)
      let said = (try? String(contentsOf: errors, encoding: .utf8))?.split(separator: "\n").first.map(String.init)
      return BenchError(message: said.map { "\(why): \($0)" } ?? why)
    }

    /// Ends the worker (end of input), killing it if it does not exit within 5 s.
    func finish() {
      try? input.fileHandleForWriting.close()
      reap(after: 5)
    }

    /// Waits up to `seconds` for the worker to exit, then kills it, and
    /// reaps it. `Process` does not notice a child's exit without a run
    /// loop, and its `waitUntilExit()` can wait forever for one killed by a
    /// signal, so this waits with `waitpid()` itself.
    private func reap(after seconds: Double) {
      let pid = proc.processIdentifier
      guard pid > 0 else { return }
      var status: Int32 = 0
      let deadline = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
      while true {
        let r = waitpid(pid, &status, WNOHANG)
        if r == pid || (r < 0 && errno != EINTR) { return }  // exited, or already reaped
        if DispatchTime.now().uptimeNanoseconds >= deadline { break }
        usleep(10_000)
      }
      kill(pid, SIGKILL)
      while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
  }
}
