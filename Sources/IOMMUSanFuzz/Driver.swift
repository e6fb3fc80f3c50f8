#if !IOMMUSAN_LIBFUZZER
  #if canImport(Glibc)
    import Glibc
  #elseif canImport(Musl)
    import Musl
  #elseif canImport(Darwin)
    import Darwin
  #endif
  import Foundation
  import SplitMix

  /// Without libFuzzer: a replay driver (run files and folders of inputs, as
  /// libFuzzer does when given files) and a small coverage-blind mutation
  /// loop, the fallback where `-sanitize=fuzzer` is not available.
  ///
  ///     IOMMUSanFuzz FILE|DIR...                         run each input once
  ///     IOMMUSanFuzz --mutate SECONDS [--seed N] [--artifacts DIR] DIR...
  ///
  /// A trap kills the process; in mutation mode a signal handler first
  /// writes the input to `DIR/crash-<n>` so it can be replayed.
  @main
  struct FuzzDriver {
    static func main() {
      var args = Array(CommandLine.arguments.dropFirst())
      var seconds: Double?
      var seed: UInt64 = 0x1_0BAD_5EED
      var artifacts = "fuzz-out/crashes"
      while let first = args.first, first.hasPrefix("--") {
        args.removeFirst()
        guard let value = args.first else { usage() }
        args.removeFirst()
        switch first {
        case "--mutate": seconds = Double(value)
        case "--seed": seed = UInt64(value) ?? seed
        case "--artifacts": artifacts = value
        default: usage()
        }
      }
      let inputs = files(args)
      if let seconds {
        mutate(seeds: inputs.compactMap(read), seconds: seconds, seed: seed, artifacts: artifacts)
      } else {
        guard !inputs.isEmpty else { usage() }
        for f in inputs {
          guard let bytes = read(f) else { continue }
          FuzzTarget.run(bytes)
          print("ok \(f)")
        }
        print("\(inputs.count) inputs ran without a crash")
      }
    }

    static func usage() -> Never {
      FileHandle.standardError.write(
        Data("usage: IOMMUSanFuzz FILE|DIR... | --mutate SECONDS [--seed N] [--artifacts DIR] DIR...\n".utf8))
      exit(2)
    }

    static func read(_ path: String) -> [UInt8]? {
      FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// Files as given, folders walked, sorted.
    static func files(_ paths: [String]) -> [String] {
      var out: [String] = []
      for p in paths {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: p, isDirectory: &isDir) else { continue }
        if !isDir.boolValue {
          out.append(p)
          continue
        }
        let e = FileManager.default.enumerator(atPath: p)
        while let rel = e?.nextObject() as? String {
          let full = p + "/" + rel
          var d: ObjCBool = false
          if FileManager.default.fileExists(atPath: full, isDirectory: &d), !d.boolValue { out.append(full) }
        }
      }
      return out.sorted()
    }

    // MARK: - Mutation loop

    static func mutate(seeds: [[UInt8]], seconds: Double, seed: UInt64, artifacts: String) {
      try? FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
      CrashCapture.install(path: artifacts + "/crash-\(getpid())")
      var rng = SplitMix64(seed: seed)
      let corpus = seeds.isEmpty ? [Array("iommu vtd0 model=vtd\n".utf8)] : seeds
      let start = Date()
      var executions = 0
      while Date().timeIntervalSince(start) < seconds {
        var input = corpus[Int(rng.next() % UInt64(corpus.count))]
        let rounds = 1 + Int(rng.next() % 8)
        for _ in 0..<rounds { Mutator.apply(&input, corpus: corpus, rng: &rng) }
        if input.count > 8192 { input.removeLast(input.count - 8192) }
        CrashCapture.set(input)
        FuzzTarget.run(input)
        executions += 1
      }
      let elapsed = Date().timeIntervalSince(start)
      print(
        "Done \(executions) runs in \(Int(elapsed)) second(s) (\(Int(Double(executions) / max(elapsed, 0.001))) exec/s), no crash"
      )
    }
  }

  /// Byte and token mutations in the spirit of libFuzzer's.
  enum Mutator {
    static let tokens: [String] = [
      "0", "1", "0x0", "0xffffffffffffffff", "18446744073709551615", "18446744073709551616", "0x8000000000000000",
      "0xfffffffffffff000", "0x7fffffffffffffff", "4K", "2M", "1G", "1T", "16383T", "16384T", "63", "64", "1048576",
      "0x1_0000_0000_0000", "999999999999999999999s", "18446744073709551615s", "10ms", "+", "-", "=", "\"", "\\", "#",
      "@irq ", "\n", " ", "size=", "iova=", "phys=", "order=", "len=", "value=", "width=", "pasid=", "base=", "page=",
      "mmio=", "offline=", "gfp=", "prot=", "dir=", "type=", "model=", "granule=", "pgsizes=", "iotlb=", "walk-cache=",
      "b = alloc_pages order=10\n", "d = domain vtd0\n", "iommu_map d iova=0 phys=b size=", "dma nic0 write 0 len=",
      "iommu_unmap d iova=0 size=", "cpu_fill b value=1\n", "cpu_write b+0xff8 value=1\n", "advance ",
      "dma_map nic0 b size=",
      "cmdline \"emu.accounting=kernel\"\n", "memory 1T\n", "memory 4K base=0xfffffffffffff000\n", "type=identity",
      "type=dma",
      "expect report freed-while-mapped count=18446744073709551615\n", "expect unmapped=", "expect phys=b+",
    ]

    static func apply(_ input: inout [UInt8], corpus: [[UInt8]], rng: inout SplitMix64) {
      func pos(_ extra: Int = 0) -> Int { Int(rng.next() % UInt64(input.count + extra + 1)) }
      switch rng.next() % 8 {
      case 0 where !input.isEmpty:  // flip a byte
        input[pos(-1)] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
      case 1 where !input.isEmpty:  // random byte
        input[pos(-1)] = UInt8(truncatingIfNeeded: rng.next())
      case 2 where !input.isEmpty:  // delete a range
        let a = pos(-1)
        let n = min(input.count - a, 1 + Int(rng.next() % 16))
        input.removeSubrange(a..<(a + n))
      case 3, 4:  // insert a token
        let t = tokens[Int(rng.next() % UInt64(tokens.count))]
        input.insert(contentsOf: Array(t.utf8), at: pos())
      case 5 where !input.isEmpty:  // replace a number-ish word with a token
        let a = pos(-1)
        var b = a
        while b < input.count, input[b] != 0x20, input[b] != 0x0A, input[b] != 0x3D { b += 1 }
        let t = tokens[Int(rng.next() % 20)]
        input.replaceSubrange(a..<b, with: Array(t.utf8))
      case 6:  // splice a line of another input
        let other = corpus[Int(rng.next() % UInt64(corpus.count))]
        let lines = other.split(separator: 0x0A, omittingEmptySubsequences: true)
        if let line = lines.isEmpty ? nil : lines[Int(rng.next() % UInt64(lines.count))] {
          input.insert(contentsOf: Array(line) + [0x0A], at: lineStart(input, pos()))
        }
      default:  // duplicate a line
        let lines = input.split(separator: 0x0A, omittingEmptySubsequences: true)
        if let line = lines.isEmpty ? nil : lines[Int(rng.next() % UInt64(lines.count))] {
          input.insert(contentsOf: Array(line) + [0x0A], at: lineStart(input, pos()))
        }
      }
    }

    static func lineStart(_ input: [UInt8], _ at: Int) -> Int {
      var i = min(at, input.count)
      while i > 0, input[i - 1] != 0x0A { i -= 1 }
      return i
    }
  }

  /// Writes the input being run to a file when the process dies of a signal.
  enum CrashCapture {
    nonisolated(unsafe) static var path: [CChar] = []
    nonisolated(unsafe) static var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1 << 16)
    nonisolated(unsafe) static var length = 0

    static func install(path p: String) {
      path = Array(p.utf8CString)
      for sig in [SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGABRT, SIGFPE] {
        signal(sig) { s in
          CrashCapture.path.withUnsafeBufferPointer { p in
            let fd = open(p.baseAddress!, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if fd >= 0 {
              _ = write(fd, CrashCapture.buffer, CrashCapture.length)
              close(fd)
            }
          }
          let msg = "==IOMMUSanFuzz== deadly signal: the input is in the crash file\n"
          _ = msg.withCString { write(2, $0, strlen($0)) }
          signal(s, SIG_DFL)
          raise(s)
        }
      }
    }

    static func set(_ input: [UInt8]) {
      length = min(input.count, 1 << 16)
      guard length > 0 else { return }
      input.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: length) }
    }
  }
#endif
