import KernelTypes
import MemoryModel
import Reports

/// One hand-built, representative report per kind, as the sanitizer would
/// produce it. The drivers (`acme_*`) are fictional; kernel functions and
/// WARN sites follow the kernel (drivers/iommu/iommu-debug-pagealloc.c and
/// kernel/dma/debug.c); emulator-only kinds WARN from iommusan's checks,
/// filed under the kernel file whose path they extend (`WarningSite.Emulator`).
enum GoldenReports {
  static func report(_ kind: ReportKind) -> Report {
    switch kind {
    case .freedWhileMapped: return freedWhileMapped
    case .allocatedWhileMapped: return allocatedWhileMapped
    case .mapCountUnderflow: return mapCountUnderflow
    case .mapCountOverflow: return mapCountOverflow
    case .unmapLargerThanRequested: return unmapLargerThanRequested
    case .addressOverflow: return addressOverflow
    case .freedWhileIOTLBCached: return freedWhileIOTLBCached
    case .freedWhileMappedUncounted: return freedWhileMappedUncounted
    case .pageTableFreedWhileCached: return pageTableFreedWhileCached
    case .secondaryTLBStale: return secondaryTLBStale
    case .atsInvalidationTimeout: return atsInvalidationTimeout
    case .mappingLeak: return mappingLeak
    case .dmaUnmapMismatch: return dmaUnmapMismatch
    case .dmaUnmapNotMapped: return dmaUnmapNotMapped
    case .dmaUseAfterFree: return dmaUseAfterFree
    case .dmaStaleWalk: return dmaStaleWalk
    case .faultAfterUnmap: return faultAfterUnmap
    case .pageDoubleFree: return pageDoubleFree
    case .pageFreeNeverAllocated: return pageFreeNeverAllocated
    case .vfreeNonexistentArea: return vfreeNonexistentArea
    case .domainUseAfterFree: return domainUseAfterFree
    case .dmaMapBeyondAllocation: return dmaMapBeyondAllocation
    case .badPageState: return badPageState
    case .pageFreeWrongOrder: return pageFreeWrongOrder
    case .unmapPartialLargePage: return unmapPartialLargePage
    case .resetPrepareReentry: return resetPrepareReentry
    case .dmaSyncNotMapped: return dmaSyncNotMapped
    case .dmaSyncMismatch: return dmaSyncMismatch
    case .dmaNeighbourObjectAccess: return dmaNeighbourObjectAccess
    case .slabFreedWhileMapped: return slabFreedWhileMapped
    case .dmaCPUTouchActiveCacheline: return dmaCPUTouchActiveCacheline
    }
  }

  // MARK: - Helpers

  static func k(_ function: String) -> StackFrame { StackFrame(function) }
  static func m(_ function: String, _ module: String) -> StackFrame { StackFrame(function, module: module) }
  static func guilty(_ function: String, _ module: String?, _ file: String, _ line: Int) -> StackFrame {
    StackFrame(function, module: module, sourceFile: file, sourceLine: line, isGuilty: true)
  }
  static func task(_ comm: String, pid: Int = 1042, cpu: Int = 0) -> EmulatedTask {
    EmulatedTask(pid: pid, tgid: pid, comm: comm, cpu: cpu)
  }

  static let allocPath: [StackFrame] = [
    k("post_alloc_hook"), k("get_page_from_freelist"), k("__alloc_frozen_pages_noprof"),
    k("alloc_pages_mpol"), k("alloc_pages_noprof"),
  ]

  // MARK: - Kernel sanitizer

  static var freedWhileMapped: Report {
    let file = "Fixtures/acme-nvme-hmb.fixture"
    var finding = Finding.pageLeak(
      .freedWhileMapped, pfn: PFN(0x80010), phys: PhysicalAddress(0x8001_0000), count: 1, order: 0)
    finding.iova = IOVA(0xffff_f000)
    finding.domain = "nvme0.dma"
    finding.device = "nvme0"
    finding.details.append(Detail("mapped at", .string("\(file):9:1")))
    return Report(
      finding,
      callers: [
        k("__free_frozen_pages"), k("__free_pages"), guilty("acme_nvme_free_host_mem", "acme_nvme", file, 14),
        m("acme_nvme_remove", "acme_nvme"), k("pci_device_remove"), k("device_release_driver_internal"),
        k("driver_detach"), k("bus_remove_driver"), k("pci_unregister_driver"),
      ],
      statement: StatementLocation(file: file, line: 14, column: 1, text: "free_pages hmb"),
      task: task("acme-nvme-hmb"),
      pageOwner: PageOwnerRecord(
        isAllocated: true, order: 0, gfp: .kernel,
        pid: 1042, tgid: 1042, comm: "acme-nvme-hmb", ts: 3_000_000, freeTs: 7_000_000,
        allocStack: allocPath + [m("acme_nvme_alloc_host_mem", "acme_nvme"), m("acme_nvme_probe", "acme_nvme")],
        freePid: 1042, freeTgid: 1042,
        freeStack: [
          k("__free_frozen_pages"), k("__free_pages"), m("acme_nvme_free_host_mem", "acme_nvme"),
          m("acme_nvme_remove", "acme_nvme"),
        ]))
  }

