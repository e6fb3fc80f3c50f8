import KernelTypes

/// The emulated kernel's policies, from its command line.
public struct MachinePolicy: Sendable, Hashable {
  /// `iommu.strict=1`: synchronous IOTLB invalidation for DMA domains.
  public var strict: Bool = true

  public var kvaFlush: KVAFlushPolicy = .deferredFree
  public var notifier: NotifierPolicy = .sync
  public var reset: ResetFencePolicy = .ebusy

  public init(strict: Bool = true, kvaFlush: KVAFlushPolicy = .deferredFree, notifier: NotifierPolicy = .sync, reset: ResetFencePolicy = .ebusy) {
    self.strict = strict
    self.kvaFlush = kvaFlush
    self.notifier = notifier
    self.reset = reset
  }
}
