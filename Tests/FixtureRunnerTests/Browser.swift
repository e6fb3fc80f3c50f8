import Dispatch
import Foundation

/// A headless Chromium for the HTML tests: `IOMMUSAN_CHROMIUM`, or the
/// first of `chromium`, `chromium-browser`, `google-chrome` on `PATH`.
/// Tests that need it are skipped where there is none.
enum Browser {
  static let path: String? = {
    let env = ProcessInfo.processInfo.environment
    if let p = env["IOMMUSAN_CHROMIUM"], FileManager.default.isExecutableFile(atPath: p) { return p }
    for dir in (env["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
      for name in ["chromium", "chromium-browser", "google-chrome"] {
        let p = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: p) { return p }
      }
    }
    return nil
  }()

  static var available: Bool { path != nil }

  /// Runs the browser headless on a file with `arguments`; returns its
  /// standard output and standard error. Killed after `timeout` seconds.
  ///
  /// With `javaScript: false` the profile blocks JavaScript for every site
  /// (the content setting of chrome://settings/content/javascript, in the
  /// profile's `Default/Preferences`): the page's scripts do not run, while
  /// `--dump-dom` and `--screenshot` still work. (With
  /// `--blink-settings=scriptEnabled=false` headless Chromium 156 prints
  /// no DOM and writes no screenshot: both go through script.)
  static func run(
    _ arguments: [String], file: String, javaScript: Bool = true, timeout: Double = 90
  ) throws -> (out: String, err: String) {
    guard let path else { throw BrowserError(message: "no browser") }
    let profile = NSTemporaryDirectory() + "iommusan-chromium-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: profile) }
    if !javaScript {
      try FileManager.default.createDirectory(atPath: profile + "/Default", withIntermediateDirectories: true)
      try #"{"profile":{"default_content_setting_values":{"javascript":2}}}"#.write(
        toFile: profile + "/Default/Preferences", atomically: true, encoding: .utf8)
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments =
      [
        "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)",
        "--enable-logging=stderr", "--v=0",
      ] + arguments + [URL(fileURLWithPath: file).absoluteString]
    let outPipe = Pipe()
    let errPipe = Pipe()
    p.standardOutput = outPipe
    p.standardError = errPipe
    let done = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in done.signal() }
    // Read both pipes while the browser runs, so that neither fills up.
    let group = DispatchGroup()
    let box = OutputBox()
    for (pipe, isOut) in [(outPipe, true), (errPipe, false)] {
      DispatchQueue.global().async(group: group) {
        let d = pipe.fileHandleForReading.readDataToEndOfFile()
        box.set(d, isOut: isOut)
      }
    }
    try p.run()
    if done.wait(timeout: .now() + timeout) == .timedOut {
      p.terminate()
      _ = done.wait(timeout: .now() + 5)
      throw BrowserError(message: "\(path) took more than \(timeout) s")
    }
    group.wait()
    return (String(decoding: box.out, as: UTF8.self), String(decoding: box.err, as: UTF8.self))
  }

  /// The console messages of a page load (`--enable-logging=stderr --v=0`
  /// prints them as `INFO:CONSOLE(...)`): errors, uncaught exceptions, logs.
  static func consoleMessages(_ stderr: String) -> [String] {
    stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") || $0.contains("Uncaught") }.map(String.init)
  }
}

struct BrowserError: Error, CustomStringConvertible {
  var message: String
  var description: String { message }
}

private final class OutputBox: @unchecked Sendable {
  private let lock = NSLock()
  private(set) var out = Data()
  private(set) var err = Data()
  func set(_ d: Data, isOut: Bool) {
    lock.lock()
    if isOut { out = d } else { err = d }
    lock.unlock()
  }
}

/// Just enough of PNG to look at a screenshot: 8-bit RGB or RGBA,
/// non-interlaced (what Chromium writes), zlib inflated here.
struct PNGImage {
  var width: Int
  var height: Int
  /// RGB triples, row by row.
  var pixels: [UInt8]

