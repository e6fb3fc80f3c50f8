import Sanitizer

/// What `bench` measures: the configurations of the kernel's cover letter
/// plus kernel accounting.
package enum BenchConfig: String, CaseIterable, Sendable {
  /// The `DebugPageAlloc` trait off: the hooks are not compiled (a second binary).
  case compiledOut = "compiled-out"
  /// Compiled in, `iommu.debug_pagealloc=0`.
  case off = "compiled-in-off"
  /// On, exact accounting.
  case exact
  /// On, the kernel's algorithm.
  case kernel

  /// Exact accounting, or off in a binary without the hooks.
  package static var standard: BenchConfig { Sanitizer.isCompiledIn ? .exact : .off }

  /// Whether this binary can run it: exact and kernel accounting need the hooks compiled in.
  package var isAvailable: Bool { Sanitizer.isCompiledIn || (self != .exact && self != .kernel) }
}
