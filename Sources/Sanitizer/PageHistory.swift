import IOMMU
import KernelTypes
import MemoryModel
import Reports

/// The life of each page the machine touched: allocations, frees, map and
/// unmap calls that covered it, the IOTLB, walk-cache and ATC invalidations
/// of an IOVA range where it was (or had just been) mapped, device accesses
/// that reached it (and the IOTLB or ATC fills a walk made), and the reports
/// about it (also those `bad_page()`'s rate limit kept quiet). Each page
/// keeps its last `depth` events; `run --history` keeps every event.
///
/// Memory is bounded: at most `maximumPages` pages are followed (the ones
/// seen first are dropped for new ones), and one event touches at most
/// `maximumFanOut` pages (the first ones of a larger range).
struct PageHistory {
  /// An event as recorded: cheap to make, put into words only when printed.
  struct Entry {
    enum What {
      case alloc(order: Int, use: PageUse)
      case free(order: Int)
      case map(domain: String, iova: UInt64, size: UInt64)
      case unmap(domain: String, iova: UInt64, size: UInt64)
      case access(device: String, iommu: String, write: Bool, iova: UInt64, path: String)
      case report(ReportKind)
      /// A report the kernel's rate limit kept quiet (`bad_page()`).
      case suppressedReport(ReportKind)
      case invalidation(Invalidation)
    }
    var what: What
    var caller: KernelFrame
    var task: EmulatedTask
  }

  /// An invalidation command, as a page's history tells it. The model
  /// issues a command and waits for it with nothing in between, so one event
  /// records both, when the command completed or timed out.
  struct Invalidation {
    enum State: String {
      case completed = "issued and completed"
      case timedOut = "issued, timed out"
    }
    /// `IOTLB`, `IOTLB and walk caches`, `ATC of DEVICE`.
    var cache: String
    var command: String
    var unit: String
    /// The device of an ATC command.
    var device: String?
    var domain: String
    /// The IOVA range where the page was mapped, clipped to the command's.
    var first: UInt64
    var last: UInt64
    /// Whether the command names every IOVA (a domain-wide or global flush).
    var everyIOVA: Bool
    var state: State
  }

  static let maximumPages = 1 << 14
  static let maximumFanOut: UInt64 = 4096

  /// Events kept per page; nil keeps all.
  let depth: Int?
  /// Where events are charged (`pageHistory`; nil: nowhere). An event the
  /// budget refuses is not recorded.
  let budget: ResidentBudget?
  /// What an event costs in its page's array, and what a followed page
  /// costs (its dictionary slot, array header and place in `order`).
  static let eventBytes = 192
  static let pageBytes = 128
  /// The bytes charged now.
  private(set) var chargedBytes = 0
  private var pages: [UInt64: [Entry]] = [:]
  private var order: [UInt64] = []
  private var oldest = 0

  init(depth: Int?, budget: ResidentBudget? = nil) {
    self.depth = depth
    self.budget = budget
  }

  /// Charges `bytes`; false when the budget refuses them.
  private mutating func charge(_ bytes: Int) -> Bool {
    guard let budget else { return true }
    guard budget.charge(bytes, .pageHistory) else { return false }
    chargedBytes += bytes
    return true
  }

  private mutating func release(_ bytes: Int) {
    guard let budget else { return }
    budget.release(bytes, .pageHistory)
    chargedBytes -= bytes
  }

  /// Records `what` for every page of `[first, first + count)`.
  mutating func record(_ what: Entry.What, pages first: UInt64, count: UInt64, context: CallContext) {
    let entry = Entry(what: what, caller: context.caller, task: context.task)
    let (end, wraps) = first.addingReportingOverflow(min(count, Self.maximumFanOut))
    for pfn in first..<(wraps ? .max : end) {
      if pages[pfn] == nil {
        guard charge(Self.pageBytes + Self.eventBytes) else { return }
        follow(pfn)
      } else {
        guard charge(Self.eventBytes) else { return }
      }
      pages[pfn, default: []].append(entry)
      if let depth, let n = pages[pfn]?.count, n > depth {
        pages[pfn]?.removeFirst(n - depth)
        release((n - depth) * Self.eventBytes)
      }
    }
  }

