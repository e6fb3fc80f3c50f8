import KernelTypes

/// A page-table format and granule the checker enumerates, on a small domain:
/// one block `blk` of `2^blockOrder` CPU pages, mapped at IOVA `base`.
package struct ConformanceFormat: Sendable, Hashable {
  package var name: String
  /// The arguments of the fixture's `iommu` line.
  package var iommuArguments: String
  /// The smallest IOMMU page.
  package var granule: UInt64
  /// The next page size when a block of the buddy allocator can hold it.
  package var large: UInt64?
  package var blockOrder: Int

  /// The IOVA of `blk`'s first byte.
  package static let base: UInt64 = 0x4000_0000

  /// Every model and granule the project has: VT-d and AMD (generic_pt),
  /// SMMUv3 (io-pgtable-arm) with 4K, 16K and 64K granules. A 16K or 64K
  /// granule's next size (32M, 512M) is past the buddy allocator's largest
  /// block: those formats map granules only.
  package static let all: [ConformanceFormat] = [
    ConformanceFormat(name: "vtd", iommuArguments: "model=vtd", granule: 4096, large: 2 << 20, blockOrder: 9),
    ConformanceFormat(name: "amd", iommuArguments: "model=amd", granule: 4096, large: 2 << 20, blockOrder: 9),
    ConformanceFormat(
      name: "smmuv3-4K", iommuArguments: "model=smmuv3", granule: 4096, large: 2 << 20, blockOrder: 9),
    ConformanceFormat(
      name: "smmuv3-16K", iommuArguments: "model=smmuv3 granule=16K", granule: 16 << 10, large: nil, blockOrder: 3),
    ConformanceFormat(
      name: "smmuv3-64K", iommuArguments: "model=smmuv3 granule=64K", granule: 64 << 10, large: nil, blockOrder: 5),
  ]

  /// The operations enumerated: a granule at the block's start or at its
  /// second granule, two granules (failing half-way when the second is
  /// mapped), the large page; unmaps of each (of a large leaf: larger than
  /// asked, or partial); free and alloc of the block.
  package var operations: [ConformanceOperation] {
    var ops: [ConformanceOperation] = [
      .map(offset: 0, size: granule), .map(offset: granule, size: granule), .map(offset: 0, size: 2 * granule),
    ]
    if let large { ops.append(.map(offset: 0, size: large)) }
    ops += [
      .unmap(offset: 0, size: granule), .unmap(offset: granule, size: granule), .unmap(offset: 0, size: 2 * granule),
    ]
    if let large { ops.append(.unmap(offset: 0, size: large)) }
    ops += [.free, .alloc(order: blockOrder)]
    return ops
  }
}

/// How the counts are kept: exact accounting, or the kernel's as a release counts.
package struct ConformanceAccounting: Sendable, Hashable {
  package var accounting: MapAccounting
  package var kernel: KernelVersion

  package init(_ accounting: MapAccounting, kernel: KernelVersion = .newest) {
    self.accounting = accounting
    self.kernel = kernel
  }

  package var cmdline: String { "emu.kernel=\(kernel) emu.accounting=\(accounting.rawValue)" }

  /// Exact accounting, then kernel accounting at each release where a fix
  /// of `KernelVersion.Fix` begins or ends (from 6.19, the first with
  /// generic_pt), and the newest.
  package static var all: [ConformanceAccounting] {
    var versions: Set<KernelVersion> = [.newest]
    for fix in KernelVersion.Fix.allCases {
      for r in fix.buggy { versions.formUnion([r.lowerBound, r.upperBound]) }
    }
    let kernels = versions.filter { $0 >= KernelVersion(6, 19, 0) }.sorted()
    return [ConformanceAccounting(.exact)] + kernels.map { ConformanceAccounting(.kernel, kernel: $0) }
  }
}

/// One operation of a sequence.
package enum ConformanceOperation: Sendable, Hashable {
  case map(offset: UInt64, size: UInt64)
  case unmap(offset: UInt64, size: UInt64)
  case free
  case alloc(order: Int)

  func applies(allocated: Bool) -> Bool {
    switch self {
    case .free: allocated
    case .alloc: !allocated
    default: true
    }
  }

  func allocatedAfter(_ allocated: Bool) -> Bool {
    switch self {
    case .free: false
    case .alloc: true
    default: allocated
    }
  }

  /// The fixture statement.
  package var statement: String {
    switch self {
    case .map(let offset, let size):
      "iommu_map d iova=\(hex(ConformanceFormat.base + offset)) phys=blk\(offset == 0 ? "" : "+" + hex(offset))"
        + " size=\(ByteSize.describe(size))"
    case .unmap(let offset, let size):
      "iommu_unmap d iova=\(hex(ConformanceFormat.base + offset)) size=\(ByteSize.describe(size))"
    case .free: "free_pages blk"
    case .alloc(let order): "blk = alloc_pages order=\(order)"
    }
  }

  /// What the operation did, from its result and the page tables.
  func trigger(errno: String?, unmapped: UInt64?, leavesLost: Bool, covered: Bool) -> ConformanceTrigger {
    switch self {
    case .map:
      if errno != nil { return .mapFailed }
      if !covered { return .mapErrorLost }
      return leavesLost ? .mapReplacingLeaves : .map
    case .unmap(_, let size):
      let done = unmapped ?? 0
      return done > size ? .unmapLarger : done < size ? .unmapShort : .unmap
    case .free: return .free
    case .alloc: return .alloc
    }
  }
}

