import FixtureLanguage
import IOMMU
import KernelTypes
import MemoryModel

/// Section 3 of the fixture language: the page allocator, CPU stores,
/// vmalloc and the CPU TLB.
extension Execution {
  /// `NAME = alloc_pages [order=] [gfp=]`.
  func allocPages(order: Int, gfp: GFPFlags, _ run: inout StatementRun) {
    do {
      let b = try machine.memory.allocPages(order: order, gfp: gfp, use: .data, context: run.context)
      bind(run.statement, .pages(b))
      if let name = run.statement.binding?.name {
        pageGenerations[name] = machine.memory.record(containing: b.head)?.generation
      }
    } catch { run.fail(error) }
  }

  /// `free_pages NAME [order=N]`: `__free_pages()` of the block's head with
  /// its own order, or with `order`.
  func freePages(_ ref: NameReference, order: Int?, _ run: inout StatementRun) throws(FatalError) {
    var b = try bound(ref, as: PageBlock.self)
    if let order { b = PageBlock(head: b.head, order: order) }
    let generation = pageGenerations[ref.name]
    do { try machine.memory.freePages(b, generation: generation, context: run.context) } catch { run.fail(error) }
  }

  /// `free_pages pfn=N [order=N]`: `__free_pages()` of the page at a page
  /// frame number, for a driver that frees a page it never allocated (or
  /// computes the page wrongly). Every page of the range must be RAM (EINVAL).
  func freePages(pfn: UInt64, order: Int, _ run: inout StatementRun) {
    let memory = machine.memory
    let shift = UInt64(memory.pageShift)
    let count = UInt64(1) << UInt64(order)
    let (last, o1) = pfn.addingReportingOverflow(count - 1)
    let inRAM =
      !o1 && pfn <= UInt64.max >> shift && last <= UInt64.max >> shift
      && memory.isRAM(PhysicalAddress(pfn << shift)) && memory.isRAM(PhysicalAddress(last << shift))
    guard inRAM else {
      run.fail(MachineError(.EINVAL, "pfn \(PFN(pfn)) order \(order) is not RAM"))
      return
    }
    do { try memory.freePages(PageBlock(head: PFN(pfn), order: order), context: run.context) } catch { run.fail(error) }
  }

  /// `cpu_write ADDR value=N [width=]`.
  func cpuWrite(_ addr: AddressExpression, value: UInt64, width: AccessWidth, _ run: inout StatementRun)
    throws(FatalError)
  {
    let a = try address(addr)
    guard !a.addingReportingOverflow(UInt64(width.bytes)).overflow else {
      throw fatal(addr.location, "address \(addr) + \(width.bytes) wraps around")
    }
    machine.cpuWrite(PhysicalAddress(a), value: value, width: width.bytes, context: run.context)
  }

  /// `cpu_fill NAME value=N [width=]`.
  func cpuFill(_ ref: NameReference, value: UInt64, width: AccessWidth, _ run: inout StatementRun)
    throws(FatalError)
  {
    machine.cpuFill(try bound(ref, as: PageBlock.self), value: value, width: width.bytes, context: run.context)
  }

  /// `NAME = vmalloc SIZE`.
  func vmalloc(size: UInt64, _ run: inout StatementRun) {
    do { bind(run.statement, .vmalloc(try machine.vmalloc(size: size, context: run.context))) } catch {
      run.fail(error)
    }
  }

  /// `NAME = vmalloc_huge SIZE`.
  func vmallocHuge(size: UInt64, _ run: inout StatementRun) {
    do { bind(run.statement, .vmalloc(try machine.vmallocHuge(size: size, context: run.context))) } catch {
      run.fail(error)
    }
  }

  /// `vfree NAME`.
  func vfree(_ ref: NameReference, _ run: inout StatementRun) throws(FatalError) {
    let area = try bound(ref, as: VmallocArea.self)
    do { try machine.vfree(area, context: run.context) } catch { run.fail(error) }
  }

  /// `flush_tlb_kernel_range START END`.
  func flushTLBKernelRange(
    _ start: AddressExpression, _ end: AddressExpression, _ run: inout StatementRun
  ) throws(FatalError) {
    machine.flushTLBKernelRange(start: try address(start), end: try address(end), context: run.context)
  }
}
