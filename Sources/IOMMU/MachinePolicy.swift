import KernelTypes

/// The emulated kernel's policies, from its command line.
package struct MachinePolicy: Sendable, Hashable {
  /// `iommu.strict=1`: synchronous IOTLB invalidation for DMA domains.
  package var strict: Bool = true

  package var kvaFlush: KVAFlushPolicy = .deferredFree
  package var notifier: NotifierPolicy = .sync
  package var reset: ResetFencePolicy = .ebusy
  /// `emu.kernel=`: the release whose behaviour the model follows.
  package var kernel: KernelVersion = .newest

  package init(
    strict: Bool = true, kvaFlush: KVAFlushPolicy = .deferredFree, notifier: NotifierPolicy = .sync,
    reset: ResetFencePolicy = .ebusy, kernel: KernelVersion = .newest
  ) {
    self.kernel = kernel
    self.strict = strict
    self.kvaFlush = kvaFlush
    self.notifier = notifier
    self.reset = reset
  }
}
