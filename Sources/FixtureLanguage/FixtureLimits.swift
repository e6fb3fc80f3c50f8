/// The limits the parser enforces. Going past one is an error, never a crash.
package enum FixtureLimits {
  /// The longest line, in bytes, without its line terminator.
  package static let maxLineLength: Int = 65_536
  /// The most statements (`expect` lines not counted) in one fixture.
  package static let maxStatements: Int = 1_000_000
  /// The most statements one run executes, each iteration of a `repeat`
  /// block counting its statements again (as `maxStatements` bounds a fixture without loops).
  package static let maxExecutedStatements: Int = 1_000_000
  /// The most `seg=` of one `dma_map_sg`.
  package static let maxSGEntries: Int = 4096
  /// The largest `kmalloc` (the kernel's `KMALLOC_MAX_SIZE` with 4K pages: order 10).
  package static let maxKmallocSize: UInt64 = 4 << 20
  /// The largest `repeat` count.
  package static let maxRepeatCount: Int = 1_000_000
  /// The deepest nesting of `repeat` blocks.
  package static let maxLoopDepth: Int = 8
  /// The largest `iotlb=` or `walk-cache=` entry count.
  package static let maxCacheEntries: UInt64 = 1 << 20
  /// The largest `order=` of `alloc_pages`.
  package static let maxOrder: UInt64 = 63
  /// The largest PASID (PASIDs are 20 bits wide).
  package static let maxPASID: UInt64 = 0xF_FFFF
  /// The largest `len=` of a device access: the emulator does one access
  /// per page the range touches, so this bounds the work of one `dma` line.
  package static let maxAccessLength: UInt64 = 1 << 30
  /// The most uses of unbound names remembered, to say "bound later, at line N" if a later line binds one.
  package static let maxLaterUses: Int = 10_000
}
