import Dispatch
import Foundation

/// What the command line knows about the terminal: whether a stream is one,
/// and whether it may be coloured.
enum Terminal {
  /// Whether standard error is a terminal (`isatty(2)`).
  static let standardErrorIsTerminal = isatty(2) != 0

  /// Whether diagnostics on standard error are coloured: only on a terminal,
  /// and not when `NO_COLOR` is set to a non-empty value (https://no-color.org).
  static let colorsStandardError = standardErrorIsTerminal && colorAllowed(ProcessInfo.processInfo.environment)

  /// The no-color.org rule: any non-empty `NO_COLOR` disables colour.
  static func colorAllowed(_ environment: [String: String]) -> Bool {
    environment["NO_COLOR"].map(\.isEmpty) ?? true
  }
}

/// A progress line on standard error for long runs (`replay`, `run`, `check`).
///
/// On a terminal it appears once a second has passed, is rewritten in place
/// (`\r`, then `ESC [K` to clear the rest) and is cleared before any other
/// output (`clear()`), so it never mixes with reports or diagnostics. When
/// standard error is not a terminal it prints nothing, or with
/// `linesWhenPiped` one line per update (`replay`'s one line per 64 MiB).
final class ProgressLine: @unchecked Sendable {
  /// When the progress line was created (`DispatchTime` nanoseconds).
  let start = DispatchTime.now().uptimeNanoseconds
  private let enabled: Bool
  private let terminal = Terminal.standardErrorIsTerminal
  private let linesWhenPiped: Bool
  private let lock = NSLock()
  private var shown = false
  private var lastUpdate: UInt64 = 0
  /// Terminal updates are at most this often (nanoseconds), and the first one only after this long.
  static let delay: UInt64 = 1_000_000_000
  static let interval: UInt64 = 100_000_000

  init(enabled: Bool = true, linesWhenPiped: Bool = false) {
    self.enabled = enabled
    self.linesWhenPiped = linesWhenPiped
  }

  /// Shows `text` (made only when it will be shown).
  func update(_ text: @autoclosure () -> String) {
    guard enabled, terminal || linesWhenPiped else { return }
    lock.lock()
    defer { lock.unlock() }
    guard terminal else {
      write(text() + "\n", to: .standardError)
      return
    }
    let now = DispatchTime.now().uptimeNanoseconds
    guard now - start >= Self.delay, !shown || now - lastUpdate >= Self.interval else { return }
    lastUpdate = now
    shown = true
    write("\r" + text() + "\u{1B}[K", to: .standardError)
  }

  /// Clears the line, if shown, so that other output starts at column 1.
  func clear() {
    lock.lock()
    defer { lock.unlock() }
    guard shown else { return }
    write("\r\u{1B}[K", to: .standardError)
    shown = false
  }

  /// Clears the line at the end of the work.
  func finish() { clear() }
}