  static var allocatedWhileMapped: Report {
    let file = "Fixtures/acme-nic-rx.fixture"
    var finding = Finding.pageLeak(
      .allocatedWhileMapped, pfn: PFN(0x80020), phys: PhysicalAddress(0x8002_0000), count: 1, order: 0)
    finding.iova = IOVA(0xffff_e000)
    finding.domain = "nic0.dma"
    finding.device = "nic0"
    return Report(
      finding,
      callers: allocPath + [
        guilty("acme_nic_refill_rx", "acme_nic", file, 21),
        m("acme_nic_poll", "acme_nic"), k("__napi_poll"), k("net_rx_action"), k("handle_softirqs"),
      ],
      statement: StatementLocation(file: file, line: 21, column: 1, text: "rx2 = alloc_pages gfp=GFP_ATOMIC"),
      task: task("acme-nic-rx"),
      pageOwner: PageOwnerRecord(
        isAllocated: true, order: 0, gfp: GFPFlags(names: ["GFP_ATOMIC"])!,
        pid: 1042, tgid: 1042, comm: "acme-nic-rx", ts: 2_000_000, freeTs: 9_000_000,
        allocStack: allocPath + [m("acme_nic_refill_rx", "acme_nic"), m("acme_nic_open", "acme_nic")],
        freePid: 1042, freeTgid: 1042,
        freeStack: [k("__free_frozen_pages"), k("__free_pages"), m("acme_nic_drop_rx", "acme_nic")]))
  }

  static var mapCountUnderflow: Report {
    let file = "Fixtures/forged-pte.fixture"
    var finding = Finding.mapCountUnderflow(
      pfn: PFN(0x80030), phys: PhysicalAddress(0x8003_0000), count: -1, iova: IOVA(0x10_0000), caller: .unmapBegin)
    finding.domain = "dom"
    finding.device = "vpu0"
    return Report(
      finding,
      callers: [
        guilty("acme_vpu_unmap_ctx", "acme_vpu", file, 18), m("acme_vpu_ctx_fini", "acme_vpu"),
        m("acme_vpu_release", "acme_vpu"), k("__fput"), k("task_work_run"),
      ],
      statement: StatementLocation(file: file, line: 18, column: 1, text: "iommu_unmap dom iova=0x100000 size=4K"),
      task: task("forged-pte"), pageOwner: nil)
  }

  static var mapCountOverflow: Report {
    let file = "Fixtures/acme-net-leak.fixture"
    var finding = Finding.mapCountOverflow(
      pfn: PFN(0x80040), phys: PhysicalAddress(0x8004_0000), count: -2_147_483_648, maximum: 2_147_483_647,
      iova: IOVA(0xfffc_0000), caller: .map)
    finding.domain = "eth0.dma"
    finding.device = "eth0"
    return Report(
      finding,
      callers: [
        k("__iommu_dma_map"), k("iommu_dma_map_phys"), k("dma_map_phys"), guilty("acme_net_xmit", "acme_net", file, 12),
        k("dev_hard_start_xmit"), k("sch_direct_xmit"), k("__dev_queue_xmit"),
      ],
      statement: StatementLocation(file: file, line: 12, column: 1, text: "h = dma_map eth0 skb size=2K dir=to-device"),
      task: task("acme-net-leak"), pageOwner: nil)
  }

  static var unmapLargerThanRequested: Report {
    let file = "Fixtures/acme-gpu-split.fixture"
    var finding = Finding.largerUnmap(iova: IOVA(0x20_0000), size: 0x1000, unmapped: 0x20_0000)
    finding.domain = "gpu"
    finding.device = "gpu0"
    return Report(
      finding,
      callers: [
        guilty("acme_gpu_unmap_bo", "acme_gpu", file, 23), m("acme_gpu_bo_release", "acme_gpu"),
        k("drm_gem_object_free"), k("drm_gem_handle_delete"), k("drm_ioctl_kernel"), k("drm_ioctl"),
      ],
      statement: StatementLocation(file: file, line: 23, column: 1, text: "iommu_unmap gpu iova=0x200000 size=4K"),
      task: task("acme-gpu-split"), pageOwner: nil)
  }

  static var addressOverflow: Report {
    let file = "Fixtures/iova-wrap.fixture"
    var finding = Finding.unmapAddressOverflow(iova: IOVA(0xffff_ffff_ffff_f000), size: 0x2000)
    finding.domain = "dom"
    finding.device = "dsp0"
    return Report(
      finding,
      callers: [
        guilty("acme_dsp_unmap_window", "acme_dsp", file, 9), m("acme_dsp_ioctl", "acme_dsp"),
        k("__x64_sys_ioctl"), k("do_syscall_64"), k("entry_SYSCALL_64_after_hwframe"),
      ],
      statement: StatementLocation(
        file: file, line: 9, column: 1, text: "iommu_unmap dom iova=0xffff_ffff_ffff_f000 size=8K"),
      task: task("iova-wrap"), pageOwner: nil)
  }

