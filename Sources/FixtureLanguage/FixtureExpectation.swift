import KernelTypes

/// An `expect` line: a check on the statement right before it.
package struct FixtureExpectation: Sendable, Hashable {
  /// What is checked.
  package enum Kind: Sendable, Hashable {
    /// `expect report KIND [filters]`.
    case report(ExpectedReport)
    /// `expect no-report`.
    case noReport
    /// `expect error ERRNO`.
    case error(Errno)
    /// `expect fault`: the device access faulted.
    case fault
    /// `expect unmapped=SIZE` (after `iommu_unmap` or `iommu_unmap_fast`).
    case unmapped(UInt64)
    /// `expect phys=ADDR` (after `iova_to_phys`).
    case phys(AddressExpression)
    /// `expect value=N` (after a `dma ... read`).
    case value(UInt64)
  }

  /// What is checked.
  package var kind: Kind
  /// Where the `expect` word is.
  package var location: SourceLocation
  /// The line, trimmed and without its comment.
  package var text: String

  package init(kind: Kind, location: SourceLocation, text: String) {
    self.kind = kind
    self.location = location
    self.text = text
  }
}

/// The report an `expect report` asks for, with its filters.
package struct ExpectedReport: Sendable, Hashable {
  /// The report kind.
  package var kind: ReportKind
  /// `page=NAME`: a report about any page of that page block.
  package var page: NameReference?
  /// `pfn=N`.
  package var pfn: UInt64?
  /// `device=NAME`.
  package var device: NameReference?
  /// `domain=NAME`.
  package var domain: NameReference?
  /// `count=N`: exactly N reports; nil means at least one.
  package var count: UInt64?

  package init(
    kind: ReportKind, page: NameReference? = nil, pfn: UInt64? = nil, device: NameReference? = nil,
    domain: NameReference? = nil, count: UInt64? = nil
  ) {
    self.kind = kind
    self.page = page
    self.pfn = pfn
    self.device = device
    self.domain = domain
    self.count = count
  }
}
