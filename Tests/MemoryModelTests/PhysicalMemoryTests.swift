import KernelTypes
import Synchronization
import Testing

@testable import MemoryModel

@Suite("Physical memory layout and page records")
struct PhysicalMemoryTests {
  // 16 MiB at 0x8000_0000 with an unaligned MMIO hole and an offline range.
  static let mmio: ClosedRange<UInt64> = 0x8010_3000...0x8020_4FFF
  static let offline: ClosedRange<UInt64> = 0x80C0_0000...0x80C4_0FFF

  @Test("MMIO and offline ranges are never handed out and have no page_ext")
  func holesAreNeverAllocated() throws {
    let memory = makeMemory(size: 16 << 20, mmio: [Self.mmio], offline: [Self.offline])
    let holePages = (Self.mmio.count + Self.offline.count) / 4096
    #expect(memory.freePageCount == UInt64(4096 - holePages))
    #expect(memory.onlineRanges.count == 3)
    // Take everything at the largest order possible, then the rest.
    var all: [PageBlock] = []
    for order in stride(from: 10, through: 0, by: -1) {
      while let b = try? memory.allocPages(order: order, context: ctx) { all.append(b) }
    }
    #expect(memory.freePageCount == 0)
    #expect(all.reduce(0) { $0 + $1.pageCount } == UInt64(4096 - holePages))
    for b in all {
      for pfn in b.head.rawValue..<(b.head.rawValue + b.pageCount) {
        let phys = pfn << 12
        #expect(!Self.mmio.contains(phys) && !Self.offline.contains(phys), "\(PFN(pfn)) is in a hole")
        #expect(memory.hasPageExt(PFN(pfn)))
      }
    }
    #expect(!memory.hasPageExt(PFN(Self.mmio.lowerBound >> 12)))
    #expect(!memory.hasPageExt(PFN(Self.mmio.upperBound >> 12)))
    #expect(!memory.hasPageExt(PFN(Self.offline.lowerBound >> 12)))
    #expect(!memory.hasPageExt(PFN(Self.offline.upperBound >> 12)))
    #expect(memory.hasPageExt(PFN((Self.mmio.lowerBound >> 12) - 1)))
    #expect(memory.hasPageExt(PFN((Self.mmio.upperBound >> 12) + 1)))
    #expect(memory.hasPageExt(PFN((Self.offline.upperBound >> 12) + 1)))
    #expect(!memory.hasPageExt(PFN(basePFN - 1)))
    #expect(!memory.hasPageExt(PFN(basePFN + 4096)))

    #expect(memory.state(of: PFN(Self.mmio.lowerBound >> 12)) == .notRAM)
    #expect(memory.state(of: PFN(Self.offline.lowerBound >> 12)) == .offline)
    #expect(memory.state(of: PFN(basePFN + 4096)) == .notRAM)
    #expect(memory.isRAM(PhysicalAddress(Self.offline.lowerBound)))
    #expect(!memory.isRAM(PhysicalAddress(Self.mmio.lowerBound)))
    #expect(!memory.isRAM(PhysicalAddress(0x7FFF_FFFF)))
  }