  // MARK: - Emulator

  static var freedWhileIOTLBCached: Report {
    let file = "Fixtures/unmap-fast-nosync.fixture"
    return Report(
      kind: .freedWhileIOTLBCached,
      headline: "iommusan: pfn 0x80050 freed while an IOTLB entry of iommu0 still maps iova 0x100000",
      warnMessage: ["iommusan: pfn 0x80050 freed while an IOTLB entry of iommu0 still maps iova 0x100000"],
      warningSite: WarningSite.Emulator.freeCached,
      callTrace: [
        k("iommusan_check_free_cached"), k("__free_frozen_pages"), k("__free_pages"),
        guilty("acme_cam_release_buf", "acme_cam", file, 17), m("acme_cam_stop_streaming", "acme_cam"),
        k("vb2_core_streamoff"), k("__video_do_ioctl"), k("video_usercopy"),
      ],
      statement: StatementLocation(file: file, line: 17, column: 1, text: "free_pages buf"),
      task: task("unmap-fast-nosy"),
      pfn: PFN(0x80050), phys: PhysicalAddress(0x8005_0000), iova: IOVA(0x10_0000),
      domain: "dom", device: "cam0", count: 0,
      details: [
        Detail("cache", .string("IOTLB")), Detail("iommu", .string("iommu0")),
        Detail("unmapped at", .string("\(file):15:1")), Detail("missing", .string("iotlb_sync dom")),
      ])
  }

  static var freedWhileMappedUncounted: Report {
    let file = "Fixtures/granule-16k-teardown.fixture"
    let headline =
      "iommusan: pfn 0x80051 freed while domain dom still maps iova 0x101000 to it, uncounted by the map counts"
    return Report(
      kind: .freedWhileMappedUncounted,
      headline: headline,
      warnMessage: [headline],
      warningSite: WarningSite.Emulator.freeMapped,
      callTrace: [
        k("iommusan_check_free_mapped"), k("free_pages_prepare"), k("__free_frozen_pages"), k("__free_pages"),
        guilty("acme_isp_free_tiles", "acme_isp", file, 17), m("acme_isp_remove", "acme_isp"),
      ],
      statement: StatementLocation(file: file, line: 17, column: 1, text: "free_pages p1"),
      task: task("granule-16k-tea"),
      pfn: PFN(0x80051), phys: PhysicalAddress(0x8005_1000), iova: IOVA(0x10_1000),
      domain: "dom", device: nil, count: 0,
      details: [
        Detail(
          "reason",
          .string(
            "kernel accounting (emu.accounting=kernel) counts one CPU page per 16K granule, the one at the "
              + "granule's start, and missed this one")),
        Detail("seen through", .string("the IOTLB of smmu0")), Detail("accounting", .string("kernel")),
      ])
  }

  static var pageTableFreedWhileCached: Report {
    let file = "Fixtures/sva-kva-flush.fixture"
    return Report(
      kind: .pageTableFreedWhileCached,
      headline: "iommusan: kernel page-table page pfn 0x80060 freed while the walk cache of iommu0 points at it",
      warnMessage: ["iommusan: kernel page-table page pfn 0x80060 freed while the walk cache of iommu0 points at it"],
      warningSite: WarningSite.Emulator.kernelTableFree,
      callTrace: [
        k("iommusan_check_kernel_pgtable_free"), k("__free_frozen_pages"), k("pte_free_kernel"), k("pmd_free_pte_page"),
        k("vfree"), guilty("acme_fw_unload", "acme_fw", file, 27), m("acme_fw_remove", "acme_fw"),
        k("platform_remove"), k("device_release_driver_internal"),
      ],
      statement: StatementLocation(file: file, line: 27, column: 1, text: "vfree fwbuf"),
      task: task("sva-kva-flush"),
      pfn: PFN(0x80060), phys: PhysicalAddress(0x8006_0000), device: "accel0", pasid: 1,
      details: [
        Detail("table level", .int(1)), Detail("cache", .string("paging-structure (PDE)")),
        Detail("iommu", .string("iommu0")), Detail("kva_flush", .string("none")),
      ])
  }

  static var secondaryTLBStale: Report {
    let file = "Fixtures/sva-munmap.fixture"
    return Report(
      kind: .secondaryTLBStale,
      headline: "iommusan: pfn 0x80070 freed before the IOMMU's copy for pasid 2 was invalidated",
      warnMessage: ["iommusan: pfn 0x80070 freed before the IOMMU's copy for pasid 2 was invalidated"],
      warningSite: WarningSite.Emulator.secondaryTLB,
      callTrace: [
        k("iommusan_check_secondary_tlb"), k("free_unref_folios"), k("folios_put_refs"),
        k("free_pages_and_swap_cache"), k("tlb_finish_mmu"), k("vms_clear_ptes"),
        guilty("sva_app_munmap", nil, file, 33), k("__x64_sys_munmap"), k("do_syscall_64"),
      ],
      statement: StatementLocation(file: file, line: 33, column: 1, text: "munmap area"),
      task: EmulatedTask(pid: 1043, tgid: 1043, comm: "sva-app", cpu: 1),
      pfn: PFN(0x80070), phys: PhysicalAddress(0x8007_0000), device: "accel0", pasid: 2,
      details: [
        Detail("user address", .hex(0x7f00_0000_0000)), Detail("cache", .string("IOTLB")),
        Detail("notifier", .string("deferred-end")),
      ])
  }

