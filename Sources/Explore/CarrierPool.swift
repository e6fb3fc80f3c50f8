import Foundation
import Synchronization

/// A thread that carries the task blocks of schedules, one statement run at
/// a time: kept in `CarrierPool` across schedules, so that a schedule starts
/// no thread. The thread that runs a schedule is a carrier too (`home`).
final class Carrier: @unchecked Sendable {
  let baton = Baton()
  /// What a pool thread runs when signalled; set by `CarrierPool.start` before the signal.
  fileprivate var work: ((Carrier) -> Void)?
}

/// The idle carrier threads of the process, shared by every schedule (and
/// every `--jobs` worker).
final class CarrierPool: Sendable {
  static let shared = CarrierPool()
  /// Idle threads kept at most; a thread finishing work when as many are idle ends.
  static let keep = 64
  private let idle = Mutex<[Carrier]>([])

  /// Runs `work` on an idle carrier thread (a new one if none is idle); `work` gets its carrier.
  func start(_ work: @escaping (Carrier) -> Void) {
    let carrier = idle.withLock { $0.popLast() } ?? spawn()
    carrier.work = work
    carrier.baton.signal()
  }

  private func spawn() -> Carrier {
    let carrier = Carrier()
    let thread = Thread { [self] in
      while true {
        carrier.baton.wait()
        let work = carrier.work
        carrier.work = nil
        work?(carrier)
        guard keepIdle(carrier) else { return }
      }
    }
    thread.stackSize = 8 << 20
    thread.start()
    return carrier
  }

  /// Puts `carrier` back on the idle list; false when `keep` are idle (its thread ends).
  private func keepIdle(_ carrier: Carrier) -> Bool {
    idle.withLock { list in
      guard list.count < Self.keep else { return false }
      list.append(carrier)
      return true
    }
  }
}
