/// The page sizes an `iommu` restricts its domains to (`pgsizes=4K,2M`).
package struct PageSizeList: Sendable, Hashable, CustomStringConvertible {
  /// The sizes as written, in order (each a power of two).
  package var sizes: [UInt64]

  package init(sizes: [UInt64]) { self.sizes = sizes }

  /// The sizes as a `pgsize_bitmap`.
  package var bitmap: UInt64 { sizes.reduce(0) { $0 | $1 } }

  package var description: String { sizes.map(NumberSyntax.describe).joined(separator: ",") }
}
