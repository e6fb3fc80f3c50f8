import KernelTypes

/// A run's kernel log, as dmesg shows it: the renderer's lines with the
/// printk prefix, the taint the first WARN leaves on every later splat, and
/// the boot line of IOMMU_DEBUG_PAGEALLOC.
package struct KernelLog: Sendable {
  package var renderer: KernelTextRenderer
  /// Whether lines start with `[%5lu.%06lu][%6s] ` (printk's time and
  /// `CONFIG_PRINTK_CALLER` field, `[T<pid>]`). On by default: that is how
  /// dmesg and console logs look, and how syzkaller's parser tells one
  /// report from the next. The emulated clock is deterministic, so golden
  /// files keep them; `--no-timestamps` leaves them out.
  package var timestamps: Bool
  /// The taints the reports so far left (`add_taint()`).
  package private(set) var taints: Taint = []
  /// The `BUG()` oopses so far: x86's `die_counter`, printed `[#N]`.
  package private(set) var oopses = 0
  /// `debug_locks`: 1 at boot (lib/debug_locks.c; CONFIG_DEBUG_VM and
  /// KASAN select CONFIG_DEBUG_KERNEL, so it is a real flag).
  package private(set) var debugLocks = true

  package init(renderer: KernelTextRenderer = KernelTextRenderer(), timestamps: Bool = true) {
    self.renderer = renderer
    self.timestamps = timestamps
  }

  /// `iommu_debug_init()` (drivers/iommu/iommu-debug-pagealloc.c), from
  /// `iommu_subsys_init()`: `pr_info("iommu: Debugging page allocations,
  /// expect overhead or disable iommu.debug_pagealloc")`, by the boot task.
  package static let bootLine = "iommu: Debugging page allocations, expect overhead or disable iommu.debug_pagealloc"

  /// The boot line, printed at time 0 by `swapper/0` (pid 1 runs initcalls).
  package func boot() -> String {
    line(Self.bootLine, time: 0, pid: 1)
  }

  /// `add_taint()`'s line when `LOCKDEP_NOW_UNRELIABLE` turns `debug_locks`
  /// off (`__debug_locks_off()` returned 1): printed once per boot.
  /// The corresponding Linux function is `add_taint()`.
  package static let lockDebuggingOffLine = "Disabling lock debugging due to kernel taint"

  /// A report's lines, with the taints of the reports before it, the oops
  /// number and, the first time lock debugging goes off, `add_taint()`'s line.
  ///
  /// Which splats turn `debug_locks` off: `bad_page()` and KASAN's
  /// `end_report()` call `add_taint(TAINT_BAD_PAGE, LOCKDEP_NOW_UNRELIABLE)`,
  /// which prints the line; a `BUG()`'s `oops_enter()` calls
  /// `debug_locks_off()` first, which prints nothing (its `oops_end()`'s
  /// `add_taint(TAINT_DIE, LOCKDEP_NOW_UNRELIABLE)` then finds it off);
  /// `__warn()` passes `LOCKDEP_STILL_OK` and leaves it on.
  /// The corresponding Linux functions are `add_taint()` and `__die_header()`.
  package mutating func report(_ report: Report) -> String {
    var r = renderer
    r.taints = taints
    taints.formUnion(report.splat.taint)
    switch report.splat {
    case .bug:
      oopses += 1
      debugLocks = false
    case .badPage, .kasan:
      r.disablesLockDebugging = debugLocks
      debugLocks = false
    case .warning: break
    }
    r.dieCounter = max(oopses, 1)
    var out = ""
    for l in r.lines(report) { out += prefix(time: report.time, pid: report.task.pid) + l + "\n" }
    return out
  }

  /// One printk line (a machine message), with its prefix.
  package func line(_ text: String, time: UInt64, pid: Int) -> String {
    var out = ""
    for l in KernelText.printkLines(text) { out += prefix(time: time, pid: pid) + l + "\n" }
    return out
  }

  func prefix(time: UInt64, pid: Int) -> String {
    timestamps ? KernelText.printkPrefix(nanoseconds: time, pid: pid) : ""
  }
}
