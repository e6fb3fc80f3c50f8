import KernelTypes
import Testing

@testable import MemoryModel

@Suite("Memory contents")
struct MemoryContentsTests {
  static let page = PhysicalAddress(0x8000_0000)

  @Test("Never-written memory reads as zero and costs nothing")
  func zeroByDefault() {
    let memory = makeMemory()
    for w in [1, 2, 4, 8] { #expect(memory.read(Self.page.advanced(by: 3), width: w) == 0) }
    #expect(memory.read64(PhysicalAddress(0x1234_5678_9000)) == 0)
    // Writing zero to an untouched frame does not create it.
    memory.write(Self.page, value: 0, width: 1)
    memory.write64(Self.page.advanced(by: 8), 0)
    #expect(memory.residentFrames == 0)
  }

  /// A device's long write takes one lock per frame (issue 15 item 11: a
  /// `len=1G` write took 17 s in the fuzzer at a lock per byte): the bytes
  /// are those of the word-by-word writes it replaces, and frames appear
  /// only for bytes that are not zero.
  @Test(
    "writeRepeated writes the bytes of the word-by-word loop",
    arguments: [(0x0, 8), (0x3, 5), (0x7, 1), (0xFF9, 20), (0x10, 4096), (0x5, 9000), (0xFFF, 3)] as [(UInt64, Int)])
  func writeRepeatedMatchesWordWrites(offset: UInt64, length: Int) {
    for value: UInt64 in [0x1122_3344_5566_7788, 0xFF00, 0] {
      let bulk = makeMemory()
      let words = makeMemory()
      // Something there already, so that bytes around the write must survive.
      for m in [bulk, words] { m.write(Self.page.advanced(by: 0x1000), value: 0xAB, width: 1) }
      let start = Self.page.advanced(by: offset)
      bulk.writeRepeated(start, length: UInt64(length), value: value)
      var i = 0
      while i < length {
        words.write(start.advanced(by: UInt64(i)), value: value, width: min(8, length - i))
        i += 8
      }
      for a in stride(from: Self.page.rawValue, to: Self.page.rawValue + 0x4000, by: 8) {
        #expect(bulk.read64(PhysicalAddress(a)) == words.read64(PhysicalAddress(a)), "at \(a) for \(value)")
      }
      #expect(bulk.residentFrames == words.residentFrames)
    }
    // A short write of zero bytes of a non-zero value creates no frame.
    let memory = makeMemory()
    memory.writeRepeated(Self.page, length: 1, value: 0xFF00)
    #expect(memory.residentFrames == 0)
  }

  @Test("Little-endian reads and writes of every width", arguments: [1, 2, 4, 8])
  func widths(width: Int) {
    let memory = makeMemory()
    let mask: UInt64 = width == 8 ? .max : (1 << UInt64(width * 8)) - 1
    let value: UInt64 = 0xF1E2_D3C4_B5A6_9788
    // Aligned, unaligned inside a word, straddling a word, straddling a frame.
    for offset: UInt64 in [0x10, 0x21, 0x3D, 0xFFD] {
      let a = Self.page.advanced(by: offset)
      memory.write(a, value: value, width: width)
      #expect(memory.read(a, width: width) == value & mask, "width \(width) at +\(offset)")
      // Byte by byte, little-endian.
      for i in 0..<width {
        #expect(memory.read(a.advanced(by: UInt64(i)), width: 1) == (value >> UInt64(i * 8)) & 0xFF)
      }
      // The bytes around it are untouched.
      #expect(memory.read(a.advanced(by: UInt64(width)), width: 1) == 0)
      #expect(memory.read(PhysicalAddress(a.rawValue - 1), width: 1) == 0)
    }
  }

  @Test("A write straddling two words and two frames splits correctly")
  func straddling() {
    let memory = makeMemory()
    memory.write64(Self.page, 0x0807_0605_0403_0201)
    #expect(memory.read(Self.page.advanced(by: 3), width: 2) == 0x0504)
    #expect(memory.read(Self.page.advanced(by: 1), width: 4) == 0x0504_0302)
    memory.write(Self.page.advanced(by: 6), value: 0xDDCC_BBAA, width: 4)
    #expect(memory.read64(Self.page) == 0xBBAA_0605_0403_0201)
    #expect(memory.read64(Self.page.advanced(by: 8)) == 0xDDCC)
    // Across a frame boundary: 3 bytes in one frame, 5 in the next.
    let edge = Self.page.advanced(by: 0xFFD)
    memory.write(edge, value: 0x1122_3344_5566_7788, width: 8)
    #expect(memory.read64(Self.page.advanced(by: 0xFF8)) == 0x6677_8800_0000_0000)
    #expect(memory.read64(Self.page.advanced(by: 0x1000)) == 0x0000_0011_2233_4455)
    #expect(memory.read(edge, width: 8) == 0x1122_3344_5566_7788)
    #expect(memory.residentFrames == 2)
    // Only the low bytes of the value are stored.
    memory.write(Self.page.advanced(by: 0x20), value: 0x1_2345, width: 2)
    #expect(memory.read64(Self.page.advanced(by: 0x20)) == 0x2345)
  }

  @Test(
    "fill repeats a pattern of every width over the block",
    arguments: [
      (1, 0xAB as UInt64, 0xABAB_ABAB_ABAB_ABAB as UInt64),
      (2, 0xBEEF, 0xBEEF_BEEF_BEEF_BEEF),
      (4, 0xDEAD_BEEF, 0xDEAD_BEEF_DEAD_BEEF),
      (8, 0x0123_4567_89AB_CDEF, 0x0123_4567_89AB_CDEF),
      (1, 0x1FF, 0xFFFF_FFFF_FFFF_FFFF),
    ])
  func fill(width: Int, value: UInt64, expected: UInt64) throws {
    let memory = makeMemory(size: 16 << 20)
    let b = try memory.allocPages(order: 1, context: ctx)
    let next = try memory.allocPages(order: 0, context: ctx)
    let nextAddr = next.head.address(pageShift: 12)
    memory.write64(nextAddr, 0x77)
    let start = b.head.address(pageShift: 12)
    memory.fill(b, value: value, width: width)
    for off: UInt64 in [0, 8, 0xFF8, 0x1000, 0x1FF8] { #expect(memory.read64(start.advanced(by: off)) == expected) }
    #expect(memory.read(start.advanced(by: 3), width: 2) == (expected >> 24) & 0xFFFF)
    #expect(memory.read64(nextAddr) == 0x77)
    #expect(memory.residentFrames == 3)
    // Filling with zero drops the frames again.
    memory.fill(b, value: 0, width: width)
    #expect(memory.read64(start) == 0)
    #expect(memory.residentFrames == 1)
  }

  @Test("zero clears whole frames; __GFP_ZERO allocations read zero, GFP_KERNEL ones keep old data")
  func zeroing() throws {
    let memory = makeMemory(size: 16 << 20)
    let a = try memory.allocPages(order: 0, context: ctx)
    let addr = a.head.address(pageShift: 12)
    memory.write64(addr.advanced(by: 0x100), 0xDEAD)
    try memory.freePages(a, context: ctx)
    let b = try memory.allocPages(order: 0, gfp: .kernel, context: ctx)
    #expect(b == a)
    #expect(memory.read64(addr.advanced(by: 0x100)) == 0xDEAD, "GFP_KERNEL does not zero")
    try memory.freePages(b, context: ctx)
    let c = try memory.allocPages(order: 0, gfp: .kernelZero, context: ctx)
    #expect(c == a)
    #expect(memory.read64(addr.advanced(by: 0x100)) == 0)
    memory.write64(addr, 1)
    memory.zero(addr, length: 4096)
    #expect(memory.read64(addr) == 0)
    #expect(memory.residentFrames == 0)
  }

  @Test("MemoryContents directly: unaligned 8-byte accesses at every offset in a word")
  func directUnaligned() {
    let c = MemoryContents()
    for off: UInt64 in 0..<16 {
      let a = 0x10_0000 + off * 0x40 + off
      c.write(a, value: 0xA1B2_C3D4_E5F6_0718 &+ off, width: 8)
      #expect(c.read(a, width: 8) == 0xA1B2_C3D4_E5F6_0718 &+ off)
      #expect(c.read(a, width: 4) == (0xA1B2_C3D4_E5F6_0718 &+ off) & 0xFFFF_FFFF)
    }
    #expect(c.residentFrames == 1)
  }
}
