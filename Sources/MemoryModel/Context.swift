/// A frame of an emulated kernel call chain.
public struct KernelFrame: Sendable, Hashable {
  public var function: String
  /// The module (`[nvme]`), nil for built-in code.
  public var module: String?
  /// For the driver's own frame: the fixture file and line.
  public var file: String?
  public var line: Int?
  /// True for fixture (driver) code.
  public var isDriver: Bool

  public init(_ function: String, module: String? = nil, file: String? = nil, line: Int? = nil, isDriver: Bool = false) {
    self.function = function
    self.module = module
    self.file = file
    self.line = line
    self.isDriver = isDriver
  }
}

/// The emulated task running an operation (the kernel's `current`).
public struct EmulatedTask: Sendable, Hashable {
  public var pid: Int
  public var tgid: Int
  public var comm: String
  public var cpu: Int
  public init(pid: Int, tgid: Int, comm: String, cpu: Int = 0) {
    self.pid = pid
    self.tgid = tgid
    self.comm = String(comm.prefix(15))
    self.cpu = cpu
  }
  /// The kernel's idle/boot task, for work done outside any statement.
  public static let swapper = EmulatedTask(pid: 0, tgid: 0, comm: "swapper/0")
}

/// Who is calling into the machine: the task and the driver frame at the
/// bottom of every emulated call chain.
public struct CallContext: Sendable, Hashable {
  public var task: EmulatedTask
  /// The driver's frame: the fixture statement that made the call.
  public var caller: KernelFrame
  /// An index identifying the statement (for events and reports).
  public var statementIndex: Int

  public init(task: EmulatedTask, caller: KernelFrame, statementIndex: Int = -1) {
    self.task = task
    self.caller = caller
    self.statementIndex = statementIndex
  }

  /// Work the machine does on its own (timers, workers).
  public static func kernel(_ function: String) -> CallContext {
    CallContext(task: .swapper, caller: KernelFrame(function))
  }

  /// A call chain: `frames` (innermost first) above the caller's frame.
  public func chain(_ frames: String...) -> [KernelFrame] {
    frames.map { KernelFrame($0) } + [caller]
  }
  public func chain(_ frames: [String]) -> [KernelFrame] {
    frames.map { KernelFrame($0) } + [caller]
  }
}
