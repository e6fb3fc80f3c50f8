import FixtureLanguage
import KernelTypes
import Testing

/// Every statement word parses into its typed operation, with defaults filled in.
@Suite struct OperationTests {
  func name(_ n: String, _ line: Int, _ column: Int) -> NameReference {
    NameReference(name: n, location: at(line, column))
  }

  // MARK: Section 2

  @Test func memoryDefaultsAndKeys() throws {
    let plain = parse("memory 2G")
    #expect(plain.diagnostics.isEmpty)
    #expect(plain.memory == MemoryConfiguration(size: 2 << 30))
    #expect(parse("").memory == .defaults)
    #expect(
      MemoryConfiguration.defaults.size == 1 << 30 && MemoryConfiguration.defaults.base == PhysicalAddress(0x8000_0000))

    let full = parse(
      "memory 1G base=0x1_0000_0000 page=64K mmio=0xfe00_0000-0xfeff_ffff mmio=4G-5G offline=0x1_1000_0000-0x1_1fff_ffff"
    )
    #expect(full.diagnostics.isEmpty)
    let m = full.memory
    #expect(m.size == 1 << 30 && m.base == PhysicalAddress(0x1_0000_0000) && m.page == .size64K)
    #expect(m.mmio == [0xfe00_0000...0xfeff_ffff, (4 << 30)...(5 << 30)])
    #expect(m.offline == [0x1_1000_0000...0x1_1fff_ffff])
    #expect(m.mmio[0].contains(0xfeff_ffff) && !m.mmio[0].contains(0xff00_0000))
    #expect(full.statements.first?.operation == .memory(m))
  }

  @Test func iommuGatherKeys() {
    #expect(
      operation("iommu a model=amd npcache=on gather=off", preamble: false)
        == .iommu(IOMMUConfiguration(name: name("a", 1, 7), model: .amd, npcache: .on, gather: .off)))
    #expect(
      diagnostics("iommu v model=vtd npcache=on")
        == ["1:27: error: npcache= is only for amd (a virtual AMD IOMMU with NpCache)"])
    #expect(diagnostics("iommu v model=vtd npcache=off").isEmpty)
  }

  @Test func iommuDefaultsAndKeys() {
    #expect(
      operation("iommu m model=amd", preamble: false)
        == .iommu(IOMMUConfiguration(name: name("m", 1, 7), model: .amd)))
    let op = operation("iommu s model=smmuv3 granule=16K pgsizes=16K,32M iotlb=0 walk-cache=8 sva=on", preamble: false)
    let expected = IOMMUConfiguration(
      name: name("s", 1, 7), model: .smmuv3, granule: .size16K, pageSizes: PageSizeList(sizes: [16 << 10, 32 << 20]),
      iotlbEntries: 0, walkCacheEntries: 8, sva: .on)
    #expect(op == .iommu(expected))
    #expect(expected.pageSizes?.bitmap == (16 << 10) | (32 << 20))
    #expect(expected.pageSizes?.description == "16K,32M")
    #expect(expected.effectivePageSizes == [16 << 10, 32 << 20])
    #expect(IOMMUConfiguration(name: name("v", 1, 1), model: .vtd).effectivePageSizes == [4096, 2 << 20, 1 << 30])
    #expect(IOMMUModel.smmuv3.pageSizes(granule: .size64K) == [64 << 10, 512 << 20])
  }

  @Test func device() {
    #expect(
      operation("device d2 iommu=mmu0 pasid=off")
        == .device(DeviceConfiguration(name: name("d2", 5, 8), iommu: name("mmu0", 5, 17), ats: nil, pasid: .off)))
  }

  @Test func cmdlineLinesMergeInOrder() {
    let parsed = parse(
      """
      cmdline "iommu.strict=0 emu.reset=defer"
      cmdline "iommu.strict=y page_owner=off emu.notifier=deferred-end"
      flush_tlb_all
      """)
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.first?.operation == .cmdline([.strict(false), .reset(.deferAttach)]))
    var expected = Cmdline()
    expected.strict = true
    expected.pageOwner = false
    expected.reset = .deferAttach
    expected.notifier = .deferredEnd
    #expect(parsed.cmdline == expected)
    #expect(
      parsed.cmdline.description
        == "iommu.debug_pagealloc=1 page_owner=off iommu.strict=1 emu.accounting=exact emu.kva_flush=deferred-free emu.notifier=deferred-end emu.reset=defer"
    )
  }

  // MARK: Section 3

  @Test func allocPages() {
    #expect(operation("x = alloc_pages") == .allocPages(order: 0, gfp: .kernel))
    let op = operation("x = alloc_pages order=9 gfp=GFP_ATOMIC|__GFP_ZERO|__GFP_COMP")
    #expect(
      op == .allocPages(order: 9, gfp: GFPFlags(names: ["GFP_ATOMIC", "__GFP_ZERO", "__GFP_COMP"], mask: 0x4_0920)))
    if case .allocPages(_, let gfp)? = op {
      #expect(gfp.zeroes)
      #expect(gfp.description == "GFP_ATOMIC|__GFP_ZERO|__GFP_COMP")
    }
  }

  @Test(arguments: [
    ("GFP_KERNEL", UInt32(0xcc0)), ("GFP_ATOMIC", 0x820), ("GFP_NOWAIT", 0x800), ("GFP_DMA", 0x1),
    ("GFP_DMA32", 0x4), ("__GFP_ZERO", 0x100), ("__GFP_COMP", 0x4_0000), ("__GFP_NOWARN", 0x2000),
    ("GFP_HIGHUSER_MOVABLE", 0x10_0cca), ("__GFP_MOVABLE", 0x8), ("__GFP_RECLAIMABLE", 0x10),
    ("GFP_KERNEL|__GFP_NOWARN|__GFP_NORETRY|__GFP_COMP|__GFP_ZERO", 0x5_2dc0),
  ])
  func gfpMasks(_ flags: String, _ mask: UInt32) {
    guard case .allocPages(_, let gfp)? = operation("x = alloc_pages gfp=\(flags)") else {
      Issue.record("did not parse")
      return
    }
    #expect(gfp.mask == mask)
    #expect(gfp.names == flags.split(separator: "|").map(String.init))
    #expect(GFPFlags(names: gfp.names) == gfp)
  }

  @Test func memoryStatements() {
    #expect(operation("free_pages buf") == .freePages(name("buf", 5, 12), order: nil))
    #expect(operation("free_pages pfn=0x8_0010") == .freePagesAt(pfn: 0x8_0010, order: 0))
    #expect(operation("free_pages pfn=0x80010 order=2") == .freePagesAt(pfn: 0x8_0010, order: 2))
    #expect(
      diagnostics("free_pages pfn=0x80010 buf")
        == ["1:24: error: unexpected argument 'buf' (usage: free_pages NAME|pfn=N [order=N])"])
    #expect(operation("v = vmalloc 12K") == .vmalloc(size: 12 << 10))
    #expect(operation("v = vmalloc_huge 2M") == .vmallocHuge(size: 2 << 20))
    #expect(operation("v = vmalloc 8K\nvfree v") == .vfree(name("v", 6, 7)))
    #expect(
      operation("cpu_write buf+0x10 value=0xdead width=2")
        == .cpuWrite(address: .name(name("buf", 5, 11), offset: 0x10), value: 0xdead, width: .halfword))
    #expect(
      operation("cpu_write 0x8000_1000 value=1")
        == .cpuWrite(address: .literal(0x8000_1000, location: at(5, 11)), value: 1, width: .doubleword))
    #expect(operation("cpu_fill buf value=0xff width=1") == .cpuFill(name("buf", 5, 10), value: 0xff, width: .byte))
    #expect(
      operation("v = vmalloc 8K\nflush_tlb_kernel_range v v+8K")
        == .flushTLBKernelRange(start: .name(name("v", 6, 24), offset: 0), end: .name(name("v", 6, 26), offset: 8192)))
    #expect(operation("flush_tlb_all") == .flushTLBAll)
  }

  // MARK: Section 4

  @Test func iommuAPI() {
    #expect(operation("x = domain mmu0") == .domain(iommu: name("mmu0", 5, 12), type: .paging))
    #expect(operation("x = domain mmu0 type=identity") == .domain(iommu: name("mmu0", 5, 12), type: .identity))
    #expect(operation("free_domain d") == .freeDomain(name("d", 5, 13)))
    #expect(operation("attach nic d") == .attach(device: name("nic", 5, 8), domain: name("d", 5, 12), pasid: nil))
    #expect(
      operation("attach nic d pasid=0xfffff")
        == .attach(device: name("nic", 5, 8), domain: name("d", 5, 12), pasid: 0xfffff))
    #expect(operation("detach nic") == .detach(device: name("nic", 5, 8), pasid: nil))
    #expect(operation("detach nic pasid=3") == .detach(device: name("nic", 5, 8), pasid: 3))
    #expect(
      operation("iommu_map d iova=0x10000 phys=buf size=8K")
        == .iommuMap(
          domain: name("d", 5, 11), iova: .literal(0x10000, location: at(5, 18)),
          phys: .name(name("buf", 5, 31), offset: 0),
          size: 8192, prot: .rw))
    #expect(
      operation("iommu_map d iova=buf phys=buf size=0 prot=r")
        == .iommuMap(
          domain: name("d", 5, 11), iova: .name(name("buf", 5, 18), offset: 0),
          phys: .name(name("buf", 5, 27), offset: 0),
          size: 0, prot: .r))
    #expect(
      operation("iommu_unmap d iova=2M size=2M")
        == .iommuUnmap(domain: name("d", 5, 13), iova: .literal(2 << 20, location: at(5, 20)), size: 2 << 20))
    #expect(
      operation("iommu_unmap_fast d iova=0 size=4K")
        == .iommuUnmapFast(domain: name("d", 5, 18), iova: .literal(0, location: at(5, 25)), size: 4096))
    #expect(
      operation("iova_to_phys d iova=0x1000")
        == .iovaToPhys(domain: name("d", 5, 14), iova: .literal(0x1000, location: at(5, 21))))
    #expect(operation("iotlb_sync d") == .iotlbSync(name("d", 5, 12)))
    #expect(operation("flush_iotlb_all d") == .flushIOTLBAll(name("d", 5, 17)))
  }

  // MARK: Section 5

  @Test func dmaAPI() {
    #expect(
      operation("h = dma_map nic buf+4K size=4K")
        == .dmaMap(
          device: name("nic", 5, 13), address: .name(name("buf", 5, 17), offset: 4096), size: 4096,
          direction: .bidirectional))
    #expect(
      operation("h = dma_map nic buf size=4K dir=from-device")
        == .dmaMap(
          device: name("nic", 5, 13), address: .name(name("buf", 5, 17), offset: 0), size: 4096, direction: .fromDevice)
    )
    #expect(
      operation("h = dma_map nic buf size=4K\ndma_unmap h") == .dmaUnmap(name("h", 6, 11), size: nil, direction: nil))
    #expect(
      operation("h = dma_map nic buf size=4K\ndma_unmap h size=8K dir=to-device")
        == .dmaUnmap(name("h", 6, 11), size: 8192, direction: .toDevice))
    // The kernel's enumerators are aliases (an extension): DMA_TO_DEVICE is to-device.
    for direction in DMADirection.allCases {
      #expect(
        operation("h = dma_map nic buf size=4K dir=\(direction.kernelEnumName)")
          == .dmaMap(
            device: name("nic", 5, 13), address: .name(name("buf", 5, 17), offset: 0), size: 4096,
            direction: direction))
    }
    #expect(
      operation("h = dma_map nic buf size=4K\ndma_unmap h dir=DMA_FROM_DEVICE")
        == .dmaUnmap(name("h", 6, 11), size: nil, direction: .fromDevice))
    #expect(operation("c = dma_alloc nic 64K") == .dmaAlloc(device: name("nic", 5, 15), size: 64 << 10))
    #expect(operation("c = dma_alloc nic 64K\ndma_free c") == .dmaFree(name("c", 6, 10)))
    #expect(operation("advance 10ms") == .advance(nanoseconds: 10_000_000))
  }

  @Test(arguments: [
    ("7ns", UInt64(7)), ("500us", 500_000), ("10ms", 10_000_000), ("2s", 2_000_000_000), ("0x10ms", 16_000_000),
    ("1_000ms", 1_000_000_000), ("18446744073ns", 18_446_744_073), ("18446744073s", 18_446_744_073_000_000_000),
  ])
  func durations(_ text: String, _ nanoseconds: UInt64) {
    #expect(operation("advance \(text)") == .advance(nanoseconds: nanoseconds))
  }

  // MARK: Section 6

  @Test func deviceAccess() {
    #expect(
      operation("dma nic read buf")
        == .dma(DeviceAccess(device: name("nic", 5, 5), kind: .read, address: .name(name("buf", 5, 14), offset: 0))))
    let op = operation(
      "s = process\nsv = sva_bind nic s\ndma nic write 0x1000 len=4 pasid=sv value=0xffff_ffff priv=supervisor")
    #expect(
      op
        == .dma(
          DeviceAccess(
            device: name("nic", 7, 5), kind: .write, address: .literal(0x1000, location: at(7, 15)), length: 4,
            pasid: .svaHandle(name("sv", 7, 34)), value: 0xffff_ffff, privilege: .supervisor)))
    #expect(
      operation("dma nic write buf len=4096")
        == .dma(
          DeviceAccess(
            device: name("nic", 5, 5), kind: .write, address: .name(name("buf", 5, 15), offset: 0), length: 4096)))
    #expect(
      operation("ats_translate nic 0x2000 pasid=1")
        == .atsTranslate(
          device: name("nic", 5, 15), address: .literal(0x2000, location: at(5, 19)),
          pasid: .number(1, location: at(5, 32))))
  }

  // MARK: Section 7

  @Test func processesAndSVA() {
    #expect(operation("p = process") == .process(comm: nil))
    #expect(operation(#"p = process comm="a \"b\" \\c""#) == .process(comm: #"a "b" \c"#))
    #expect(operation("p = process comm=\"\"") == .process(comm: ""))
    #expect(operation("p = process\nm = mmap p 2M") == .mmap(process: name("p", 6, 10), size: 2 << 20, populate: false))
    #expect(
      operation("p = process\nm = mmap p 2M populate")
        == .mmap(process: name("p", 6, 10), size: 2 << 20, populate: true))
    #expect(operation("p = process\nm = mmap p 2M\nmunmap m") == .munmap(name("m", 7, 8)))
    #expect(operation("p = process\nexit p") == .exit(name("p", 6, 6)))
    #expect(
      operation("p = process\ns = sva_bind nic p") == .svaBind(device: name("nic", 6, 14), process: name("p", 6, 18)))
    #expect(operation("p = process\ns = sva_bind nic p\nsva_unbind s") == .svaUnbind(name("s", 7, 12)))
  }

  // MARK: Section 8

  @Test func resets() {
    #expect(operation("reset_prepare nic") == .resetPrepare(name("nic", 5, 15)))
    #expect(operation("reset_done nic") == .resetDone(name("nic", 5, 12)))
    #expect(operation("flr nic") == .flr(name("nic", 5, 5)))
    #expect(operation("flr_begin nic") == .flrBegin(name("nic", 5, 11)))
    #expect(operation("flr_end nic") == .flrEnd(name("nic", 5, 9)))
  }

  @Test func everyVerbIsCovered() {
    let sources: [String] = [
      "flush_tlb_all", "x = alloc_pages", "free_pages buf", "v = vmalloc 4K", "v = vmalloc_huge 2M",
      "cpu_write buf value=1",
      "cpu_fill buf value=1", "x = domain mmu0", "free_domain d", "attach nic d", "detach nic",
      "iommu_map d iova=0 phys=buf size=4K", "iommu_unmap d iova=0 size=4K", "iommu_unmap_fast d iova=0 size=4K",
      "iova_to_phys d iova=0", "iotlb_sync d", "flush_iotlb_all d", "h = dma_map nic buf size=4K",
      "c = dma_alloc nic 4K", "advance 1s", "dma nic read 0", "ats_translate nic 0", "p = process",
      "reset_prepare nic", "reset_done nic", "flr nic", "flr_begin nic", "flr_end nic",
      "iommu m2 model=vtd", "device n2 iommu=mmu0", "o = kmalloc 512", "s = dma_map_sg nic seg=buf:4K seg=buf+4K:1K",
      "p = dma_alloc_pages nic 8K dir=to-device", "dma_sync_single_for_cpu buf size=64",
      "dma_sync_single_for_device buf size=64 dir=to-device",
    ]
    var verbs = Set(sources.compactMap { operation($0)?.verb })
    let chained = parse(
      """
      cmdline "iommu.strict=1"
      memory 1G
      iommu mmu0 model=vtd
      device nic iommu=mmu0
      v = vmalloc 8K
      flush_tlb_kernel_range v v+8K
      vfree v
      buf = alloc_pages
      h = dma_map nic buf size=4K
      dma_unmap h
      c = dma_alloc nic 4K
      dma_free c
      o = kmalloc 64
      kfree o
      sg = dma_map_sg nic seg=buf:2K seg=buf+2K:2K dir=from-device
      dma_sync_sg_for_cpu sg
      dma_sync_sg_for_device sg nents=2
      dma_unmap_sg sg nents=2 dir=from-device
      q = dma_alloc_pages nic 4K
      dma_free_pages q
      repeat 2 as i
      end
      p = process
      m = mmap p 4K
      munmap m
      s = sva_bind nic p
      sva_unbind s
      exit p
      """)
    #expect(chained.diagnostics.isEmpty)
    verbs.formUnion(chained.statements.map(\.verb))
    #expect(verbs == Set(Verb.allCases.filter { $0 != .expect }))
  }
}
