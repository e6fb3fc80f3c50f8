import Dispatch
import Synchronization

/// The hand-off between the threads of a schedule: one waiter, and at most
/// one signal outstanding (the thread that signals stops running the
/// schedule). The waiter spins briefly on an atomic before it blocks, as
/// the thread it waits for usually signals within microseconds.
final class Baton: Sendable {
  /// 0: nothing; 1: signalled; 2: the waiter sleeps on `semaphore`.
  private let state = Atomic<Int>(0)
  private let semaphore = DispatchSemaphore(value: 0)
  /// Loads of `state` before the waiter blocks.
  static let spins = 4000

  /// Lets the waiter go (now, or at its next `wait`).
  func signal() {
    if state.exchange(1, ordering: .acquiringAndReleasing) == 2 { semaphore.signal() }
  }

  /// Returns once signalled, consuming the signal.
  func wait() {
    for _ in 0..<Self.spins where state.load(ordering: .acquiring) == 1 {
      state.store(0, ordering: .relaxed)
      return
    }
    if state.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing).exchanged {
      semaphore.wait()
      _ = state.load(ordering: .acquiring)
    }
    state.store(0, ordering: .relaxed)
  }
}
