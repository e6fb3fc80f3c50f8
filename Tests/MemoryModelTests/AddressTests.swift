import KernelTypes
import Testing

@testable import MemoryModel

@Suite("Addresses, sizes, errno and the clock")
struct AddressTests {
  @Test func addressArithmetic() {
    let p = PhysicalAddress(0x8000_1234)
    #expect(p.pfn(pageShift: 12) == PFN(0x80001))
    #expect(p.pfn(pageShift: 16) == PFN(0x8000))
    #expect(PFN(0x80001).address(pageShift: 12) == PhysicalAddress(0x8000_1000))
    #expect(p.adding(0x10) == PhysicalAddress(0x8000_1244))
    #expect(PhysicalAddress(UInt64.max).adding(1) == nil)
    #expect(IOVA(UInt64.max - 1).adding(2) == nil)
    #expect(IOVA(0xFFFF_F000).adding(0x1000) == IOVA(0x1_0000_0000))
    #expect(PFN(10).distance(to: PFN(4)) == -6)
    #expect(PFN(10).advanced(by: -3) == PFN(7))
    #expect(p.description == "0x80001234")
    #expect(UInt64(0x1f).hex16 == "0x000000000000001f")
    #expect(UInt64(0x1f).hexAlt == "0x1f")
    #expect(UInt64(0).hexAlt == "0")
    #expect(VirtualAddress(5).adding(UInt64.max) == nil)
  }

  @Test func pageBlocks() {
    let b = PageBlock(head: PFN(0x80008), order: 3)
    #expect(b.pageCount == 8)
    #expect(b.contains(PFN(0x80008)) && b.contains(PFN(0x8000F)))
    #expect(!b.contains(PFN(0x80010)) && !b.contains(PFN(0x80007)))
    #expect(GFPFlags.kernel.migratetype == "Unmovable")
    #expect(GFPFlags(names: ["__GFP_MOVABLE"])!.migratetype == "Movable")
    #expect(GFPFlags(names: ["__GFP_RECLAIMABLE"])!.migratetype == "Reclaimable")
  }

  @Test func byteSizes() {
    #expect(ByteSize.describe(4096) == "4K")
    #expect(ByteSize.describe(2 << 20) == "2M")
    #expect(ByteSize.describe(1 << 30) == "1G")
    #expect(ByteSize.describe(1 << 40) == "1T")
    #expect(ByteSize.describe(3 << 30) == "3G")
    #expect(ByteSize.describe(1536) == "1536")
    #expect(ByteSize.describe(0) == "0")
    #expect(ByteSize.isPowerOfTwo(1 << 21) && !ByteSize.isPowerOfTwo(0) && !ByteSize.isPowerOfTwo(6))
    #expect(ByteSize.ffs(0x6000) == 13)
    #expect(ByteSize.fls(0x6000) == 14)
    #expect(ByteSize.fls(UInt64.max) == 63)
  }

  @Test func errnoCodes() {
    #expect(Errno.EINVAL.code == 22)
    #expect(Errno.EEXIST.code == 17)
    #expect(Errno.ENOMEM.code == 12)
    #expect(Errno.ERANGE.code == 34)
    #expect(Errno.EADDRINUSE.code == 98)
    #expect(Set(Errno.knownInOrder.map(\.0)).count == Errno.knownInOrder.count)
    #expect(MachineError(.EBUSY).description == "EBUSY")
    #expect(MachineError(.EBUSY, "attached").description == "EBUSY (attached)")
  }

  @Test func clock() {
    let c = EmulatedClock()
    #expect(c.now == 0)
    c.advance(by: 10_000_000)
    #expect(c.now == 10_000_000)
    c.advance(by: .max)
    #expect(c.now == .max)
  }

  @Test func callChains() {
    let c = CallContext(
      task: EmulatedTask(pid: 1, tgid: 1, comm: "insmod"),
      caller: KernelFrame("drv_init", module: "drv", isDriver: true))
    let chain = c.chain("a", "b")
    #expect(chain.map(\.function) == ["a", "b", "drv_init"])
    #expect(chain.last?.isDriver == true)
    #expect(CallContext.kernel("fq_flush_timeout").task == .swapper)
  }
}
