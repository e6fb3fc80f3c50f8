/// The limits the parser enforces. Going past one is an error, never a crash.
public enum FixtureLimits {
  /// The longest line, in bytes, without its line terminator.
  public static let maxLineLength: Int = 65_536
  /// The most statements (`expect` lines not counted) in one fixture.
  public static let maxStatements: Int = 1_000_000
  /// The largest `iotlb=` or `walk-cache=` entry count.
  public static let maxCacheEntries: UInt64 = 1 << 20
  /// The largest `order=` of `alloc_pages`.
  public static let maxOrder: UInt64 = 63
  /// The largest PASID (PASIDs are 20 bits wide).
  public static let maxPASID: UInt64 = 0xF_FFFF
  /// The largest `len=` of a device access: the emulator does one access
  /// per page the range touches, so this bounds the work of one `dma` line.
  public static let maxAccessLength: UInt64 = 1 << 30
}
