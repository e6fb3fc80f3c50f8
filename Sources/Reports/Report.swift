import KernelTypes
import MemoryModel

/// One complete report: every fact a renderer prints, gathered before
/// anything is printed (as KASAN's `kasan_report_info` is).
@dynamicMemberLookup
package struct Report: Sendable, Hashable {
  /// What the check found: kind, headline, WARN site, the detector's
  /// frames, the page, IOVA, names and details. Its fields read as the
  /// report's own (`report.kind`, `report.pfn`).
  package var finding: Finding
  package var source: ReportSource { finding.kind.source }

  /// The emulated call chain, innermost first: the finding's frames above
  /// its callers. The frame flagged `isGuilty` is the driver's own code,
  /// which the `RIP:` line points at so that syzkaller's parser gives one
  /// title per bug site.
  package var callTrace: [StackFrame]
  /// The fixture statement (or trace line) that caused the report.
  package var statement: StatementLocation?
  /// The task that ran the statement.
  package var task: EmulatedTask
  /// The page_owner record of the page, when `page_owner=on` and the report
  /// is about a page.
  package var pageOwner: PageOwnerRecord?
  /// Lines printed after the end marker (for example `dump_page_owner()`'s
  /// preamble is rendered from `pageOwner`; this holds anything else).
  package var trailer: [String]
  /// Every mapping that still translates to the report's page, when it names one.
  package var mappings: [LiveMapping] = []
  /// Where the page was last freed, and where it was allocated again after
  /// that, for reports about a page used after its free.
  package var freedAt: PageEventSite?
  package var reallocatedAt: PageEventSite?
  /// The last events of the report's page, oldest first (JSON only).
  package var history: [PageHistoryEvent] = []
  /// When the WARN fired, in emulated (or traced) nanoseconds since boot:
  /// the printk timestamp of its lines.
  package var time: UInt64 = 0

  package subscript<T>(dynamicMember keyPath: WritableKeyPath<Finding, T>) -> T {
    get { finding[keyPath: keyPath] }
    set { finding[keyPath: keyPath] = newValue }
  }

  /// The report of a finding, completed by the engine that made it, as
  /// KASAN's `complete_report_info()` completes a `kasan_report_info`: the
  /// call trace is the finding's frames above `callers` (innermost first).
  package init(
    _ finding: Finding, callers: [StackFrame], statement: StatementLocation?, task: EmulatedTask,
    pageOwner: PageOwnerRecord?, trailer: [String] = []
  ) {
    self.finding = finding
    self.callTrace = finding.frames.map { StackFrame($0) } + callers
    self.statement = statement
    self.task = task
    self.pageOwner = pageOwner
    self.trailer = trailer
  }

  /// A report given whole, for renderers' tests and examples.
  package init(
    kind: ReportKind, headline: String, warnMessage: [String] = [], warningSite: WarningSite,
    callTrace: [StackFrame], statement: StatementLocation?, task: EmulatedTask,
    pfn: PFN? = nil, phys: PhysicalAddress? = nil, iova: IOVA? = nil, domain: String? = nil,
    device: String? = nil, pasid: UInt32? = nil, count: Int64? = nil, details: [Detail] = [],
    pageOwner: PageOwnerRecord? = nil, trailer: [String] = []
  ) {
    self.init(
      Finding(
        kind: kind, headline: headline, warnMessage: warnMessage, warningSite: warningSite, frames: [], pfn: pfn,
        phys: phys, iova: iova, domain: domain, device: device, pasid: pasid, count: count, details: details),
      callers: callTrace, statement: statement, task: task, pageOwner: pageOwner, trailer: trailer)
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

/// What `__dump_page_owner()` prints about a page.
package struct PageOwnerRecord: Sendable, Hashable {
  /// The record of a page page_owner never saw allocated (`!test_bit(PAGE_EXT_OWNER, ...)`).
  package static let notPresent: PageOwnerRecord = {
    var r = PageOwnerRecord(
      isAllocated: false, order: 0, gfp: GFPFlags(names: [], mask: 0), pid: 0, tgid: 0, comm: "", ts: 0, freeTs: 0,
      allocStack: [], freePid: nil, freeTgid: nil, freeStack: [])
    r.neverSet = true
    return r
  }()

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
  /// True for a page whose page_ext never had an owner set: `__dump_page_owner()`
  /// prints only `page_owner info is not present (never set?)`.
  package var neverSet = false
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
