import KernelTypes

/// SplitMix64: a tiny deterministic generator, so every randomized test and
/// every mutation run replays the same sequence from the same seed.
package struct SplitMix64: RandomNumberGenerator, Sendable {
  package var state: UInt64

  package init(seed: UInt64) { state = seed }

  package mutating func next() -> UInt64 {
    state &+= splitMix64Gamma
    return splitMix64Mix(state)
  }
}
