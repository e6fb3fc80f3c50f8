/// A frame of an emulated kernel call chain.
package struct KernelFrame: Sendable, Hashable {
  package var function: String
  /// The module (`[nvme]`), nil for built-in code.
  package var module: String?
  /// For the driver's own frame: the fixture file and line.
  package var file: String?
  package var line: Int?
  /// True for fixture (driver) code.
  package var isDriver: Bool

  package init(_ function: String, module: String? = nil, file: String? = nil, line: Int? = nil, isDriver: Bool = false)
  {
    self.function = function
    self.module = module
    self.file = file
    self.line = line
    self.isDriver = isDriver
  }
}

/// The emulated task running an operation (the kernel's `current`).
package struct EmulatedTask: Sendable, Hashable {
  package var pid: Int
  package var tgid: Int
  package var comm: String
  package var cpu: Int
  package init(pid: Int, tgid: Int, comm: String, cpu: Int = 0) {
    self.pid = pid
    self.tgid = tgid
    self.comm = String(comm.prefix(15))
    self.cpu = cpu
  }
  /// The kernel's idle/boot task, for work done outside any statement.
  package static let swapper = EmulatedTask(pid: 0, tgid: 0, comm: "swapper/0")
}

/// Who is calling into the machine: the task and the driver frame at the
/// bottom of every emulated call chain.
package struct CallContext: Sendable, Hashable {
  package var task: EmulatedTask
  /// The driver's frame: the fixture statement that made the call.
  package var caller: KernelFrame
  /// An index identifying the statement (for events and reports).
  package var statementIndex: Int
  /// Kernel functions between the API being called and `caller`, innermost
  /// first, when the call came through another kernel layer: a DMA-API map
  /// reaches `iommu_map()` through `__iommu_dma_map()`, `iommu_dma_map_phys()`
  /// and `dma_map_phys()`. Empty for a direct call.
  package var via: [String] = []

  package init(task: EmulatedTask, caller: KernelFrame, statementIndex: Int = -1) {
    self.task = task
    self.caller = caller
    self.statementIndex = statementIndex
  }

  /// Work the machine does on its own (timers, workers).
  package static func kernel(_ function: String) -> CallContext {
    CallContext(task: .swapper, caller: KernelFrame(function))
  }

  /// A call chain: `frames` (innermost first) above `via` and the caller's frame.
  package func chain(_ frames: String...) -> [KernelFrame] {
    chain(frames)
  }
  package func chain(_ frames: [String]) -> [KernelFrame] {
    (frames + via).map { KernelFrame($0) } + [caller]
  }

  /// This context, called through the kernel functions `frames` (innermost first).
  package func through(_ frames: [String]) -> CallContext {
    var c = self
    c.via = frames + via
    return c
  }
}