  init(_ data: [UInt8]) throws {
    guard data.count > 8, data[0..<8].elementsEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) else {
      throw BrowserError(message: "not a PNG")
    }
    var i = 8
    var idat: [UInt8] = []
    var (w, h, colorType, depth) = (0, 0, 0, 0)
    func be32(_ at: Int) -> Int { data[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
    while i + 8 <= data.count {
      let length = be32(i)
      let type = String(decoding: data[i + 4..<i + 8], as: UTF8.self)
      let body = i + 8
      guard body + length <= data.count else { throw BrowserError(message: "truncated PNG") }
      switch type {
      case "IHDR":
        (w, h, depth, colorType) = (be32(body), be32(body + 4), Int(data[body + 8]), Int(data[body + 9]))
        guard data[body + 12] == 0 else { throw BrowserError(message: "interlaced PNG") }
      case "IDAT": idat += data[body..<body + length]
      default: break
      }
      i = body + length + 4
    }
    guard depth == 8, colorType == 2 || colorType == 6, w > 0, h > 0 else {
      throw BrowserError(message: "PNG depth \(depth) colour type \(colorType)")
    }
    let bpp = colorType == 6 ? 4 : 3
    let raw = try Inflate.zlib(idat)
    let stride = w * bpp
    guard raw.count >= h * (stride + 1) else { throw BrowserError(message: "short PNG data") }
    var prev = [UInt8](repeating: 0, count: stride)
    var rgb: [UInt8] = []
    rgb.reserveCapacity(w * h * 3)
    for y in 0..<h {
      let filter = raw[y * (stride + 1)]
      var row = Array(raw[y * (stride + 1) + 1..<(y + 1) * (stride + 1)])
      for x in 0..<stride {
        let a = x >= bpp ? Int(row[x - bpp]) : 0
        let b = Int(prev[x])
        let c = x >= bpp ? Int(prev[x - bpp]) : 0
        let add: Int
        switch filter {
        case 1: add = a
        case 2: add = b
        case 3: add = (a + b) / 2
        case 4:
          let p = a + b - c
          let (pa, pb, pc) = (abs(p - a), abs(p - b), abs(p - c))
          add = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
        default: add = 0
        }
        row[x] = UInt8(truncatingIfNeeded: Int(row[x]) + add)
      }
      for x in 0..<w { rgb += row[x * bpp..<x * bpp + 3] }
      prev = row
    }
    (width, height, pixels) = (w, h, rgb)
  }

  /// How many distinct colours the image has (up to `limit`).
  func distinctColours(limit: Int = 1 << 16) -> Int {
    var seen: Set<UInt32> = []
    var k = 0
    while k + 2 < pixels.count, seen.count < limit {
      seen.insert(UInt32(pixels[k]) << 16 | UInt32(pixels[k + 1]) << 8 | UInt32(pixels[k + 2]))
      k += 3
    }
    return seen.count
  }

  /// Pixels for which `match(r, g, b)` holds.
  func count(where match: (UInt8, UInt8, UInt8) -> Bool) -> Int {
    var n = 0
    var k = 0
    while k + 2 < pixels.count {
      if match(pixels[k], pixels[k + 1], pixels[k + 2]) { n += 1 }
      k += 3
    }
    return n
  }
}

/// RFC 1950/1951 inflate, for the screenshot test.
enum Inflate {
  static func zlib(_ d: [UInt8]) throws -> [UInt8] {
    guard d.count > 2 else { throw BrowserError(message: "short zlib stream") }
    var s = BitReader(data: d, byte: 2)
    var out: [UInt8] = []
    var final = false
    while !final {
      final = try s.bits(1) == 1
      switch try s.bits(2) {
      case 0:
        s.alignToByte()
        let len = try s.bits(16)
        _ = try s.bits(16)
        for _ in 0..<len { out.append(UInt8(try s.bits(8))) }
      case 1:
        try block(&s, &out, Huffman(lengths: fixedLiteralLengths), Huffman(lengths: Array(repeating: 5, count: 30)))
      case 2:
        let hlit = try s.bits(5) + 257
        let hdist = try s.bits(5) + 1
        let hclen = try s.bits(4) + 4
        let order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
        var cl = [Int](repeating: 0, count: 19)
        for k in 0..<hclen { cl[order[k]] = try s.bits(3) }
        let clh = Huffman(lengths: cl)
        var lengths: [Int] = []
        while lengths.count < hlit + hdist {
          let sym = try clh.decode(&s)
          switch sym {
          case 0..<16: lengths.append(sym)
          case 16:
            guard let last = lengths.last else { throw BrowserError(message: "bad code lengths") }
            lengths += Array(repeating: last, count: 3 + (try s.bits(2)))
          case 17: lengths += Array(repeating: 0, count: 3 + (try s.bits(3)))
          default: lengths += Array(repeating: 0, count: 11 + (try s.bits(7)))
          }
        }
        try block(
          &s, &out, Huffman(lengths: Array(lengths[0..<hlit])), Huffman(lengths: Array(lengths[hlit..<hlit + hdist])))
      default: throw BrowserError(message: "bad deflate block")
      }
    }
    return out
  }

