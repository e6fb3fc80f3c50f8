import Foundation
import Reports

extension Double {
  /// With `decimals` digits after the point (`%.3f`), as the figures are printed.
  package func fixed(_ decimals: Int) -> String { String(format: "%.\(decimals)f", self) }

  /// Whole numbers without a fraction (`3`), others as Swift prints them (`0.1`).
  var compact: String { self == rounded() ? String(Int(self)) : String(self) }
}

extension JSONValue {
  /// A figure with `decimals` digits after the point (`0.380`); `null` when not finite.
  static func fixed(_ value: Double, _ decimals: Int = 3) -> JSONValue {
    value.isFinite ? .verbatim(value.fixed(decimals)) : .null
  }
}
