import KernelTypes
import Testing

@testable import IOMMU
@testable import MemoryModel

/// `--max-resident` bounds everything the machine keeps (issue 15 item 4):
/// scattered maps (a leaf table each) and domains stop at the limit with
/// the budget's error, and the charged total never passes it.
@Suite struct ResidentBudgetTests {
  static func machine(limit: UInt64) throws -> (Machine, IOMMUUnit) {
    let memory = PhysicalMemory(config: MemoryConfiguration(size: 1 << 30), residentLimit: limit)
    let m = Machine(memory: memory, policy: MachinePolicy(strict: true))
    return (m, try m.addIOMMU(name: "smmu0", model: .smmuv3))
  }

  @Test func scatteredMapsStopAtTheLimit() throws {
    let (m, unit) = try Self.machine(limit: 1 << 20)
    defer { m.tearDown() }
    let d = try m.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
    let page = try m.memory.allocPages(order: 0, context: ctx)
    let phys = page.head.address(pageShift: m.memory.pageShift)
    var failure: MachineError?
    var mapped = 0
    for i in 0..<5_000 {
      do throws(MachineError) {
        try d.map(iova: IOVA(UInt64(i) << 21), phys: phys, size: 4096, context: ctx)
        mapped += 1
      } catch {
        failure = error
        break
      }
    }
    #expect(failure == .residentLimit)
    // 1M holds about 200 leaf tables of 4K frames, not 5,000.
    #expect(mapped > 100 && mapped < 256)
    let budget = m.memory.budget
    #expect(budget.limitReached)
    #expect(budget.peak <= 1 << 20)
    #expect(budget.used <= 1 << 20)
    #expect(budget.used(.frames) > 0 && budget.used(.pageTableMetadata) > 0)
  }

  @Test func domainsStopAtTheLimit() throws {
    let (m, unit) = try Self.machine(limit: 1 << 20)
    defer { m.tearDown() }
    var failure: MachineError?
    var made = 0
    for i in 0..<2_000 {
      do throws(MachineError) {
        _ = try m.allocDomain(unit: unit, type: .paging, name: "d\(i)", context: ctx)
        made += 1
      } catch {
        failure = error
        break
      }
    }
    #expect(failure == .residentLimit)
    #expect(made > 200 && made < 1_000)
    #expect(m.memory.budget.peak <= 1 << 20)
    #expect(m.memory.budget.usageDescription.hasPrefix("domains "))
  }

  /// A table holding one leaf keeps one sparse pair, not 512 epochs; the
  /// 9th leaf makes it dense, and every epoch survives the change.
  @Test func tableEpochsAreKeptByNeed() throws {
    let budget = ResidentBudget()
    #expect(budget.charge(TablePage.baseBytes, .pageTableMetadata))
    let t = TablePage(block: PageBlock(head: PFN(1), order: 0), depth: 3, slots: 512, budget: budget)
    #expect(t.reserve(1))
    t.setEpoch(7, 70)
    #expect(budget.used == UInt64(TablePage.baseBytes + TablePage.sparseBytes))
    for i in 0..<8 {
      #expect(t.reserve(1))
      t.setEpoch(100 + i, UInt64(1000 + i))
    }
    #expect(budget.used == UInt64(TablePage.baseBytes + 512 * 8 + 32))
    #expect(t.epoch(7) == 70 && t.epoch(107) == 1007 && t.epoch(8) == 0)
  }

  @Test func freedTablesAndDomainsGiveTheirChargeBack() throws {
    let (m, unit) = try Self.machine(limit: 64 << 20)
    let budget = m.memory.budget
    let before = budget.used(.pageTableMetadata)
    do {
      let d = try m.allocDomain(unit: unit, type: .paging, name: "d", context: ctx)
      let page = try m.memory.allocPages(order: 0, context: ctx)
      try d.map(iova: IOVA(1 << 30), phys: page.head.address(pageShift: m.memory.pageShift), size: 4096, context: ctx)
      #expect(budget.used(.pageTableMetadata) > before)
      try m.freeDomain(d, context: ctx)
      #expect(budget.used(.pageTableMetadata) == before)
      #expect(budget.used(.domains) == UInt64(Domain.residentBytes))
    }
    m.tearDown()
    #expect(budget.used(.domains) == 0)
  }
}
