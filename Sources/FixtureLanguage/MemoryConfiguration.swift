/// The emulated physical memory (`memory SIZE [base=] [page=] [mmio=]... [offline=]...`).
public struct MemoryConfiguration: Sendable, Hashable {
  /// The RAM size in bytes (a non-zero multiple of `page`).
  public var size: UInt64
  /// The first physical address of RAM (page-aligned); default `0x8000_0000`.
  public var base: UInt64
  /// The CPU page size; default 4K.
  public var page: PageSize
  /// Device-memory ranges (no struct page, never counted), in the order written.
  public var mmio: [AddressRange]
  /// Offline RAM ranges (no page_ext), in the order written.
  public var offline: [AddressRange]

  /// The default base, `0x8000_0000`.
  public static let defaultBase: UInt64 = 0x8000_0000

  /// `memory 1G`, the machine of a fixture without a `memory` line.
  public static let defaults = MemoryConfiguration(size: 1 << 30)

  public init(
    size: UInt64, base: UInt64 = MemoryConfiguration.defaultBase, page: PageSize = .size4K,
    mmio: [AddressRange] = [], offline: [AddressRange] = []
  ) {
    self.size = size
    self.base = base
    self.page = page
    self.mmio = mmio
    self.offline = offline
  }
}
