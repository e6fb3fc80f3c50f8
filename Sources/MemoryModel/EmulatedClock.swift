import Synchronization

/// Emulated time in nanoseconds. Only `advance` moves it; every statement
/// also ticks it by a fixed amount so timestamps are ordered and
/// deterministic.
package final class EmulatedClock: Sendable {
  private let _now = Atomic<UInt64>(0)
  package init() {}
  package var now: UInt64 { _now.load(ordering: .relaxed) }
  /// Moves time forward by `ns`, saturating at `UInt64.max`.
  package func advance(by ns: UInt64) {
    while true {
      let old = _now.load(ordering: .relaxed)
      let (new, o) = old.addingReportingOverflow(ns)
      if _now.compareExchange(expected: old, desired: o ? .max : new, ordering: .relaxed).exchanged { return }
    }
  }

  /// Moves time forward to `ns` if it is not there yet. Safe when several
  /// threads move the clock: time never goes back, and no thread computes
  /// a difference from a value another thread has already passed.
  package func advance(to ns: UInt64) {
    var old = _now.load(ordering: .relaxed)
    while old < ns {
      let (exchanged, current) = _now.compareExchange(expected: old, desired: ns, ordering: .relaxed)
      if exchanged { return }
      old = current
    }
  }
}
