import KernelTypes

#if canImport(Glibc) && !IOMMUSAN_TSAN
  import Glibc
#else
  import Foundation
#endif

#if canImport(Glibc) && !IOMMUSAN_TSAN
  /// glibc's user-level context switch (`getcontext`, `makecontext`,
  /// `swapcontext` of ucontext.h, which Swift's Glibc module leaves out) and
  /// the Swift runtime's exclusivity hand-over between contexts that share a
  /// thread (`swift_task_enter/exitThreadLocalContext`, as Swift's tasks use),
  /// looked up at run time.
  private enum UserContext {
    typealias Entry = @convention(c) (UInt32, UInt32) -> Void
    typealias Get = @convention(c) (UnsafeMutablePointer<ucontext_t>) -> Int32
    typealias Make = @convention(c) (UnsafeMutablePointer<ucontext_t>, Entry, Int32, UInt32, UInt32) -> Void
    typealias Swap = @convention(c) (UnsafeMutablePointer<ucontext_t>, UnsafePointer<ucontext_t>) -> Int32
    typealias Accesses = @convention(c) (UnsafeMutableRawPointer) -> Void

    static func symbol<T>(_ name: String, _ type: T.Type) -> T {
      guard let handle = dlopen(nil, RTLD_NOW), let p = dlsym(handle, name) else {
        fatalError("iommusan explore: \(name) not found")
      }
      return unsafeBitCast(p, to: type)
    }
    static let get = symbol("getcontext", Get.self)
    static let make = symbol("makecontext", Make.self)
    static let swap = symbol("swapcontext", Swap.self)
    static let enter = symbol("swift_task_enterThreadLocalContext", Accesses.self)
    static let exit = symbol("swift_task_exitThreadLocalContext", Accesses.self)
  }

  /// A context that carries the task blocks of schedules, one statement run at
  /// a time, with a stack of its own: a block stopped inside a statement (at a
  /// kernel step) keeps its carrier, parked, until chosen. Carriers switch on
  /// the thread that runs the schedule (user-level context switches: no other
  /// thread, no kernel scheduler between two steps) and are kept in the
  /// thread's `CarrierPool` across schedules. The thread's own stack is a
  /// carrier too (`CarrierPool.home`).
  final class Carrier {
    /// Whether a schedule's carriers all run on the thread that runs it.
    static let sharesThread = true
    fileprivate let context = UnsafeMutablePointer<ucontext_t>.allocate(capacity: 1)
    /// The Swift runtime's record of this carrier's dynamic exclusivity
    /// accesses while another carrier runs (two words, zero at first).
    private let accesses = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
    /// What a pool carrier runs when switched to (set by `CarrierPool.take`'s
    /// caller); it returns the carrier to switch to, once this one has no work.
    var work: ((Carrier) -> Carrier)?

    /// The mapping of a pool carrier's stack (with its guard page).
    fileprivate var stack: UnsafeMutableRawBufferPointer?

    fileprivate init() {
      context.initialize(to: ucontext_t())
      accesses.initializeMemory(as: UInt8.self, repeating: 0, count: 16)
    }

    deinit {
      context.deallocate()
      accesses.deallocate()
    }

    /// Stops running this carrier and runs `next`; returns when a carrier switches back to this one.
    func switchTo(_ next: Carrier) {
      UserContext.exit(accesses)
      _ = UserContext.swap(context, next.context)
      UserContext.enter(accesses)
    }

    /// An idle carrier that is never switched to again: unmaps its stack
    /// and drops the reference its context held (`makeCarrier`), so the
    /// carrier is freed with the pool's last reference.
    fileprivate func retire() {
      guard let stack, let base = stack.baseAddress else { return }
      munmap(base, stack.count)
      self.stack = nil
      Unmanaged.passUnretained(self).release()
    }

    /// The pool carrier's body: runs each `work` it is given. Its frames
    /// hold no reference to a carrier while switched away (the stack of a
    /// retired carrier is unmapped with them): the carrier is reached
    /// through the unretained `me`, and the next one's context is read from
    /// a temporary released before the switch.
    fileprivate static func main(_ me: Unmanaged<Carrier>) -> Never {
      let (context, accesses) = me._withUnsafeGuaranteedRef { ($0.context, $0.accesses) }
      UserContext.enter(accesses)
      while true {
        let next = me._withUnsafeGuaranteedRef { $0.runWork().context }
        UserContext.exit(accesses)
        _ = UserContext.swap(context, next)
        UserContext.enter(accesses)
      }
    }
  }

  extension CarrierPool {
    /// A new carrier with a stack of its own, ready to run its `work` when switched to.
    fileprivate static func makeCarrier() -> Carrier {
      let carrier = Carrier()
      let page = Int(sysconf(Int32(_SC_PAGESIZE)))
      guard
        let stack = mmap(
          nil, stackSize + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
        stack != MAP_FAILED, mprotect(stack, page, PROT_NONE) == 0
      else {
        fatalError("iommusan explore: no memory for a task's stack (\(Errno(code: errno)?.name ?? "errno \(errno)"))")
      }
      _ = UserContext.get(carrier.context)
      carrier.context.pointee.uc_stack.ss_sp = stack + page
      carrier.stack = UnsafeMutableRawBufferPointer(start: stack, count: stackSize + page)
      carrier.context.pointee.uc_stack.ss_size = stackSize
      carrier.context.pointee.uc_link = nil
      // The context's reference, dropped by `retire`.
      let bits = UInt(bitPattern: Unmanaged.passRetained(carrier).toOpaque())
      UserContext.make(
        carrier.context,
        { high, low in
          let p = UnsafeMutableRawPointer(bitPattern: UInt(high) << 32 | UInt(low))!
          Carrier.main(Unmanaged<Carrier>.fromOpaque(p))
        }, 2, UInt32(truncatingIfNeeded: bits >> 32), UInt32(truncatingIfNeeded: bits))
      return carrier
    }
  }
#else
  /// Where user-level context switches are not available (or under
  /// ThreadSanitizer, which does not follow them): each carrier is a thread,
  /// and a switch hands a semaphore from one to the next.
  final class Carrier: @unchecked Sendable {
    /// Whether a schedule's carriers all run on the thread that runs it.
    static let sharesThread = false
    private let baton = DispatchSemaphore(value: 0)
    /// What a pool carrier runs when switched to (set by `CarrierPool.take`'s
    /// caller); it returns the carrier to switch to, once this one has no work.
    var work: ((Carrier) -> Carrier)?
    /// Set by `retire` before it wakes the idle thread, which then ends.
    private var retired = false

    fileprivate init() {}

    /// An idle carrier that is never switched to again: its thread, waiting
    /// for work, wakes and ends (and releases the carrier).
    fileprivate func retire() {
      retired = true
      baton.signal()
    }

    /// Stops running this carrier and runs `next`; returns when a carrier switches back to this one.
    func switchTo(_ next: Carrier) {
      next.baton.signal()
      baton.wait()
    }

    fileprivate func start() {
      let thread = Thread { [self] in
        baton.wait()
        while !retired { switchTo(runWork()) }
      }
      thread.stackSize = CarrierPool.stackSize
      thread.start()
    }
  }

  extension CarrierPool {
    /// A new carrier: a thread that runs its `work` when switched to.
    fileprivate static func makeCarrier() -> Carrier {
      let carrier = Carrier()
      carrier.start()
      return carrier
    }
  }
#endif

extension Carrier {
  /// Runs the carrier's `work` and returns the carrier to switch to. The work
  /// (and what it captures, such as a finished schedule) is released on
  /// return, so an idle carrier's stack holds none of it.
  fileprivate func runWork() -> Carrier {
    guard let w = work else { fatalError("iommusan explore: a carrier was switched to without work") }
    work = nil
    return w(self)
  }
}

/// The carriers of one thread: its own stack (`home`) and the idle ones.
final class CarrierPool: @unchecked Sendable {
  /// The stack of a pool carrier (and, with user-level contexts, a guard page below it).
  static let stackSize = 8 << 20
  let home = Carrier()
  private var idle: [Carrier] = []

  /// The calling thread's pool.
  static var current: CarrierPool {
    if let p = pthread_getspecific(key) { return Unmanaged<CarrierPool>.fromOpaque(p).takeUnretainedValue() }
    let pool = CarrierPool()
    pthread_setspecific(key, Unmanaged.passRetained(pool).toOpaque())
    return pool
  }
  /// The thread's pool, released when the thread exits (libdispatch's
  /// workers for `--jobs` exit when idle), when none of its carriers runs.
  private static let key: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { p in
      guard let p = p as UnsafeMutableRawPointer? else { return }
      Unmanaged<CarrierPool>.fromOpaque(p).release()
    }
    return key
  }()

  /// Retires the idle carriers (their stacks unmapped, or their threads
  /// ended), which are freed with the pool: the pool is released on thread
  /// exit (on the thread's own stack), when no carrier of it runs, and every
  /// carrier it made is idle.
  deinit {
    for carrier in idle { carrier.retire() }
  }

  /// An idle carrier (a new one if none is): set its `work`, then switch to it.
  func take() -> Carrier {
    idle.popLast() ?? Self.makeCarrier()
  }

  /// The pool's carriers: its thread's own and the idle ones.
  var carriers: [Carrier] { [home] + idle }

  /// `carrier` has no work: `take` may give it some.
  func keepIdle(_ carrier: Carrier) {
    if carrier !== home { idle.append(carrier) }
  }
}
