/// SplitMix64's output function (Steele, Lea and Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014): a bijection of 64-bit words
/// in which every input bit reaches every output bit. The hash tables of
/// replay key it with a random seed; the IOVA treap draws priorities from it.
@inline(__always) package func splitMix64Mix(_ value: UInt64) -> UInt64 {
  var z = value
  z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
  z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
  return z ^ (z >> 31)
}

/// SplitMix64's step: the golden-ratio increment between outputs.
package let splitMix64Gamma: UInt64 = 0x9E37_79B9_7F4A_7C15