  static var atsInvalidationTimeout: Report {
    let file = "Fixtures/flr-race.fixture"
    let log = Finding.atsTimeoutLog(
      .init(model: .vtd, unit: "dmar0", bdf: "0000:00:03.0", pasid: nil, range: 0x10_0000...0x10_0fff))
    var report = Report(
      kind: .atsInvalidationTimeout,
      headline: log[0],
      warningSite: WarningSite.Emulator.atsInvalidation(.vtd),
      callTrace: [
        k("iommusan_check_ats_invalidation"), k("qi_submit_sync"), k("qi_flush_dev_iotlb"), k("cache_tag_flush_range"),
        k("intel_iommu_tlb_sync"), k("__iommu_unmap"), k("iommu_unmap"),
        guilty("acme_nic_unmap_ring", "acme_nic", file, 19), m("acme_nic_reset_work", "acme_nic"),
        k("process_one_work"), k("worker_thread"),
      ],
      statement: StatementLocation(file: file, line: 19, column: 1, text: "iommu_unmap dom iova=0x100000 size=4K"),
      task: EmulatedTask(pid: 87, tgid: 87, comm: "kworker/0:2", cpu: 0),
      iova: IOVA(0x10_0000), domain: "dom", device: "nic0",
      details: [Detail("iommu", .string("dmar0")), Detail("reset", .string("none"))])
    report.kernelLog = log
    return report
  }

  static var mappingLeak: Report {
    let file = "Fixtures/acme-vdpa-teardown.fixture"
    return Report(
      kind: .mappingLeak, headline: "iommusan: domain vdpa freed with 3 mappings (12K) left",
      warnMessage: ["iommusan: domain vdpa freed with 3 mappings (12K) left"],
      warningSite: WarningSite.Emulator.mappingLeak,
      callTrace: [
        k("iommusan_check_mapping_leak"), k("iommu_domain_free"),
        guilty("acme_vdpa_release_domain", "acme_vdpa", file, 40), m("acme_vdpa_free", "acme_vdpa"),
        k("vdpa_release_dev"), k("device_release"),
      ],
      statement: StatementLocation(file: file, line: 40, column: 1, text: "free_domain vdpa"),
      task: task("acme-vdpa-teard"),
      iova: IOVA(0x10_0000), domain: "vdpa", device: "vdpa0",
      details: [
        Detail("mappings", .int(3)), Detail("bytes", .int(12288)), Detail("last mapped at", .string("\(file):31:1")),
      ])
  }

  // MARK: - DMA-API debug

  static var dmaUnmapMismatch: Report {
    let file = "Fixtures/acme-nvme-prp.fixture"
    let message =
      "DMA-API: acme_nvme 0000:00:01.0: device driver frees DMA memory with different size "
      + "[device address=0x00000000fffff000] [map size=8192 bytes] [unmap size=4096 bytes]"
    let mapped = [
      k("debug_dma_map_phys"), k("dma_map_phys"), k("dma_map_page_attrs"), m("acme_nvme_map_data", "acme_nvme"),
      m("acme_nvme_queue_rq", "acme_nvme"), k("blk_mq_dispatch_rq_list"),
    ]
    return Report(
      kind: .dmaUnmapMismatch, headline: message, warnMessage: [message],
      warningSite: .checkUnmapSize,
      callTrace: [
        k("check_unmap"), k("debug_dma_unmap_phys"), k("dma_unmap_phys"),
        guilty("acme_nvme_unmap_data", "acme_nvme", file, 26), m("acme_nvme_complete_rq", "acme_nvme"),
        k("blk_complete_reqs"), k("handle_softirqs"),
      ],
      statement: StatementLocation(file: file, line: 26, column: 1, text: "dma_unmap prp size=4K"),
      task: task("acme-nvme-prp"),
      pfn: PFN(0x80080), phys: PhysicalAddress(0x8008_0000), iova: IOVA(0xffff_f000),
      domain: "nvme0.dma", device: "nvme0",
      details: [
        Detail("map size", .int(8192)), Detail("unmap size", .int(4096)), Detail("direction", .string("bidirectional")),
      ],
      trailer: ["DMA-API: Mapped at:"] + mapped.map { " " + KernelText.frame($0) })
  }

