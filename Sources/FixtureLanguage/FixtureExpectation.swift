import KernelTypes

/// An `expect` line: a check on the statement right before it.
public struct FixtureExpectation: Sendable, Hashable {
  /// What is checked.
  public enum Kind: Sendable, Hashable {
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
  public var kind: Kind
  /// Where the `expect` word is.
  public var location: SourceLocation
  /// The line, trimmed and without its comment.
  public var text: String

  public init(kind: Kind, location: SourceLocation, text: String) {
    self.kind = kind
    self.location = location
    self.text = text
  }
}

/// The report an `expect report` asks for, with its filters.
public struct ExpectedReport: Sendable, Hashable {
  /// The report kind.
  public var kind: ReportKind
  /// `page=NAME`: a report about any page of that page block.
  public var page: NameReference?
  /// `pfn=N`.
  public var pfn: UInt64?
  /// `device=NAME`.
  public var device: NameReference?
  /// `domain=NAME`.
  public var domain: NameReference?
  /// `count=N`: exactly N reports; nil means at least one.
  public var count: UInt64?

  public init(
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
