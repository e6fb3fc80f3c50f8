import KernelTypes
import MemoryModel
import Reports
import Testing

/// `check_unmap()`'s comparisons, in the kernel's order and conditions.
@Suite struct DMAAPIMismatchTests {
  @Test func kernelOrderAndTheReferencesSize() {
    let entry = DMADebugEntryFields(size: 8192, type: .single, direction: .toDevice)
    let ref = DMADebugEntryFields(size: 4096, type: .single, direction: .fromDevice)
    #expect(
      DMAAPIUnmapProblem.mismatches(entry: entry, ref: ref) == [
        .differentSize(mapSize: 8192, unmapSize: 4096),
        .differentDirection(size: 4096, mappedWith: .toDevice, unmappedWith: .fromDevice),
      ])
  }

  /// `ref->sg_call_ents && ...`: an unmap that passes no entries compares no count.
  @Test func sgCountOnlyWhenTheUnmapPassesEntries() {
    let entry = DMADebugEntryFields(size: 8192, type: .scatterGather, direction: .toDevice, sgCallEntries: 3)
    var ref = entry
    ref.sgCallEntries = 0
    #expect(DMAAPIUnmapProblem.mismatches(entry: entry, ref: ref).isEmpty)
    ref.sgCallEntries = 2
    #expect(DMAAPIUnmapProblem.mismatches(entry: entry, ref: ref) == [.sgDifferentCount(mapCount: 3, unmapCount: 2)])
  }

  /// The CPU address is compared only for coherent and noncoherent entries, and not after a wrong function.
  @Test func cpuAddressOnlyForCoherentEntriesOfTheSameFunction() {
    let entry = DMADebugEntryFields(size: 4096, type: .coherent, direction: .bidirectional, cpuAddress: 0x1000)
    var ref = entry
    ref.cpuAddress = 0x2000
    #expect(
      DMAAPIUnmapProblem.mismatches(entry: entry, ref: ref) == [
        .differentCPUAddress(size: 4096, allocAddress: 0x1000, freeAddress: 0x2000, traced: false)
      ])
    ref.type = .single
    #expect(
      DMAAPIUnmapProblem.mismatches(entry: entry, ref: ref) == [
        .wrongFunction(size: 4096, mappedAs: .coherent, unmappedAs: .single)
      ])
  }
}
