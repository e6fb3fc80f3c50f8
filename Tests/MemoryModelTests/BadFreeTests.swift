import IOMMUSanTestSupport
import KernelTypes
import Synchronization
import Testing

@testable import MemoryModel

/// Frees of blocks that are not allocated go to the observer's `badFree`
/// hook and change nothing; frees take an epoch for the ground truth.
@Suite("Frees of blocks that are not allocated")
struct BadFreeTests {
  final class Recorder: PageAllocatorObserver {
    struct Call: Sendable {
      var block: PageBlock
      var last: BlockRecord?
      var stack: [String]
    }
    let calls = Synchronization.Mutex<[Call]>([])
    func postAllocHook(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {}
    func freePagesPrepare(_ block: PageBlock, use: PageUse, stack: [KernelFrame], context: CallContext) {}
    func badFree(_ block: PageBlock, last: BlockRecord?, stack: [KernelFrame], context: CallContext) {
      calls.withLock { $0.append(Call(block: block, last: last, stack: stack.map(\.function))) }
    }
  }

  @Test("A second free goes to badFree with the freed record, and the block stays free")
  func doubleFree() throws {
    let memory = makeMemory(size: 16 << 20)
    let rec = Recorder()
    memory.observer = rec
    let a = try memory.allocPages(order: 1, context: ctx)
    try memory.freePages(a, context: ctx)
    let free = memory.freePageCount
    try memory.freePages(a, context: ctx)
    let calls = rec.calls.withLock { $0 }
    #expect(calls.count == 1)
    #expect(calls.first?.block == a)
    #expect(calls.first?.last?.isAllocated == false)
    #expect(calls.first?.stack.first == "__free_pages")
    #expect(memory.freePageCount == free, "the buddy lists are untouched")
    #expect(memory.allocatedBlockCount == 0)
  }

  @Test("Without an observer a second free is EINVAL")
  func doubleFreeWithoutObserver() throws {
    let memory = makeMemory(size: 16 << 20)
    let a = try memory.allocPages(order: 0, context: ctx)
    try memory.freePages(a, context: ctx)
    #expect(throws: MachineError.self) { try memory.freePages(a, context: ctx) }
  }

  @Test("A block never allocated: badFree without a record")
  func neverAllocated() throws {
    let memory = makeMemory(size: 16 << 20)
    let rec = Recorder()
    memory.observer = rec
    let a = try memory.allocPages(order: 0, context: ctx)
    let never = PageBlock(head: a.head.advanced(by: 64), order: 0)
    try memory.freePages(never, context: ctx)
    #expect(rec.calls.withLock { $0.count } == 1)
    #expect(rec.calls.withLock { $0.first?.last == nil })
  }

  @Test("The old owner's free of a page handed out again is told apart by the generation")
  func staleGeneration() throws {
    let memory = makeMemory(size: 16 << 20)
    let rec = Recorder()
    memory.observer = rec
    let a = try memory.allocPages(order: 0, context: ctx)
    let generation = try #require(memory.record(containing: a.head)).generation
    try memory.freePages(a, generation: generation, context: ctx)
    let b = try memory.allocPages(order: 0, context: ctx)
    #expect(a == b, "order-0 frees are reused LIFO")
    try memory.freePages(a, generation: generation, context: ctx)
    #expect(rec.calls.withLock { $0.first?.last?.isAllocated } == true, "the new owner's record")
    #expect(memory.state(of: b.head) != .free, "the new owner keeps its page")
    let now = try #require(memory.record(containing: b.head)).generation
    try memory.freePages(b, generation: now, context: ctx)
    #expect(memory.state(of: b.head) == .free)
    #expect(rec.calls.withLock { $0.count } == 1)
  }

  @Test("A free takes an epoch, and the page's last free epoch survives its next allocation")
  func freeEpoch() throws {
    let memory = makeMemory(size: 16 << 20)
    let a = try memory.allocPages(order: 0, context: ctx)
    let before = memory.currentEpoch
    try memory.freePages(a, context: ctx)
    #expect(memory.currentEpoch == before + 1)
    let freed = try #require(memory.record(containing: a.head)).freeEpoch
    #expect(freed == before + 1)
    let b = try memory.allocPages(order: 0, context: ctx)
    let r = try #require(memory.record(containing: b.head))
    #expect(r.freeEpoch == freed && r.generation > freed)
  }
}
