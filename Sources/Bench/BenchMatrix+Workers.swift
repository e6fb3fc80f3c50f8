import Foundation

extension BenchMatrix {
  /// The arguments of a `bench-worker` that measures `c`.
  static func workerArguments(_ c: BenchCase, seconds: Double) -> [String] {
    var args = [
      "bench-worker", "-t", "\(c.threads)", "-g", "\(c.granulePages)", "-m", c.sgMode ? "sg" : "single",
      "-x", "\(c.delayNS)", "--domains", "\(c.domains)", "-s", "\(seconds)",
    ]
    switch c.direction {
    case .toDevice: args += ["-d", "1"]
    case .fromDevice: args += ["-d", "2"]
    case .bidirectional: break
    }
    return args
  }

  /// Runs one measurement in a child process and reads its JSON line; on
  /// failure, what the child said.
  static func spawn(
    binary: String, _ c: BenchCase, config: BenchConfig, seconds: Double
  ) -> Result<BenchSample, BenchError> {
    let served = config == .compiledOut ? BenchConfig.off : config
    return runChild(binary, workerArguments(c, seconds: seconds) + ["--config", served.rawValue]).flatMap { out in
      let sample = BenchSample(json: out.trimmingCharacters(in: .whitespacesAndNewlines))
      return sample.map { .success($0) } ?? .failure(BenchError(message: "unreadable output"))
    }
  }

  /// Runs a child to its end; its standard output, or the first line of its standard error.
  static func runChild(_ binary: String, _ args: [String]) -> Result<String, BenchError> {
    let proc = Process()
    proc.executableURL = URL(fileURLWithPath: binary)
    proc.arguments = args
    let out = Pipe()
    let err = Pipe()
    proc.standardOutput = out
    proc.standardError = err
    do { try proc.run() } catch { return .failure(BenchError(message: "\(binary) did not start: \(error)")) }
    // Standard error is drained after standard output: workers write at most a line there.
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let said = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    proc.waitUntilExit()
    guard proc.terminationStatus == 0 else {
      let first = said.split(separator: "\n").first.map(String.init)
      return .failure(BenchError(message: first ?? "exit status \(proc.terminationStatus)"))
    }
    return .success(String(decoding: data, as: UTF8.self))
  }
}