  static var dmaUnmapNotMapped: Report {
    let file = "Fixtures/double-unmap.fixture"
    let message =
      "DMA-API: acme_nvme 0000:00:01.0: device driver tries to free DMA memory it has not allocated "
      + "[device address=0x00000000fffff000] [size=4096 bytes]"
    return Report(
      kind: .dmaUnmapNotMapped, headline: message, warnMessage: [message],
      warningSite: .checkUnmapNotAllocated,
      callTrace: [
        k("check_unmap"), k("debug_dma_unmap_phys"), k("dma_unmap_phys"),
        guilty("acme_nvme_abort_cmd", "acme_nvme", file, 31), m("acme_nvme_timeout", "acme_nvme"),
        k("blk_mq_handle_expired"), k("blk_mq_timeout_work"), k("process_one_work"),
      ],
      statement: StatementLocation(file: file, line: 31, column: 1, text: "dma_unmap cmd"),
      task: EmulatedTask(pid: 88, tgid: 88, comm: "kworker/1:1H", cpu: 1),
      iova: IOVA(0xffff_f000), domain: "nvme0.dma", device: "nvme0",
      details: [Detail("size", .int(4096)), Detail("unmapped at", .string("\(file):24:1"))])
  }

  // MARK: - Ground truth

  static var dmaUseAfterFree: Report {
    let file = "Fixtures/lazy-window.fixture"
    return Report(
      kind: .dmaUseAfterFree,
      headline: "iommusan: nic0 wrote 8 bytes to pfn 0x80090, freed since iova 0xffffd000 was mapped",
      warnMessage: ["iommusan: nic0 wrote 8 bytes to pfn 0x80090, freed since iova 0xffffd000 was mapped"],
      warningSite: WarningSite.Emulator.dmaGroundTruth,
      callTrace: [
        k("iommusan_dma_ground_truth"), k("iommusan_device_access"),
        guilty("acme_nic_rx_dma", "acme_nic", file, 30),
      ],
      statement: StatementLocation(file: file, line: 30, column: 1, text: "dma nic0 write rxh value=0x41"),
      task: task("lazy-window"),
      pfn: PFN(0x80090), phys: PhysicalAddress(0x8009_0008), iova: IOVA(0xffff_d008),
      domain: "nic0.dma", device: "nic0",
      details: [
        Detail("access", .string("write")), Detail("len", .int(8)), Detail("translated by", .string("IOTLB")),
        Detail("page state", .string("allocated again")), Detail("freed at", .string("\(file):27:1")),
        Detail("mapped at", .string("\(file):12:1")),
      ],
      pageOwner: PageOwnerRecord(
        isAllocated: true, order: 0, gfp: GFPFlags(names: ["GFP_KERNEL_ACCOUNT"])!,
        pid: 1042, tgid: 1042, comm: "lazy-window", ts: 28_000_000, freeTs: 27_000_000,
        allocStack: allocPath + [k("pipe_write"), k("vfs_write")],
        freePid: 1042, freeTgid: 1042,
        freeStack: [k("__free_frozen_pages"), k("__free_pages"), m("acme_nic_free_rx", "acme_nic")]))
  }

  static var dmaStaleWalk: Report {
    let file = "Fixtures/sva-stale-walk.fixture"
    return Report(
      kind: .dmaStaleWalk,
      headline: "iommusan: accel0 pasid 1 translation walked freed page-table page pfn 0x80060",
      warnMessage: ["iommusan: accel0 pasid 1 translation walked freed page-table page pfn 0x80060"],
      warningSite: WarningSite.Emulator.dmaStaleWalk,
      callTrace: [
        k("iommusan_dma_ground_truth"), k("iommusan_device_access"),
        guilty("acme_accel_fetch", "acme_accel", file, 35),
      ],
      statement: StatementLocation(
        file: file, line: 35, column: 1, text: "dma accel0 read 0xffff_8880_0010_0000 pasid=p"),
      task: task("sva-stale-walk"),
      pfn: PFN(0x80060), phys: PhysicalAddress(0x8006_0000), iova: IOVA(0xffff_8880_0010_0000),
      device: "accel0", pasid: 1,
      details: [
        Detail("table level", .int(1)), Detail("reached via", .string("paging-structure cache (PDE)")),
        Detail("table freed at", .string("\(file):27:1")), Detail("result", .string("fault")),
      ])
  }

  // MARK: - The kernel's allocators

  static var pageDoubleFree: Report {
    let file = "Fixtures/acme-cam-teardown.fixture"
    return Report(
      .pageRefcountUnderflow(pfn: PFN(0x80070), phys: PhysicalAddress(0x8007_0000), order: 0, page: .freedAlready),
      callers: [
        k("__free_pages"), guilty("acme_cam_free_frame", "acme_cam", file, 31), m("acme_cam_stop", "acme_cam"),
        k("v4l2_release"), k("__fput"),
      ],
      statement: StatementLocation(file: file, line: 31, column: 1, text: "free_pages frame"),
      task: task("acme-cam-teardow"),
      pageOwner: PageOwnerRecord(
        isAllocated: false, order: 0, gfp: .kernel, pid: 1042, tgid: 1042, comm: "acme-cam-teardow", ts: 1_000_000,
        freeTs: 5_000_000, allocStack: allocPath + [m("acme_cam_alloc_frame", "acme_cam")], freePid: 1042,
        freeTgid: 1042,
        freeStack: [
          k("free_pages_prepare"), k("__free_frozen_pages"), k("__free_pages"), m("acme_cam_err", "acme_cam"),
        ]
      ))
  }

