/// The emulated kernel's policies, from its command line.
public struct MachinePolicy: Sendable, Hashable {
  /// `iommu.strict=1`: synchronous IOTLB invalidation for DMA domains.
  public var strict: Bool = true

  public enum KVAFlush: String, Sendable, Hashable { case none, tlbRange = "tlb-range", deferredFree = "deferred-free" }
  public enum Notifier: String, Sendable, Hashable { case sync, deferredEnd = "deferred-end" }
  public enum ResetFence: String, Sendable, Hashable { case ebusy, deferAttach = "defer", none }

  public var kvaFlush: KVAFlush = .deferredFree
  public var notifier: Notifier = .sync
  public var reset: ResetFence = .ebusy

  public init(strict: Bool = true, kvaFlush: KVAFlush = .deferredFree, notifier: Notifier = .sync, reset: ResetFence = .ebusy) {
    self.strict = strict
    self.kvaFlush = kvaFlush
    self.notifier = notifier
    self.reset = reset
  }
}