  /// Records an invalidation on each page of `groups` that is already
  /// followed (no page is followed because of an invalidation), at most
  /// `maximumFanOut` pages in all.
  mutating func record(_ groups: [(Invalidation, pages: [UInt64])], context: CallContext) {
    var budget = Int(Self.maximumFanOut)
    for (inv, pfns) in groups {
      let entry = Entry(what: .invalidation(inv), caller: context.caller, task: context.task)
      for pfn in pfns where budget > 0 && pages[pfn] != nil {
        append(entry, to: pfn)
        budget -= 1
      }
    }
  }

  private mutating func append(_ entry: Entry, to pfn: UInt64) {
    pages[pfn, default: []].append(entry)
    if let depth, let n = pages[pfn]?.count, n > depth { pages[pfn]?.removeFirst(n - depth) }
  }

  /// The events of one page, oldest first, put into words.
  func events(of pfn: UInt64, last: Int? = nil) -> [PageHistoryEvent] {
    let all = pages[pfn] ?? []
    return all.suffix(last ?? all.count).map(Self.describe)
  }

  private mutating func follow(_ pfn: UInt64) {
    if order.count - oldest >= Self.maximumPages {
      if let dropped = pages.removeValue(forKey: order[oldest]) {
        release(Self.pageBytes + dropped.count * Self.eventBytes)
      }
      oldest += 1
      if oldest > order.count / 2 {
        order.removeFirst(oldest)
        oldest = 0
      }
    }
    order.append(pfn)
  }

  static func describe(_ e: Entry) -> PageHistoryEvent {
    let by = "by \(e.task.comm)/\(e.task.pid)"
    var out = PageHistoryEvent(event: "", file: e.caller.file, line: e.caller.line, text: "", task: e.task)
    switch e.what {
    case .alloc(let order, let use):
      (out.event, out.text) = ("alloc", "allocated, order \(order), as \(use.rawValue) \(by)")
    case .free(let order): (out.event, out.text) = ("free", "freed, order \(order) \(by)")
    case .map(let d, let iova, let size):
      (out.event, out.text) = ("map", "mapped in \(d) at iova \(IOVA(iova)), size \(size.hexAlt)")
      (out.domain, out.iova) = (d, iova)
    case .unmap(let d, let iova, let size):
      (out.event, out.text) = ("unmap", "unmapped from \(d) at iova \(IOVA(iova)), size \(size.hexAlt)")
      (out.domain, out.iova) = (d, iova)
    case .access(let device, let iommu, let write, let iova, let path):
      out.event = "dma"
      out.text =
        "\(device) \(write ? "wrote" : "read") at iova \(IOVA(iova)) through the "
        + (path == "walk" ? "page table (filling the IOTLB)" : path)
      (out.device, out.isWrite, out.iommu, out.path, out.iova) = (device, write, iommu, path, iova)
    case .report(let kind): (out.event, out.text) = ("report", kind.rawValue)
    case .suppressedReport(let kind):
      (out.event, out.text) = ("report", kind.rawValue + " (not printed: the kernel's rate limit kept it quiet)")
    case .invalidation(let inv):
      let range =
        inv.everyIOVA
        ? "every iova (mapped at \(IOVA(inv.first))-\(IOVA(inv.last)))" : "iova \(IOVA(inv.first))-\(IOVA(inv.last))"
      out.event = "invalidation"
      out.text =
        "invalidation of the \(inv.cache) (\(inv.command) on \(inv.unit)) for \(inv.domain) \(range): "
        + inv.state.rawValue
      (out.domain, out.iova, out.iovaLast, out.cache, out.state) = (
        inv.domain, inv.first, inv.last, inv.cache, inv.state.rawValue
      )
      (out.iommu, out.device) = (inv.unit, inv.device)
    }
    return out
  }
}
