/// The emulated kernel's release (`emu.kernel=`): `MAJOR.MINOR.PATCH` or
/// `MAJOR.MINOR-rcN`. It selects behaviour as that release shipped it; the
/// table of what changed where is `KernelVersion.Fix` (docs/Upstream.md).
package struct KernelVersion: Sendable, Hashable, Comparable, CustomStringConvertible {
  package var major: Int
  package var minor: Int
  package var patch: Int
  /// A release candidate of `major.minor` (nil: a release or a stable update).
  package var rc: Int?

  package init(_ major: Int, _ minor: Int, _ patch: Int = 0, rc: Int? = nil) {
    self.major = major
    self.minor = minor
    self.patch = patch
    self.rc = rc
  }

  /// The default: the newest behaviour, every fix of the table applied.
  package static let newest = KernelVersion(7, 0, 11)

  /// Parses `7.0.0`, `7.0`, `6.19.11`, `7.0-rc3`. Numbers are bounded so that
  /// no comparison traps.
  package init?(parsing text: String) {
    var main = Substring(text)
    var rc: Int?
    if let dash = text.firstIndex(of: "-") {
      let tail = text[text.index(after: dash)...]
      guard tail.hasPrefix("rc"), let n = Int(tail.dropFirst(2)), (1...99).contains(n) else { return nil }
      rc = n
      main = text[..<dash]
    }
    let parts = main.split(separator: ".", omittingEmptySubsequences: false)
    guard (2...3).contains(parts.count), rc == nil || parts.count == 2 else { return nil }
    var numbers: [Int] = []
    for p in parts {
      guard !p.isEmpty, p.count <= 4, p.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(p) else { return nil }
      numbers.append(n)
    }
    self.init(numbers[0], numbers[1], numbers.count > 2 ? numbers[2] : 0, rc: rc)
  }

  package var description: String {
    if let rc { return "\(major).\(minor)-rc\(rc)" }
    return "\(major).\(minor).\(patch)"
  }

  package static func < (a: KernelVersion, b: KernelVersion) -> Bool {
    // An rc comes before the release and its stable updates.
    let ka = (a.major, a.minor, a.rc == nil ? 1 : 0, a.rc ?? a.patch)
    let kb = (b.major, b.minor, b.rc == nil ? 1 : 0, b.rc ?? b.patch)
    return ka < kb
  }

  /// The upstream fixes the emulator models, each with the releases that
  /// lack it. One place for the table docs/Upstream.md describes.
  package enum Fix: String, Sendable, CaseIterable {
    /// b948a8722848 / 0735c54804c7 (CVE-2026-64152) / 6fc7e8a3b811: in 7.0.0
    /// IOMMU_DEBUG_PAGEALLOC's map hook is never called after a successful
    /// map, and a failed map undoes a range that was never counted.
    case debugPageallocHooks = "debug-pagealloc-hooks"
    /// ee6e69d03255 (CVE-2026-31735): iommupt's unmap gathers the requested
    /// length, not what it really unmapped.
    case shortGather = "short-gather"
    /// 90c5def10bea "iommu: Do not call drivers for empty gathers": before
    /// it, `iotlb_sync` ran on an empty gather (AMD then flushed everything).
    case emptyGatherSkip = "empty-gather-skip"
    /// 7e0548525abd: after 90c5def10bea, drivers that leave the gather empty
    /// get no `iotlb_sync`; the fix adds the unmapped range on their behalf.
    case emptyGatherSync = "empty-gather-sync"
    /// b48ca920613858b477f75946907e72c74570af05: `gather_range_pages()` adds
    /// the range only with `PT_FEAT_FLUSH_RANGE`.
    case gatherNoGaps = "gather-no-gaps"
    /// CVE-2025-71202: kernel page-table pages freed with no IOMMU
    /// invalidation (fixed in 6.18.7 and 6.19).
    case kvaFlush = "kva-flush"
    /// 0d5fd7a9323c: re-entry into `pci_dev_reset_iommu_prepare()`.
    case resetReentry = "reset-reentry"

    /// The releases that lack the fix (half-open ranges).
    package var buggy: [Range<KernelVersion>] {
      switch self {
      case .debugPageallocHooks: [KernelVersion(7, 0, rc: 1)..<KernelVersion(7, 0, 11)]
      case .shortGather:
        [KernelVersion(6, 19, 0)..<KernelVersion(6, 19, 12), KernelVersion(7, 0, rc: 1)..<KernelVersion(7, 0, rc: 7)]
      case .emptyGatherSkip: [KernelVersion(0, 0, 0)..<KernelVersion(7, 0, rc: 1)]
      case .emptyGatherSync: [KernelVersion(7, 0, rc: 1)..<KernelVersion(7, 0, 0)]
      case .gatherNoGaps: [KernelVersion(6, 19, 0)..<KernelVersion(7, 0, 0)]
      case .kvaFlush: [KernelVersion(0, 0, 0)..<KernelVersion(6, 18, 7)]
      case .resetReentry: [KernelVersion(6, 19, 0)..<KernelVersion(7, 0, 11)]
      }
    }
  }

  /// Whether this release has `fix`.
  package func has(_ fix: Fix) -> Bool { !fix.buggy.contains { $0.contains(self) } }
}
