import KernelTypes
import MemoryModel

/// One complete report: every fact a renderer prints, gathered before
/// anything is printed (as KASAN's `kasan_report_info` is).
public struct Report: Sendable, Hashable {
  public var kind: ReportKind
  public var source: ReportSource { kind.source }

  /// A one-line summary in the kernel's words, for example
  /// `iommu: Detected page leak!` or
  /// `DMA-API: nvme 0000:00:01.0: device driver frees DMA memory with different size ...`.
  public var headline: String
  /// Lines the kernel would print inside the cut-here block, before the
  /// `WARNING:` line (as `WARN(1, fmt...)` does). Empty for `WARN_ON`.
  public var warnMessage: [String]
  /// The kernel source location and function of the WARN that fires.
  public var warningSite: WarningSite
  /// The emulated call chain, innermost first. The frame flagged `isGuilty`
  /// is the driver's own code, which the `RIP:` line points at so that
  /// syzkaller's parser gives one title per bug site.
  public var callTrace: [StackFrame]

  /// The fixture statement (or trace line) that caused the report.
  public var statement: StatementLocation?
  /// The task that ran the statement.
  public var task: TaskInfo

  public var pfn: PFN?
  public var phys: PhysicalAddress?
  public var iova: IOVA?
  /// Domain, device and process names as the fixture bound them.
  public var domain: String?
  public var device: String?
  public var pasid: UInt32?
  /// The page's IOMMU map count after the event (sanitizer kinds).
  public var count: Int64?
  /// Extra facts in a fixed order (`size`, `map size`, `iommu`, ...),
  /// printed in the iommusan block and as JSON keys.
  public var details: [Detail]
  /// The page_owner record of the page, when `page_owner=on` and the report
  /// is about a page.
  public var pageOwner: PageOwnerRecord?
  /// Lines printed after the end marker (for example `dump_page_owner()`'s
  /// preamble is rendered from `pageOwner`; this holds anything else).
  public var trailer: [String]

  public init(
    kind: ReportKind, headline: String, warnMessage: [String] = [], warningSite: WarningSite,
    callTrace: [StackFrame], statement: StatementLocation?, task: TaskInfo,
    pfn: PFN? = nil, phys: PhysicalAddress? = nil, iova: IOVA? = nil, domain: String? = nil,
    device: String? = nil, pasid: UInt32? = nil, count: Int64? = nil, details: [Detail] = [],
    pageOwner: PageOwnerRecord? = nil, trailer: [String] = []
  ) {
    self.kind = kind
    self.headline = headline
    self.warnMessage = warnMessage
    self.warningSite = warningSite
    self.callTrace = callTrace
    self.statement = statement
    self.task = task
    self.pfn = pfn
    self.phys = phys
    self.iova = iova
    self.domain = domain
    self.device = device
    self.pasid = pasid
    self.count = count
    self.details = details
    self.pageOwner = pageOwner
    self.trailer = trailer
  }
}

/// A named fact of a report, with its value already formatted.
public struct Detail: Sendable, Hashable {
  public var key: String
  public var value: DetailValue
  public init(_ key: String, _ value: DetailValue) {
    self.key = key
    self.value = value
  }
}

public enum DetailValue: Sendable, Hashable {
  case int(Int64)
  case hex(UInt64)
  case string(String)
}

/// One frame of an emulated call chain, printed `function+0xOFF/0xSIZE [module]`.
public struct StackFrame: Sendable, Hashable {
  public var function: String
  /// The module in brackets (`[nvme]`), or nil for built-in kernel code.
  public var module: String?
  /// For the frame of fixture code: the file and line of the statement.
  public var sourceFile: String?
  public var sourceLine: Int?
  /// True for the driver's frame, which `RIP:` points at.
  public var isGuilty: Bool

  public init(_ function: String, module: String? = nil, sourceFile: String? = nil, sourceLine: Int? = nil, isGuilty: Bool = false) {
    self.function = function
    self.module = module
    self.sourceFile = sourceFile
    self.sourceLine = sourceLine
    self.isGuilty = isGuilty
  }

  /// A deterministic `+0xOFF/0xSIZE` for the function (FNV-1a of its name),
  /// so output is byte-identical on every run and machine.
  public var offsetAndSize: (offset: UInt64, size: UInt64) {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in function.utf8 {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01b3
    }
    let size = 0x40 + (h & 0x3f0)
    let offset = 0x8 + ((h >> 16) % (size - 0x10)) & ~UInt64(3)
    return (offset, size)
  }
}

/// Where in a fixture (or trace) a report came from.
public struct StatementLocation: Sendable, Hashable {
  public var file: String
  public var line: Int
  public var column: Int
  /// The statement's source text, trimmed.
  public var text: String
  public init(file: String, line: Int, column: Int = 1, text: String) {
    self.file = file
    self.line = line
    self.column = column
    self.text = text
  }
}

/// The emulated task that ran a statement.
public struct TaskInfo: Sendable, Hashable {
  public var pid: Int
  public var tgid: Int
  public var comm: String
  public var cpu: Int
  public init(pid: Int, tgid: Int, comm: String, cpu: Int = 0) {
    self.pid = pid
    self.tgid = tgid
    self.comm = comm
    self.cpu = cpu
  }
}

/// What `__dump_page_owner()` prints about a page.
public struct PageOwnerRecord: Sendable, Hashable {
  /// True when the page is allocated now (`tracks the page as allocated`).
  public var isAllocated: Bool
  public var order: Int
  /// The allocation's gfp flags; they give the migratetype too.
  public var gfp: GFPFlags
  public var pid: Int
  public var tgid: Int
  public var comm: String
  /// Emulated nanosecond timestamps.
  public var ts: UInt64
  public var freeTs: UInt64
  /// Allocation stack (innermost first); empty prints `page_owner allocation stack trace missing`.
  public var allocStack: [StackFrame]
  /// Free stack with its task, or nil when the page was never freed.
  public var freePid: Int?
  public var freeTgid: Int?
  public var freeStack: [StackFrame]

  public init(
    isAllocated: Bool, order: Int, gfp: GFPFlags,
    pid: Int, tgid: Int, comm: String, ts: UInt64, freeTs: UInt64, allocStack: [StackFrame],
    freePid: Int?, freeTgid: Int?, freeStack: [StackFrame]
  ) {
    self.isAllocated = isAllocated
    self.order = order
    self.gfp = gfp
    self.pid = pid
    self.tgid = tgid
    self.comm = comm
    self.ts = ts
    self.freeTs = freeTs
    self.allocStack = allocStack
    self.freePid = freePid
    self.freeTgid = freeTgid
    self.freeStack = freeStack
  }
}