  /// A page frame number computed from a DMA address: a page never allocated.
  static var pageFreeNeverAllocated: Report {
    let file = "Fixtures/acme-cam-teardown.fixture"
    return Report(
      .pageRefcountUnderflow(pfn: PFN(0x80470), phys: PhysicalAddress(0x8047_0000), order: 0, page: .neverAllocated),
      callers: [
        k("__free_pages"), guilty("acme_cam_put_frame", "acme_cam", file, 44), m("acme_cam_stop", "acme_cam"),
        k("v4l2_release"), k("__fput"),
      ],
      statement: StatementLocation(file: file, line: 44, column: 1, text: "free_pages pfn=0x80470"),
      task: task("acme-cam-teardow"), pageOwner: .notPresent)
  }

  static var badPageState: Report {
    let file = "Fixtures/acme-dma-ring.fixture"
    return Report(
      .badPageState(
        pfn: PFN(0x80072), phys: PhysicalAddress(0x8007_2000), reason: "nonzero _refcount", freedHead: PFN(0x80070),
        order: 2, allocatedOrder: 1),
      callers: [
        k("bad_page"), k("free_page_is_bad_report"), k("free_pages_prepare"), k("__free_frozen_pages"),
        k("__free_pages"), guilty("acme_ring_free", "acme_ring", file, 40), m("acme_ring_stop", "acme_ring"),
      ],
      statement: StatementLocation(file: file, line: 40, column: 1, text: "free_pages ring order=2"),
      task: task("acme-dma-ring"),
      pageOwner: PageOwnerRecord(
        isAllocated: true, order: 1, gfp: .kernel, pid: 1042, tgid: 1042, comm: "acme-dma-ring", ts: 1_000_000,
        freeTs: 0, allocStack: allocPath + [m("acme_ring_refill", "acme_ring")], freePid: nil, freeTgid: nil,
        freeStack: []))
  }

  static var pageFreeWrongOrder: Report {
    let file = "Fixtures/acme-dma-ring.fixture"
    return Report(
      .freeWithWrongOrder(
        pfn: PFN(0x80070), phys: PhysicalAddress(0x8007_0000), order: 0, allocatedOrder: 2, pages: 3, leaked: true),
      callers: [
        k("iommusan_check_free_order"), k("free_pages_prepare"), k("__free_frozen_pages"), k("__free_pages"),
        guilty("acme_ring_free", "acme_ring", file, 41), m("acme_ring_stop", "acme_ring"),
      ],
      statement: StatementLocation(file: file, line: 41, column: 1, text: "free_pages ring order=0"),
      task: task("acme-dma-ring"), pageOwner: nil)
  }

  static var vfreeNonexistentArea: Report {
    let file = "Fixtures/acme-fw-load.fixture"
    return Report(
      .vfreeNonexistent(address: 0xffff_c900_0001_0000),
      callers: [guilty("acme_fw_release", "acme_fw", file, 12), m("acme_fw_remove", "acme_fw")],
      statement: StatementLocation(file: file, line: 12, column: 1, text: "vfree image"),
      task: task("acme-fw-load"), pageOwner: nil)
  }

  static var domainUseAfterFree: Report {
    let file = "Fixtures/acme-vfio-close.fixture"
    let kasan = { (frames: [String], driver: String, line: Int) in
      KASANAccess.Track(
        task: task("acme-vfio-close"),
        stack: frames.map(k) + [guilty(driver, "acme_vfio", file, line)])
    }
    return Report(
      .domainUseAfterFree(
        domain: "vfio0", iommu: "vtd0", address: 0xffff_8881_0000_3000,
        allocated: kasan(
          Finding.kasanAllocFrames + [
            "intel_iommu_domain_alloc_paging_flags", "__iommu_paging_domain_alloc_flags",
            "iommu_paging_domain_alloc_flags",
          ], "acme_vfio_open", 4),
        freed: kasan(Finding.kasanFreeFrames + ["intel_iommu_domain_free", "iommu_domain_free"], "acme_vfio_err", 9)),
      callers: [guilty("acme_vfio_close", "acme_vfio", file, 15), k("__fput")],
      statement: StatementLocation(file: file, line: 15, column: 1, text: "free_domain vfio0"),
      task: task("acme-vfio-close"), pageOwner: nil)
  }

