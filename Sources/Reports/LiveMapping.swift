import KernelTypes
import MemoryModel

/// An IOMMU mapping that still translates to a report's page: which domain
/// and devices can reach it, at which IOVA, through how large a leaf, and
/// where the mapping was made. The page tables say it is live; the engine
/// that made the report says where it came from.
package struct LiveMapping: Sendable, Hashable {
  /// A device (and PASID) attached to the domain.
  package struct Attachment: Sendable, Hashable {
    package var device: String
    package var pasid: UInt32?
    package init(device: String, pasid: UInt32?) {
      self.device = device
      self.pasid = pasid
    }
  }

  package var domain: String
  package var attachments: [Attachment]
  /// The range the map call mapped.
  package var iova: IOVA
  package var size: UInt64
  /// The IOVA of the report's page within it, and the size of its leaf.
  package var pageIOVA: IOVA
  package var leafSize: UInt64
  /// The driver's statement that made the mapping, and the name it bound
  /// the result to, where there is one.
  package var file: String?
  package var line: Int?
  package var binding: String?
  /// Identifies the statement, for the runner to name its binding.
  package var statementIndex: Int
  /// The kernel path of the map, innermost first (`iommu_map`, `__iommu_dma_map`, ...).
  package var path: [String]

  package init(
    domain: String, attachments: [Attachment], iova: IOVA, size: UInt64, pageIOVA: IOVA, leafSize: UInt64,
    file: String?, line: Int?, binding: String? = nil, statementIndex: Int, path: [String]
  ) {
    self.domain = domain
    self.attachments = attachments
    self.iova = iova
    self.size = size
    self.pageIOVA = pageIOVA
    self.leafSize = leafSize
    self.file = file
    self.line = line
    self.binding = binding
    self.statementIndex = statementIndex
    self.path = path
  }
}

/// Where something happened to a report's page: the driver's statement
/// (from the driver frame of its stack) and the task that ran it.
package struct PageEventSite: Sendable, Hashable {
  package var file: String?
  package var line: Int?
  package var task: EmulatedTask
  package init(file: String?, line: Int?, task: EmulatedTask) {
    self.file = file
    self.line = line
    self.task = task
  }

  /// The site of a stack: its driver frame, if it has one.
  package init(stack: [KernelFrame], task: EmulatedTask) {
    let driver = stack.first { $0.isDriver }
    self.init(file: driver?.file, line: driver?.line, task: task)
  }

  /// `FILE:LINE` (or `no statement`) and the task, for text.
  package var description: String {
    let at = file.flatMap { f in line.map { "\(f):\($0)" } } ?? "(no statement)"
    return "\(at) by \(task.comm)/\(task.pid)"
  }
}

/// One event in a page's life, as `run --history` and a report's history
/// tail print it: what happened (`alloc`, `free`, `map`, `unmap`, `dma`,
/// `report`), the statement line that did it, and the facts in words.
package struct PageHistoryEvent: Sendable, Hashable {
  package var event: String
  package var file: String?
  package var line: Int?
  package var text: String
  /// The same facts as values, for the HTML timeline's lanes (the text and
  /// JSON forms print only `text`): the task that ran the statement, the
  /// device of a DMA, whether it wrote, the IOMMU unit whose caches it went
  /// through and its translation path (`walk`, `walk-cache`, `iotlb`, `atc`,
  /// `identity`), and the domain and IOVA of a map, unmap or DMA.
  package var task: EmulatedTask?
  package var device: String?
  package var isWrite: Bool?
  package var iommu: String?
  package var path: String?
  package var domain: String?
  package var iova: UInt64?
  /// For an invalidation: the cache (`IOTLB`, `IOTLB and walk caches`,
  /// `ATC of DEVICE`), the last IOVA of the range (`iova` is the first), and
  /// whether it was `issued`, `issued and completed` or `issued, timed out`.
  package var cache: String?
  package var iovaLast: UInt64?
  package var state: String?
  /// For a traced event (replay): its timestamp, CPU and pid.
  package var ts: String?
  package var cpu: Int?
  package var pid: Int?
  package init(
    event: String, file: String?, line: Int?, text: String, task: EmulatedTask? = nil, device: String? = nil,
    isWrite: Bool? = nil, iommu: String? = nil, path: String? = nil, domain: String? = nil, iova: UInt64? = nil,
    ts: String? = nil, cpu: Int? = nil, pid: Int? = nil
  ) {
    self.event = event
    self.file = file
    self.line = line
    self.text = text
    self.task = task
    self.device = device
    self.isWrite = isWrite
    self.iommu = iommu
    self.path = path
    self.domain = domain
    self.iova = iova
    self.ts = ts
    self.cpu = cpu
    self.pid = pid
  }
}