  @Test("A 1 TiB machine is cheap: a few pages cost a few frames")
  func oneTebibyte() throws {
    let config = MemoryConfiguration(size: 1 << 40)
    #expect(config.validate() == nil)
    let memory = PhysicalMemory(config: config)
    #expect(memory.freePageCount == 1 << 28)
    #expect(memory.residentFrames == 0)
    var blocks: [PageBlock] = []
    for order in [0, 0, 3, 10, 10, 0] {
      blocks.append(try memory.allocPages(order: order, gfp: .kernelZero, context: ctx))
    }
    #expect(blocks[0].head == PFN(basePFN))
    for (i, b) in blocks.enumerated() {
      memory.write64(b.head.address(pageShift: 12), 0x1000 + UInt64(i))
    }
    for (i, b) in blocks.enumerated() { #expect(memory.read64(b.head.address(pageShift: 12)) == 0x1000 + UInt64(i)) }
    #expect(memory.residentFrames == blocks.count)
    #expect(memory.freePageCount == (1 << 28) - (1 + 1 + 8 + 1024 + 1024 + 1))
    let last = PFN(basePFN + (1 << 28) - 1)
    #expect(memory.hasPageExt(last))
    #expect(!memory.hasPageExt(last.advanced(by: 1)))
    #expect(memory.state(of: last) == .free)
    for b in blocks { try memory.freePages(b, context: ctx) }
    #expect(memory.freePageCount == 1 << 28)
    // A zeroing allocation does not make frames resident.
    let z = try memory.allocPages(order: 10, gfp: .kernelZero, context: ctx)
    memory.fill(z, value: 0, width: 8)
    #expect(memory.residentFrames <= blocks.count)
  }

  @Test("Configuration checks")
  func validation() {
    #expect(MemoryConfiguration.defaults.validate() == nil)
    #expect(MemoryConfiguration(size: 0).validate()?.errno == .EINVAL)
    #expect(MemoryConfiguration(size: (1 << 40) + 4096).validate()?.errno == .E2BIG)
    #expect(MemoryConfiguration(size: 1 << 41).validate(maximumRAM: 1 << 42) == nil)
    #expect(MemoryConfiguration(size: 4096 + 1).validate()?.errno == .EINVAL)
    #expect(MemoryConfiguration(size: 1 << 16, page: .size64K).validate() == nil)
    #expect(MemoryConfiguration(size: 1 << 14, page: .size64K).validate()?.errno == .EINVAL)
    #expect(MemoryConfiguration(size: 1 << 30, base: PhysicalAddress(0x8000_0800)).validate()?.errno == .EINVAL)
    #expect(
      MemoryConfiguration(size: 1 << 30, base: PhysicalAddress((1 << 52) - (1 << 20))).validate()?.errno == .ERANGE)
    #expect(MemoryConfiguration(size: 8192, base: PhysicalAddress(UInt64.max - 4095)).validate()?.errno == .ERANGE)
  }

  @Test("Online ranges exclude holes, with inclusive ends")
  func onlineRanges() {
    let c = MemoryConfiguration(
      size: 1 << 24, base: PhysicalAddress(0x1_0000_0000), mmio: [0x1_0000_0000...0x1_0000_0FFF],
      offline: [0x1_0080_0000...0x1_0080_1FFF, 0x1_00FF_F000...0x1_00FF_FFFF])
    let first: UInt64 = 0x1_0000_0000 >> 12
    #expect(c.onlineRanges() == [(first + 1)..<(first + 0x800), (first + 0x802)..<(first + 0xFFF)])
    #expect(c.pageSize == 4096)
  }

  @Test("16K and 64K CPU pages", arguments: [14, 16])
  func largeCPUPages(pageShift: Int) throws {
    let memory = makeMemory(size: 64 << 20, pageShift: pageShift)
    #expect(memory.pageSize == 1 << UInt64(pageShift))
    #expect(memory.freePageCount == (64 << 20) >> UInt64(pageShift))
    let b = try memory.allocPages(order: 1, context: ctx)
    #expect(b.head == PFN(0x8000_0000 >> UInt64(pageShift)))
    let phys = b.head.address(pageShift: pageShift)
    memory.fill(b, value: 0x5A, width: 1)
    let bytes = UInt64(2) << UInt64(pageShift)
    #expect(memory.read64(phys) == 0x5A5A_5A5A_5A5A_5A5A)
    #expect(memory.read64(phys.advanced(by: bytes - 8)) == 0x5A5A_5A5A_5A5A_5A5A)
    #expect(memory.read64(phys.advanced(by: bytes)) == 0)
    #expect(memory.residentFrames == Int(bytes / 4096))
    #expect(memory.state(of: PFN(phys.rawValue >> UInt64(pageShift))) != .free)
  }