  static var dmaMapBeyondAllocation: Report {
    let file = "Fixtures/acme-nic-rx.fixture"
    return Report(
      kind: .dmaMapBeyondAllocation,
      headline:
        "iommusan: dma_map of 4K at phys 0x80081800 for nic0 runs 2048 bytes past its allocation "
        + "(pfn 0x80081 order 0) into pfn 0x80082",
      warningSite: WarningSite.Emulator.dmaMapRange,
      callTrace: [
        k("iommusan_check_dma_map_range"), k("debug_dma_map_phys"), k("dma_map_phys"), k("dma_map_page_attrs"),
        guilty("acme_nic_map_rx", "acme_nic", file, 8),
      ],
      statement: StatementLocation(file: file, line: 8, column: 1, text: "h = dma_map nic0 rx+0x800 size=4K"),
      task: task("acme-nic-rx"), pfn: PFN(0x80081), phys: PhysicalAddress(0x8008_1800), iova: IOVA(0xffff_e800),
      domain: "nic0:default", device: "nic0",
      details: [
        Detail("size", .int(4096)), Detail("allocation end", .hex(0x8008_2000)), Detail("beyond", .int(2048)),
      ])
  }

  static var dmaSyncNotMapped: Report {
    let file = "Fixtures/acme-eth-rx.fixture"
    let message =
      "DMA-API: acme_eth 0000:00:01.0: device driver tries to sync DMA memory it has not allocated "
      + "[device address=0x00000000fffff000] [size=2048 bytes]"
    return Report(
      kind: .dmaSyncNotMapped, headline: message, warnMessage: [message],
      warningSite: WarningSite(file: "kernel/dma/debug.c", line: 1132, function: "check_sync"),
      callTrace: [
        k("check_sync"), k("debug_dma_sync_single_for_cpu"), k("dma_sync_single_for_cpu"),
        guilty("acme_eth_rx_recycle", "acme_eth", file, 19),
      ],
      statement: StatementLocation(file: file, line: 19, column: 1, text: "dma_sync_single_for_cpu rx size=2K"),
      task: task("acme-eth-rx"), iova: IOVA(0xffff_f000), domain: "eth0:default", device: "eth0",
      details: [Detail("size", .int(2048))])
  }

  static var dmaSyncMismatch: Report {
    let file = "Fixtures/acme-eth-rx.fixture"
    let message =
      "DMA-API: acme_eth 0000:00:01.0: device driver syncs DMA memory with different direction "
      + "[device address=0x00000000fffff000] [size=2048 bytes] [mapped with DMA_FROM_DEVICE] "
      + "[synced with DMA_TO_DEVICE]"
    return Report(
      kind: .dmaSyncMismatch, headline: message, warnMessage: [message],
      warningSite: WarningSite(file: "kernel/dma/debug.c", line: 1132, function: "check_sync"),
      callTrace: [
        k("check_sync"), k("debug_dma_sync_single_for_cpu"), k("dma_sync_single_for_cpu"),
        guilty("acme_eth_rx_poll", "acme_eth", file, 13),
      ],
      statement: StatementLocation(
        file: file, line: 13, column: 1, text: "dma_sync_single_for_cpu rx size=2K dir=to-device"),
      task: task("acme-eth-rx"), phys: PhysicalAddress(0x8000_1000), iova: IOVA(0xffff_f000),
      domain: "eth0:default", device: "eth0",
      details: [Detail("mapped with", .string("FROM_DEVICE")), Detail("synced with", .string("TO_DEVICE"))])
  }

  static var dmaNeighbourObjectAccess: Report {
    let file = "Fixtures/acme-nic-ops.fixture"
    let allocated = "acme_nic_kmalloc_ops (\(file):11) by task 1000 (acme-nic-ops)"
    return Report(
      kind: .dmaNeighbourObjectAccess,
      headline:
        "iommusan: DMA outside its object: nic write of 8 bytes at iova 0xfffff208 lands 8 bytes into kmalloc-512 "
        + "object 0x80001200 allocated at \(allocated), a neighbour in the page of the kmalloc-512 object "
        + "0x80001000 the mapping was made for",
      warningSite: WarningSite(file: "iommusan/checks.c", line: 190, function: "iommusan_dma_ground_truth"),
      callTrace: [
        k("iommusan_dma_ground_truth"), k("iommusan_device_access"), guilty("acme_nic_dma_nic", "acme_nic", file, 16),
      ],
      statement: StatementLocation(
        file: file, line: 16, column: 1, text: "dma nic write h+0x208 len=8 value=0x4141414141414141"),
      task: task("acme-nic-ops"), phys: PhysicalAddress(0x8000_1208), iova: IOVA(0xffff_f208),
      domain: "nic:default", device: "nic",
      details: [
        Detail("access", .string("write")), Detail("length", .int(8)), Detail("mapping", .hex(0xffff_f000)),
        Detail("mapped object", .string("kmalloc-512 object 0x80001000")),
        Detail("object hit", .string("kmalloc-512 object 0x80001200")),
        Detail("object hit allocated at", .string(allocated)), Detail("offset in object", .int(8)),
      ])
  }

