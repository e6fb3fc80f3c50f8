import KernelTypes
import MemoryModel

/// One complete report: every fact a renderer prints, gathered before
/// anything is printed (as KASAN's `kasan_report_info` is).
package struct Report: Sendable, Hashable {
  package var kind: ReportKind
  package var source: ReportSource { kind.source }

  /// A one-line summary in the kernel's words, for example
  /// `iommu: Detected page leak!` or
  /// `DMA-API: nvme 0000:00:01.0: device driver frees DMA memory with different size ...`.
  package var headline: String
  /// Lines the kernel would print inside the cut-here block, before the
  /// `WARNING:` line (as `WARN(1, fmt...)` does). Empty for `WARN_ON`.
  package var warnMessage: [String]
  /// The kernel source location and function of the WARN that fires.
  package var warningSite: WarningSite
  /// The emulated call chain, innermost first. The frame flagged `isGuilty`
  /// is the driver's own code, which the `RIP:` line points at so that
  /// syzkaller's parser gives one title per bug site.
  package var callTrace: [StackFrame]

  /// The fixture statement (or trace line) that caused the report.
  package var statement: StatementLocation?
  /// The task that ran the statement.
  package var task: TaskInfo

  package var pfn: PFN?
  package var phys: PhysicalAddress?
  package var iova: IOVA?
  /// Domain, device and process names as the fixture bound them.
  package var domain: String?
  package var device: String?
  package var pasid: UInt32?
  /// The page's IOMMU map count after the event (sanitizer kinds).
  package var count: Int64?
  /// Extra facts in a fixed order (`size`, `map size`, `iommu`, ...),
  /// printed in the iommusan block and as JSON keys.
  package var details: [Detail]
  /// The page_owner record of the page, when `page_owner=on` and the report
  /// is about a page.
  package var pageOwner: PageOwnerRecord?
  /// Lines printed after the end marker (for example `dump_page_owner()`'s
  /// preamble is rendered from `pageOwner`; this holds anything else).
  package var trailer: [String]

  package init(
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
package struct Detail: Sendable, Hashable {
  package var key: String
  package var value: DetailValue
  package init(_ key: String, _ value: DetailValue) {
    self.key = key
    self.value = value
  }
}

package enum DetailValue: Sendable, Hashable {
  case int(Int64)
  case hex(UInt64)
  case string(String)
}

/// One frame of an emulated call chain, printed `function+0xOFF/0xSIZE [module]`.
package struct StackFrame: Sendable, Hashable {
  package var function: String
  /// The module in brackets (`[nvme]`), or nil for built-in kernel code.
  package var module: String?
  /// For the frame of fixture code: the file and line of the statement.
  package var sourceFile: String?
  package var sourceLine: Int?
  /// True for the driver's frame, which `RIP:` points at.
  package var isGuilty: Bool

  package init(
    _ function: String, module: String? = nil, sourceFile: String? = nil, sourceLine: Int? = nil, isGuilty: Bool = false
  ) {
    self.function = function
    self.module = module
    self.sourceFile = sourceFile
    self.sourceLine = sourceLine
    self.isGuilty = isGuilty
  }

  /// A deterministic `+0xOFF/0xSIZE` for the function (FNV-1a of its name),
  /// so output is byte-identical on every run and machine.
  package var offsetAndSize: (offset: UInt64, size: UInt64) {
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
package struct StatementLocation: Sendable, Hashable {
  package var file: String
  package var line: Int
  package var column: Int
  /// The statement's source text, trimmed.
  package var text: String
  package init(file: String, line: Int, column: Int = 1, text: String) {
    self.file = file
    self.line = line
    self.column = column
    self.text = text
  }
}

/// The emulated task that ran a statement.
package struct TaskInfo: Sendable, Hashable {
  package var pid: Int
  package var tgid: Int
  package var comm: String
  package var cpu: Int
  package init(pid: Int, tgid: Int, comm: String, cpu: Int = 0) {
    self.pid = pid
    self.tgid = tgid
    self.comm = comm
    self.cpu = cpu
  }
}

/// What `__dump_page_owner()` prints about a page.
package struct PageOwnerRecord: Sendable, Hashable {
  /// True when the page is allocated now (`tracks the page as allocated`).
  package var isAllocated: Bool
  package var order: Int
  /// The allocation's gfp flags; they give the migratetype too.
  package var gfp: GFPFlags
  package var pid: Int
  package var tgid: Int
  package var comm: String
  /// Emulated nanosecond timestamps.
  package var ts: UInt64
  package var freeTs: UInt64
  /// Allocation stack (innermost first); empty prints `page_owner allocation stack trace missing`.
  package var allocStack: [StackFrame]
  /// Free stack with its task, or nil when the page was never freed.
  package var freePid: Int?
  package var freeTgid: Int?
  package var freeStack: [StackFrame]

  package init(
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