private func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

/// What the operation that made counts and truth drift apart did.
package enum ConformanceTrigger: String, Sendable, Hashable, Comparable {
  case map = "a map"
  case mapFailed = "a map that failed (and undid what it mapped)"
  case mapReplacingLeaves = "a map of a block over a table, dropping its leaves"
  case mapErrorLost = "a map that failed but returned 0"
  case unmap = "an unmap"
  case unmapLarger = "an unmap that removed more than asked"
  case unmapShort = "an unmap that removed less than asked"
  case free = "a free"
  case alloc = "an alloc"

  package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// Which way the counts went wrong.
package enum ConformanceDirection: String, Sendable, Hashable, Comparable {
  /// Counted but not mapped: later false reports.
  case over = "count above the page tables"
  /// Mapped but not counted: missed reports.
  case under = "count below the page tables"
  case mixed = "both"

  package static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// One operation after which counts and truth differed in a new way.
package struct ConformanceDivergence: Sendable, Hashable {
  package var trigger: ConformanceTrigger
  package var direction: ConformanceDirection
  /// Every page that went wrong is inside a granule, not its first CPU page.
  package var granuleTails: Bool
  /// How many CPU pages went wrong.
  package var pages: Int
}

/// A class of divergence: its key, where it showed, its first (shortest) example.
package struct ConformanceClass: Sendable {
  package struct Key: Hashable, Comparable, Sendable {
    package var accounting: MapAccounting
    /// Kernel accounting with the hooks as 7.0.0 placed them (before b948a8722848 and 0735c54804c7).
    package var hooks700: Bool
    package var trigger: ConformanceTrigger
    package var direction: ConformanceDirection
    package var granuleTails: Bool

    package static func < (a: Key, b: Key) -> Bool {
      (a.accounting.rawValue, a.hooks700 ? 1 : 0, a.trigger, a.direction, a.granuleTails ? 1 : 0)
        < (b.accounting.rawValue, b.hooks700 ? 1 : 0, b.trigger, b.direction, b.granuleTails ? 1 : 0)
    }

    /// `exact`, `kernel`, or `kernel (7.0.0 hooks)`.
    package var accountingName: String {
      accounting.rawValue + (hooks700 ? " (7.0.0 hooks)" : "")
    }
  }

  package var key: Key
  /// Formats and kernels where it showed, in the order found.
  package var formats: [String] = []
  package var kernels: [KernelVersion] = []
  /// Sequences that showed it.
  package var sequences = 0
  /// The shortest sequence, on the first format and accounting that showed it.
  package var example: (format: ConformanceFormat, accounting: ConformanceAccounting, ops: [ConformanceOperation])
  package var pages: Int
  /// Why the kernel (or the model) does this; nil: unexplained.
  package var explanation: ConformanceExplanation?
}

/// The run's options.
package struct ConformanceOptions: Sendable {
  package var depth: Int
  package var formats: [ConformanceFormat] = ConformanceFormat.all
  package var accountings: [ConformanceAccounting] = ConformanceAccounting.all

  package init(depth: Int) { self.depth = depth }
}

/// What the checker found.
package struct ConformanceResult: Sendable {
  package var depth: Int
  /// Sequences run, and distinct states kept.
  package var sequences = 0
  package var states = 0
  package var classes: [ConformanceClass] = []

  /// Classes nothing explains: the checker or the model is wrong.
  package var unexplained: [ConformanceClass] { classes.filter { $0.explanation == nil } }

  mutating func add(
    _ d: ConformanceDivergence, format: ConformanceFormat, accounting: ConformanceAccounting,
    ops: [ConformanceOperation]
  ) {
    let key = ConformanceClass.Key(
      accounting: accounting.accounting,
      hooks700: accounting.accounting == .kernel && !accounting.kernel.has(.debugPageallocHooks), trigger: d.trigger,
      direction: d.direction, granuleTails: d.granuleTails)
    if let i = classes.firstIndex(where: { $0.key == key }) {
      if !classes[i].formats.contains(format.name) { classes[i].formats.append(format.name) }
      if !classes[i].kernels.contains(accounting.kernel) { classes[i].kernels.append(accounting.kernel) }
      classes[i].sequences += 1
      classes[i].explanation = ConformanceExplanation.find(classes[i])
    } else {
      var c = ConformanceClass(
        key: key, formats: [format.name], kernels: [accounting.kernel], sequences: 1,
        example: (format, accounting, ops), pages: d.pages)
      c.explanation = ConformanceExplanation.find(c)
      classes.append(c)
    }
  }
}
