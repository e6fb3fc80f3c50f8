/// An ftrace timestamp as the trace printed it: `327.747766` (seconds and
/// microseconds, `%5lu.%06lu`), `77837.045742123` (nanosecond clocks), or a
/// raw counter without a fraction (`trace_clock=counter`, `%12llu`).
///
/// It prints back exactly as it was read, so reports quote the trace.
package struct TraceTimestamp: Sendable, Hashable, Comparable, CustomStringConvertible, BitwiseCopyable {
  /// The part before the dot (seconds, or the raw counter).
  package var whole: UInt64
  /// The fractional digits as an integer (`747766` for `.747766`).
  package var fraction: UInt32
  /// How many fractional digits were printed (0 for a raw counter, at most 9).
  package var digits: UInt8

  package init(whole: UInt64, fraction: UInt32 = 0, digits: UInt8 = 0) {
    self.whole = whole
    self.digits = min(digits, 9)
    self.fraction = fraction
  }

  package static let zero = TraceTimestamp(whole: 0)

  /// The time in nanoseconds (the whole part taken as seconds when there
  /// is a fraction, as a raw count otherwise), saturating at `UInt64.max`.
  package var nanoseconds: UInt64 {
    guard digits > 0 else { return whole }
    let (s, o) = whole.multipliedReportingOverflow(by: 1_000_000_000)
    if o { return .max }
    var scale: UInt64 = 1
    for _ in 0..<(9 - Int(digits)) { scale &*= 10 }
    let (r, o2) = s.addingReportingOverflow(UInt64(fraction) &* scale)
    return o2 ? .max : r
  }

  package static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }

  package var description: String {
    guard digits > 0 else { return String(whole) }
    let f = String(fraction)
    let pad = Int(digits) - f.count
    return String(whole) + "." + (pad > 0 ? String(repeating: "0", count: pad) : "") + f
  }

  /// `later - self` in microseconds, when both have a fraction and `later` is not earlier.
  package func microseconds(until later: TraceTimestamp) -> UInt64? {
    guard digits > 0, later.digits > 0 else { return nil }
    let a = nanoseconds
    let b = later.nanoseconds
    guard b >= a, a != .max, b != .max else { return nil }
    return (b - a) / 1000
  }
}