  static var slabFreedWhileMapped: Report {
    let file = "Fixtures/acme-hba-timeout.fixture"
    return Report(
      kind: .slabFreedWhileMapped,
      headline:
        "iommusan: kfree() of kmalloc-256 object 0x80001100 allocated at acme_hba_kmalloc_cmd (\(file):10) by task "
        + "1000 (acme-hba) while hba's DMA mapping 0xfffff100 (200 bytes, DMA_BIDIRECTIONAL) still covers it",
      warningSite: WarningSite(file: "iommusan/checks.c", line: 205, function: "iommusan_check_slab_free"),
      callTrace: [k("iommusan_check_slab_free"), k("kfree"), guilty("acme_hba_kfree_cmd", "acme_hba", file, 12)],
      statement: StatementLocation(file: file, line: 12, column: 1, text: "kfree cmd"),
      task: task("acme-hba"), pfn: PFN(0x80001), phys: PhysicalAddress(0x8000_1100), iova: IOVA(0xffff_f100),
      domain: "hba:default", device: "hba",
      details: [Detail("object", .string("kmalloc-256 object 0x80001100")), Detail("mapping size", .int(200))])
  }

  static var dmaCPUTouchActiveCacheline: Report {
    let file = "Fixtures/acme-eth-hdr.fixture"
    let message = "DMA-API: acme_eth 0000:00:01.0: cpu touching an active dma mapped cacheline [cln=0x0000000002000040]"
    return Report(
      kind: .dmaCPUTouchActiveCacheline, headline: message, warnMessage: [message],
      warningSite: WarningSite(file: "kernel/dma/debug.c", line: 596, function: "debug_dma_assert_idle"),
      callTrace: [k("debug_dma_assert_idle"), guilty("acme_eth_fill_header", "acme_eth", file, 10)],
      statement: StatementLocation(file: file, line: 10, column: 1, text: "cpu_write buf+0x8 value=0"),
      task: task("acme-eth-hdr"), phys: PhysicalAddress(0x8000_1000), iova: IOVA(0xffff_f000),
      domain: "eth0:default", device: "eth0",
      details: [Detail("cln", .hex(0x200_0040)), Detail("mapped with", .string("FROM_DEVICE"))])
  }

  // MARK: - Trace replay

  static var faultAfterUnmap: Report {
    let file = "traces/ath12k-20250701.log"
    let line =
      "irq/26-AMD-Vi-154     [006] .....   327.753942: io_page_fault: IOMMU:ath12k_pci 0000:c2:00.0 "
      + "iova=0x00000000fe980000 flags=0x0001"
    return Report(
      kind: .faultAfterUnmap,
      headline: "iommusan: io_page_fault at iova 0xfe980000, unmapped 6.176 ms earlier by kworker/u64:0-12",
      warnMessage: ["iommusan: io_page_fault at iova 0xfe980000, unmapped 6.176 ms earlier by kworker/u64:0-12"],
      warningSite: WarningSite.Emulator.faultAfterUnmap,
      callTrace: [
        k("replay_check_fault_after_unmap"), k("report_iommu_fault"),
        guilty("ath12k_pci", "ath12k_pci", file, 5), k("amd_iommu_int_thread"), k("irq_thread_fn"),
        k("irq_thread"), k("kthread"), k("ret_from_fork"), k("ret_from_fork_asm"),
      ],
      statement: StatementLocation(file: file, line: 5, column: 1, text: line),
      task: EmulatedTask(pid: 154, tgid: 154, comm: "irq/26-AMD-Vi", cpu: 6),
      iova: IOVA(0xfe98_0000), device: "0000:c2:00.0",
      details: [
        Detail("flags", .hex(1)), Detail("unmapped at", .string("\(file):4")),
        Detail("unmap size", .int(524_288)), Detail("freed at", .string("\(file):3")),
      ])
  }

  // MARK: - IOMMU core and io-pgtable WARNs

  static var unmapPartialLargePage: Report {
    let file = "Fixtures/acme-gpu-unmap.fixture"
    return Report(
      .partialLargeUnmap(iova: IOVA(0x4000_0000), size: 0x1000, domain: "gpu", device: "gpu0"),
      callers: [guilty("acme_gpu_unmap_tile", "acme_gpu", file, 21), m("acme_gpu_free_bo", "acme_gpu")],
      statement: StatementLocation(file: file, line: 21, column: 1, text: "iommu_unmap gpu iova=0x4000_0000 size=4K"),
      task: task("acme-gpu-unmap"), pageOwner: nil)
  }

  static var resetPrepareReentry: Report {
    let file = "Fixtures/acme-nic-reset.fixture"
    return Report(
      .resetPrepareReentry(device: "nic0", bdf: "0000:00:03.0", domain: "vtd0:blocked", group: "iommu group 2"),
      callers: [
        k("pcie_flr"), guilty("acme_nic_reset_prepare", "acme_nic", file, 14), k("pci_dev_save_and_disable"),
        k("pci_reset_function"),
      ],
      statement: StatementLocation(file: file, line: 14, column: 1, text: "flr nic0"),
      task: EmulatedTask(pid: 87, tgid: 87, comm: "kworker/0:2", cpu: 0), pageOwner: nil)
  }
}