  @Test("page_owner records: who allocated and who freed, with a new generation per allocation")
  func records() throws {
    let memory = makeMemory(size: 16 << 20)
    let driver = CallContext(
      task: EmulatedTask(pid: 42, tgid: 40, comm: "a-very-long-process-name"),
      caller: KernelFrame("nvme_probe", module: "nvme", file: "x.fixture", line: 3, isDriver: true))
    #expect(driver.task.comm == "a-very-long-pro")
    #expect(memory.record(containing: PFN(basePFN)) == nil)
    memory.clock.advance(by: 1000)
    let b = try memory.allocPages(order: 2, gfp: GFPFlags(names: ["GFP_ATOMIC"])!, context: driver)
    let r = try #require(memory.record(containing: b.head.advanced(by: 3)))
    #expect(r.block == b && r.isAllocated && r.use == .data)
    #expect(r.gfp.description == "GFP_ATOMIC")
    #expect(r.allocTask.pid == 42 && r.allocTime == 1000)
    #expect(r.allocStack.first?.function == "post_alloc_hook")
    #expect(r.allocStack.last == driver.caller)
    #expect(r.generation == memory.currentEpoch)
    #expect(memory.state(of: b.head.advanced(by: 3)) == .allocated(generation: r.generation, use: .data))

    memory.clock.advance(by: 500)
    try memory.freePages(b, context: .kernel("rcu_do_batch"))
    let f = try #require(memory.record(containing: b.head))
    #expect(!f.isAllocated && f.freeTime == 1500 && f.freeTask == .swapper)
    #expect(f.freeStack.first?.function == "free_pages_prepare")
    #expect(f.freeStack.last?.function == "rcu_do_batch")
    #expect(f.generation == r.generation)

    let again = try memory.allocPages(order: 0, use: .ioPageTable, context: driver)
    #expect(b.contains(again.head))
    let g = try #require(memory.record(containing: again.head))
    #expect(g.generation > r.generation && g.use == .ioPageTable)
    // The rest of the old block is free again; its latest record is the freed one.
    #expect(memory.state(of: b.head.advanced(by: 3)) == .free)
  }

  final class HookRecorder: PageAllocatorObserver {
    struct Call: Sendable, Equatable {
      var hook: String
      var block: PageBlock
      /// What page_owner said about the block's head when the hook ran.
      var recordAllocated: Bool?
    }
    let calls = Synchronization.Mutex<[Call]>([])
    let memory = Synchronization.Mutex<PhysicalMemory?>(nil)
    func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
      let m = memory.withLock { $0 }
      let r = m?.record(containing: block.head)?.isAllocated
      calls.withLock { $0.append(Call(hook: "alloc", block: block, recordAllocated: r)) }
    }
    func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {
      let m = memory.withLock { $0 }
      let r = m?.record(containing: block.head)?.isAllocated
      calls.withLock { $0.append(Call(hook: "free", block: block, recordAllocated: r)) }
    }
  }

  @Test("post_alloc_hook still sees the previous owner; free_pages_prepare already sees the free")
  func allocatorHooks() throws {
    let memory = makeMemory(size: 16 << 20)
    let rec = HookRecorder()
    rec.memory.withLock { $0 = memory }
    memory.observer = rec
    let a = try memory.allocPages(order: 0, context: ctx)
    try memory.freePages(a, context: ctx)
    let b = try memory.allocPages(order: 0, context: ctx)
    #expect(a == b)
    #expect(
      rec.calls.withLock { $0 } == [
        .init(hook: "alloc", block: a, recordAllocated: nil),
        .init(hook: "free", block: a, recordAllocated: false),
        .init(hook: "alloc", block: a, recordAllocated: false),
      ])
    memory.observer = nil
  }
}
