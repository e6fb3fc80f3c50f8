import FixtureRunner
import KernelTypes
import Reports
import Testing

/// The driver frame names the bug site (`<module>_<verb>_<name>`): no line
/// number, so a comment line added above a statement keeps the title, and
/// never a name on syzkaller's skip list.
@Suite struct DriverSymbolTests {
  static let fixture = """
    iommu vtd0 model=vtd
    device nic0 iommu=vtd0
    buf = alloc_pages
    rx = dma_map nic0 buf size=4K dir=from-device
    free_pages buf
    again = alloc_pages
    """

  func guiltyFrames(_ source: String, file: String = "kmalloc-leak.fixture") -> [String] {
    let result = FixtureRunner.run(file: file, source: Array(source.utf8))
    return result.reports.map { KernelTextRenderer.ripFrame(of: $0).function }
  }

  @Test func titleStaysWhenACommentLineIsAddedAbove() {
    let before = guiltyFrames(Self.fixture)
    let after = guiltyFrames("# a comment line added above every statement\n" + Self.fixture)
    #expect(before.count == 2)
    #expect(before == after)
    for f in before { #expect(f.firstMatch(of: /_l[0-9]/) == nil, "\(f)") }
  }

  @Test func siteIsModuleVerbAndBindingOffTheSkipList() {
    let frames = guiltyFrames(Self.fixture)
    // kmalloc-leak.fixture: the module name and `alloc_pages` both match skip patterns.
    #expect(frames == ["KMalloc_leak_free_pages_buf", "KMalloc_leak_Alloc_pages_again"])
    for f in frames { #expect(SyzkallerTitle.skipMatch(f) == nil, "\(f)") }
  }
}
