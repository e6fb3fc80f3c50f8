/// The type of a CONFIG_DMA_API_DEBUG entry (`kernel/dma/debug.c`), printed
/// by `check_unmap()` through `type2name[]`.
package enum DMADebugType: String, Sendable, Hashable, BitwiseCopyable {
  case single
  case scatterGather = "scatter-gather"
  case coherent
  case resource
  case noncoherent
  /// `dma_map_phys()` (Linux 6.18 on).
  case phy
}
