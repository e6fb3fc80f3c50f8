import FixtureLanguage
import FixtureRunner
import Foundation
import Testing

/// Fixtures that fill one kind of machine state each, for the resident limit.
extension ResidentLimitFixtures {
  /// `count` IOTLB entries: one page mapped at `count` IOVAs of a paging
  /// domain, each read once by the device.
  static func iotlbFill(_ count: Int) -> String {
    """
    iommu s model=smmuv3 iotlb=1048576 walk-cache=0
    device nic iommu=s
    d = domain s
    attach nic d
    buf = alloc_pages
    repeat \(count) as i
      iommu_map d iova=buf+i*4K phys=buf size=4K
      dma nic read buf+i*4K
    end

    """
  }

  /// Walk-cache entries: one leaf table per 2M, each walked once.
  static func walkCacheFill(_ count: Int) -> String {
    """
    iommu s model=smmuv3 walk-cache=1048576
    device nic iommu=s
    d = domain s
    attach nic d
    buf = alloc_pages
    repeat \(count) as i
      iommu_map d iova=buf+i*2M phys=buf size=4K
      dma nic read buf+i*2M
    end

    """
  }

  /// `devices` ATS devices, each with 32 translations in its ATC.
  static func atcFill(devices: Int) -> String {
    var text = "iommu s model=smmuv3\nd = domain s\nbuf = alloc_pages\n"
    text += "repeat 32 as i\n  iommu_map d iova=buf+i*4K phys=buf size=4K\nend\n"
    for k in 0..<devices { text += "device n\(k) iommu=s ats=on\n" }
    for k in 0..<devices { text += "attach n\(k) d\nrepeat 32 as i\n  ats_translate n\(k) buf+i*4K\nend\n" }
    return text
  }

  /// `count` streaming mappings of one page: a DMA-API debug entry, a
  /// dma-iommu record, an IOVA node and a mapping origin each.
  static func dmaMaps(_ count: Int) -> String {
    """
    iommu s model=smmuv3 pgsizes=4K
    device nic iommu=s
    buf = alloc_pages
    repeat \(count) as i
      h[i] = dma_map nic buf size=4K
    end

    """
  }

  /// `count` kmalloc objects of 8 bytes.
  static func kmallocs(_ count: Int) -> String {
    "iommu s model=smmuv3\nrepeat \(count) as i\n  k[i] = kmalloc 8\nend\n"
  }

  /// Lazy unmaps that leave entries in the flush queue and IOVAs in the
  /// range caches' magazines, then kmalloc objects until the limit.
  static func lazyUnmapsThenKmallocs() -> String {
    """
    cmdline "iommu.strict=0"
    iommu s model=smmuv3 pgsizes=4K
    device nic iommu=s
    buf = alloc_pages
    repeat 1000 as i
      h[i] = dma_map nic buf size=4K
    end
    repeat 1000 as i
      dma_unmap h[i]
    end
    repeat 100000 as i
      k[i] = kmalloc 8
    end

    """
  }

  /// One page mapped every 16M across `memory` of RAM: a map-count section each.
  static func scatteredPhysicalPages(_ count: Int, memory: String = "64G") -> String {
    """
    memory \(memory)
    iommu s model=smmuv3
    d = domain s
    buf = alloc_pages
    repeat \(count) as i
      iommu_map d iova=buf+i*4K phys=buf+i*16M size=4K
    end

    """
  }
}

/// Each kind of state the machine and the sanitizer keep is charged to the
/// resident budget under its own name, and the limit's error names it
/// (issue 15 item 4: IOTLB, walk-cache and ATC entries, IOVA nodes and
/// magazines, DMA mappings, flush-queue entries, kmalloc objects, DMA-API
/// debug entries, map-count sections, mapping origins, page history).
@Suite struct ResidentCategoryTests {
  struct Case: Sendable, CustomTestStringConvertible {
    var name: String
    var text: String
    var limit: String
    /// Labels the error's usage list must contain.
    var named: [String]
    /// The label that must come first (the largest), if any.
    var largest: String?
    var testDescription: String { name }
  }

  static let cases: [Case] = [
    Case(
      name: "iotlb", text: ResidentLimitFixtures.iotlbFill(20_000), limit: "2M",
      named: ["IOTLB entries", "mapping origins"], largest: "IOTLB entries"),
    Case(
      name: "walk-cache", text: ResidentLimitFixtures.walkCacheFill(5_000), limit: "2M",
      named: ["walk-cache entries", "page history"], largest: nil),
    Case(
      name: "atc", text: ResidentLimitFixtures.atcFill(devices: 300), limit: "2M", named: ["ATC entries"],
      largest: "ATC entries"),
    Case(
      name: "dma-map", text: ResidentLimitFixtures.dmaMaps(20_000), limit: "2M",
      named: ["DMA-API debug entries", "DMA mappings", "IOVA nodes", "mapping origins"],
      largest: "DMA-API debug entries"),
    Case(
      name: "kmalloc", text: ResidentLimitFixtures.kmallocs(100_000), limit: "2M", named: ["kmalloc objects"],
      largest: "kmalloc objects"),
    Case(
      name: "lazy-unmaps", text: ResidentLimitFixtures.lazyUnmapsThenKmallocs(), limit: "2M",
      named: ["flush-queue entries", "IOVA magazines", "IOVA nodes"], largest: "kmalloc objects"),
    Case(
      name: "map-count-sections", text: ResidentLimitFixtures.scatteredPhysicalPages(2_000), limit: "4M",
      named: ["map-count sections"], largest: "map-count sections"),
  ]

  @Test(arguments: cases)
  func limitNamesTheCategory(_ c: Case) throws {
    var options = RunOptions()
    options.maximumResident = try SizeArgument.parse(c.limit).get()
    let result = FixtureRunner.run(file: "\(c.name).fixture", source: Array(c.text.utf8), options: options)
    #expect(result.exitStatus == 2)
    let stderr = RunOutputRenderer(format: .kernel).stderr(result)
    let prefix = "passed the limit on resident emulated memory (\(c.limit); in use: "
    let usage = try #require(stderr.split(separator: "\n").first { $0.contains(prefix) }, "\(stderr)")
    let list = try #require(usage.range(of: "in use: ").map { usage[$0.upperBound...] })
    for label in c.named { #expect(list.contains(label + " "), "\(label) not in \(usage)") }
    if let largest = c.largest { #expect(list.hasPrefix(largest + " "), "\(largest) is not the largest in \(usage)") }
  }
}
