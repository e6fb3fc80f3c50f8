import FixtureRunner
import KernelTypes
import Testing

/// Per-statement checks that used to scan every DMA-API debug entry (issue
/// 15): `kfree`'s "still mapped?" and a device access's "which mapping?" now
/// probe an index. 16,384 live mappings and as many `kfree`s and accesses: a
/// scan per statement would look at 2 × 16,384² entries (minutes in a debug
/// build); the index looks at a few. The reports are the ones a scan finds.
@Suite struct LinearScanRunTests {
  static let fixture = """
    iommu vtd0 model=vtd
    device nic iommu=vtd0
    repeat 16384 as i
      o[i] = kmalloc 512
      h[i] = dma_map nic o[i] size=512 dir=from-device
    end
    repeat 16384 as i
      t = kmalloc 2048
      dma nic write h[i]+0x100 len=8 value=1
      kfree t
    end
    dma nic write h[7]+0x208 len=8 value=0x4141414141414141
    expect report dma-neighbour-object-access device=nic
    kfree o[9]
    expect report slab-freed-while-mapped
    kfree o[11]
    expect report slab-freed-while-mapped

    """

  @Test func kfreeAndAccessesWithManyLiveMappings() {
    let r = FixtureRunner.run(file: "many.fixture", source: Array(Self.fixture.utf8))
    #expect(r.failures.isEmpty, "\(r.failures)")
    #expect(r.diagnostics.isEmpty, "\(r.diagnostics.map(\.message))")
    #expect(
      r.reports.map(\.kind) == [.dmaNeighbourObjectAccess, .slabFreedWhileMapped, .slabFreedWhileMapped])
  }
}
