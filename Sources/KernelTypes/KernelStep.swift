/// A point inside a kernel call where another CPU, a timer or a device can
/// run: the windows that `iommusan explore` interleaves. A statement without
/// such a point is atomic. Each case names the kernel code on either side.
package enum KernelStep: String, Sendable, Hashable, CaseIterable {
  /// `free_pages`: `free_pages_prepare()` ran the sanitizer's check
  /// (`iommu_debug_check_unmapped()`); the block is not yet back on the
  /// buddy lists (`__free_one_page()`).
  case freePagesChecked = "free_pages_prepare"
  /// `iommu_map`: the PTEs are written (`iommu_map_nosync()`), the debug hook
  /// (`iommu_debug_map()`) has not counted them yet.
  case mapPTEsWritten = "iommu_map_nosync"
  /// `iommu_unmap`: `iommu_debug_unmap_begin()` ran; no PTE is cleared yet.
  case unmapBegun = "iommu_debug_unmap_begin"
  /// `iommu_unmap`: the PTEs are cleared (`ops->unmap_pages()`);
  /// `iommu_debug_unmap_end()` has not run.
  case unmapPTEsCleared = "unmap_pages"
  /// `iommu_unmap`: `iommu_debug_unmap_end()` ran; the IOTLB sync (strict)
  /// or the flush-queue entry (lazy) comes next.
  case unmapEnded = "iommu_debug_unmap_end"
  /// `munmap`: the CPU PTEs are cleared (`zap_pte_range()`); no TLB is flushed.
  case cpuPTEsCleared = "zap_pte_range"
  /// `munmap`: the CPU TLB is flushed (`tlb_flush_mmu_tlbonly()`, with the
  /// secondary TLBs under `emu.notifier=sync`); the pages are not freed yet.
  case cpuTLBFlushed = "tlb_flush_mmu_tlbonly"
  /// `munmap`: pages and page-table pages went back to the allocator; under
  /// `emu.notifier=deferred-end` `mmu_notifier_invalidate_range_end()` comes next.
  case munmapPagesFreed = "tlb_finish_mmu"
  /// `vfree`: the kernel PTEs are cleared and the kernel TLB flushed; the
  /// data pages are freed next (the page-table pages stay).
  case vunmapFlushed = "flush_tlb_kernel_range"
  /// `vmalloc_huge` under `emu.kva_flush=deferred-free`: the PTE pages that
  /// `pmd_free_pte_page()` replaced are on the list (`pagetable_free_kernel()`); the worker
  /// (`kernel_pgtable_work_func()`) has not invalidated the IOMMUs nor freed
  /// them. It runs at the end of the statement that queued them.
  case kernelPageTablesQueued = "pagetable_free_kernel"
  /// `dma` (a device access): the IOMMU translated the request (from the
  /// ATC, the IOTLB, the paging-structure caches or a walk); the access has
  /// not reached memory. Hardware, not kernel code: the window in which the
  /// CPU side can unmap, invalidate and free while the translation is in
  /// flight. One such step per 4 KiB request of the access.
  case deviceTranslated = "translated"
  /// `flr`: `pcie_flr()` started the reset (after `reset_prepare` unless
  /// `emu.reset=none`); the device ignores ATS invalidations until it ends.
  case flrStarted = "pcie_flr"
}

/// Told each time a kernel call reaches a `KernelStep`, on the calling
/// thread and outside every lock of the model. The explorer parks the
/// calling task there; no other component needs it (the slot is nil).
package protocol KernelStepObserver: AnyObject, Sendable {
  func kernelStep(_ step: KernelStep)
  /// A device request was translated by IOMMU `unit` and is in flight: the
  /// `deviceTranslated` step, which lasts until the access lands.
  func requestTranslated(unit: String)
  /// An invalidation's completion wait on `unit` (`CMD_SYNC`, a VT-d wait
  /// descriptor with drain, AMD's completion wait): the requests `unit`
  /// translated before it land before it completes.
  func drainRequests(unit: String)
}