  static let fixedLiteralLengths =
    Array(repeating: 8, count: 144) + Array(repeating: 9, count: 112) + Array(repeating: 7, count: 24)
    + Array(repeating: 8, count: 8)
  static let lengthBase = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
  ]
  static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
  static let distBase = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
  ]
  static let distExtra = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
  ]

  static func block(_ s: inout BitReader, _ out: inout [UInt8], _ lit: Huffman, _ dist: Huffman) throws {
    while true {
      let sym = try lit.decode(&s)
      if sym < 256 {
        out.append(UInt8(sym))
      } else if sym == 256 {
        return
      } else {
        let li = sym - 257
        guard li < lengthBase.count else { throw BrowserError(message: "bad length") }
        let length = lengthBase[li] + (try s.bits(lengthExtra[li]))
        let di = try dist.decode(&s)
        guard di < distBase.count else { throw BrowserError(message: "bad distance") }
        let distance = distBase[di] + (try s.bits(distExtra[di]))
        guard distance <= out.count else { throw BrowserError(message: "distance too far") }
        let start = out.count - distance
        for k in 0..<length { out.append(out[start + k]) }
      }
    }
  }

  struct BitReader {
    var data: [UInt8]
    var byte: Int
    var bit = 0
    init(data: [UInt8], byte: Int) {
      self.data = data
      self.byte = byte
    }
    mutating func bits(_ n: Int) throws -> Int {
      var v = 0
      for k in 0..<n {
        guard byte < data.count else { throw BrowserError(message: "truncated deflate stream") }
        v |= Int(data[byte] >> bit & 1) << k
        bit += 1
        if bit == 8 { (bit, byte) = (0, byte + 1) }
      }
      return v
    }
    mutating func alignToByte() { if bit != 0 { (bit, byte) = (0, byte + 1) } }
  }

  /// Canonical Huffman decoding, one bit at a time (counts and symbols per length).
  struct Huffman {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int] = []
    init(lengths: [Int]) {
      for l in lengths { counts[l] += 1 }
      counts[0] = 0
      var offsets = [Int](repeating: 0, count: 16)
      for l in 1..<16 { offsets[l] = offsets[l - 1] + counts[l - 1] }
      symbols = [Int](repeating: 0, count: lengths.count)
      for (sym, l) in lengths.enumerated() where l != 0 {
        symbols[offsets[l]] = sym
        offsets[l] += 1
      }
    }
    func decode(_ s: inout BitReader) throws -> Int {
      var code = 0
      var first = 0
      var index = 0
      for l in 1..<16 {
        code |= try s.bits(1)
        let count = counts[l]
        if code - first < count { return symbols[index + code - first] }
        index += count
        first = (first + count) << 1
        code <<= 1
      }
      throw BrowserError(message: "bad Huffman code")
    }
  }
}
