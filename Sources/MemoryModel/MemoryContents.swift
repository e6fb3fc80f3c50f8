import Synchronization

/// Byte-addressable emulated memory contents, sparse by 4 KiB frame and
/// sharded so that threads working on different domains rarely meet.
/// Never-written memory reads as zero.
final class MemoryContents: Sendable {
  private static let shardCount = 64
  /// Inline, so taking a shard costs no reference counting.
  private let shards: InlineArray<64, PaddedMutex<[UInt64: ContiguousArray<UInt64>]>> = InlineArray { _ in
    PaddedMutex([:])
  }
  /// Where frames are charged (the resident limit); a write that needs a
  /// new frame past it is dropped.
  let budget: ResidentBudget
  /// What one frame costs: its 4 KiB, the array header and the dictionary slot.
  static let frameBytes = 4096 + 64

  init(budget: ResidentBudget = ResidentBudget()) {
    self.budget = budget
  }

  /// Whether something was refused because of the resident limit.
  var limitReached: Bool { budget.limitReached }

  /// Accounts for a new frame; false (and the limit flag set) past the limit.
  private func reserveFrame() -> Bool { budget.charge(Self.frameBytes, .frames) }

  private func releaseFrame() { budget.release(Self.frameBytes, .frames) }

  @inline(__always) private func shard(_ frame: UInt64) -> Int {
    Int(truncatingIfNeeded: frame & UInt64(Self.shardCount - 1))
  }

  /// Reads an aligned 64-bit word.
  func read64(_ addr: UInt64) -> UInt64 {
    let frame = addr >> 12
    let idx = Int(truncatingIfNeeded: (addr >> 3) & 511)
    return shards[shard(frame)].lock.withLock { $0[frame]?[idx] ?? 0 }
  }

  /// Writes an aligned 64-bit word.
  func write64(_ addr: UInt64, _ value: UInt64) {
    let frame = addr >> 12
    let idx = Int(truncatingIfNeeded: (addr >> 3) & 511)
    shards[shard(frame)].lock.withLock { frames in
      if frames[frame] == nil {
        guard value != 0, reserveFrame() else { return }
      }
      frames[frame, default: ContiguousArray(repeating: 0, count: 512)][idx] = value
    }
  }

  /// Writes `length` bytes from `addr`, byte k being byte k % 8 of `value`
  /// (its eight bytes repeated), under one lock per frame: a device's long
  /// write costs its frames, not a lock per word. The same bytes as
  /// `write(addr + k, value, width: 8)` for k = 0, 8, 16, ...
  func writeRepeated(_ addr: UInt64, length: UInt64, value: UInt64) {
    var a = addr
    var done: UInt64 = 0
    while done < length {
      let frame = a >> 12
      let inFrame = min(length - done, 4096 - (a & 4095))
      // An absent frame reads as zeros: it is created only for a byte that is not.
      let first = patternWord(value, at: done)
      let nonzero = inFrame >= 8 ? value != 0 : first & (UInt64.max >> (64 - 8 * inFrame)) != 0
      let offset = Int(a & 4095)
      let start = done
      shards[shard(frame)].lock.withLock { frames in
        if frames[frame] == nil {
          guard nonzero, reserveFrame() else { return }
        }
        frames[frame, default: ContiguousArray(repeating: 0, count: 512)].withUnsafeMutableBufferPointer { words in
          var off = offset
          let end = offset + Int(inFrame)
          var k = start
          while off < end {
            if off & 7 == 0 && end - off >= 8 {
              words[off >> 3] = patternWord(value, at: k)
              off += 8
              k += 8
            } else {
              let shift = UInt64(off & 7) * 8
              let byte = (value >> ((k & 7) * 8)) & 0xff
              words[off >> 3] = (words[off >> 3] & ~(0xff << shift)) | (byte << shift)
              off += 1
              k += 1
            }
          }
        }
      }
      a &+= inFrame
      done += inFrame
    }
  }

  /// Runs `body` on the 512 words of the 4 KiB frame holding `addr`, under
  /// one lock: a page-table walker's fast path for runs of entries. `body`
  /// must not touch memory contents itself. A frame that holds no data is
  /// created (and charged) only when `create`; nil when it is not there or
  /// the resident limit refused it.
  func withFrame<R>(_ addr: UInt64, create: Bool, _ body: (inout ContiguousArray<UInt64>) -> R) -> R? {
    let frame = addr >> 12
    return shards[shard(frame)].lock.withLock { frames -> R? in
      if frames[frame] == nil {
        guard create, reserveFrame() else { return nil }
      }
      return body(&frames[frame, default: ContiguousArray(repeating: 0, count: 512)])
    }
  }

  /// Reads `width` bytes (1, 2, 4 or 8) little-endian at any address; the
  /// access may straddle two words.
  func read(_ addr: UInt64, width: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<width {
      let a = addr &+ UInt64(i)
      let word = read64(a & ~7)
      let byte = (word >> ((a & 7) * 8)) & 0xff
      v |= byte << UInt64(i * 8)
    }
    return v
  }

  func write(_ addr: UInt64, value: UInt64, width: Int) {
    if width == 8 && addr & 7 == 0 {
      write64(addr, value)
      return
    }
    for i in 0..<width {
      let a = addr &+ UInt64(i)
      let shift = (a & 7) * 8
      let word = read64(a & ~7)
      let byte = (value >> UInt64(i * 8)) & 0xff
      write64(a & ~7, (word & ~(0xff << shift)) | (byte << shift))
    }
  }

  /// Fills `[addr, addr+length)` with a repeated `width`-byte pattern.
  func fill(_ addr: UInt64, length: UInt64, value: UInt64, width: Int) {
    var pattern = value
    if width < 8 {
      let bits = UInt64(width * 8)
      let unit = value & ((1 << bits) - 1)
      pattern = 0
      var s: UInt64 = 0
      while s < 64 {
        pattern |= unit << s
        s += bits
      }
    }
    var a = addr
    let end = addr &+ length
    while a < end {
      let frame = a >> 12
      shards[shard(frame)].lock.withLock { frames in
        if pattern == 0 {
          if frames.removeValue(forKey: frame) != nil { releaseFrame() }
        } else if frames[frame] != nil || reserveFrame() {
          frames[frame] = ContiguousArray(repeating: pattern, count: 512)
        }
      }
      a &+= 4096
    }
  }

  /// Zeroes whole frames (a `__GFP_ZERO` allocation).
  func zero(_ addr: UInt64, length: UInt64) { fill(addr, length: length, value: 0, width: 8) }

  /// How many 4 KiB frames hold non-zero data.
  var residentFrames: Int {
    var n = 0
    for i in 0..<Self.shardCount { n += shards[i].lock.withLock { $0.count } }
    return n
  }
}

/// `v`'s bytes as seen from byte `offset` of the repeating 8-byte pattern `v`
/// (a device or CPU writing one value over a range).
@inline(__always) package func patternWord(_ v: UInt64, at offset: UInt64) -> UInt64 {
  let r = (offset & 7) * 8
  return r == 0 ? v : (v >> r) | (v << (64 - r))
}
