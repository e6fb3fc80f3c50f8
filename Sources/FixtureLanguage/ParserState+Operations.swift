import KernelTypes

extension ParserState {
  /// Parses the arguments of `verb` into an operation; nil after an error.
  mutating func parseOperation(_ words: [Word]) -> StatementOperation? {
    if verb == .cmdline { return parseCmdline(words) }
    let byPFN = verb == .freePages && words.contains { $0.string == nil && text($0).hasPrefix("pfn=") }
    let args = readArguments(
      words[...], syntax: byPFN ? ParserState.freePagesAtSyntax : ParserState.syntax(verb), statement: verb.rawValue,
      usage: verb.usage, missingColumn: verbColumn)
    let p = args.positional
    let v = args.value
    switch verb {
    case .cmdline: return nil
    case .memory: return parseMemory(args)
    case .iommu: return parseIOMMU(args)
    case .device:
      let name = definedName(p(0))
      let iommu = reference(v("iommu"), kinds: [.iommu], role: "an IOMMU")
      let ats = v("ats").flatMap { choice($0, key: "ats", as: OnOff.self) }
      let pasid = v("pasid").flatMap { choice($0, key: "pasid", as: OnOff.self) }
      var group: String?
      if let word = v("group") {
        let g = text(word)
        let ok =
          g.utf8.count <= 64 && g.first.map { $0.isASCII && ($0.isLetter || $0 == "_") } == true
          && g.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
        guard ok else {
          error("group= takes a name (letters, digits and '_', at most 64 characters)", at: word)
          return nil
        }
        group = g
      }
      guard let name, let iommu, v("ats") == nil || ats != nil, v("pasid") == nil || pasid != nil else { return nil }
      return .device(DeviceConfiguration(name: name, iommu: iommu, ats: ats, pasid: pasid, group: group))

    // Section 3.
    case .allocPages:
      let order = v("order").map { number($0, key: "order", maximum: FixtureLimits.maxOrder) } ?? 0
      let gfp = v("gfp").map { gfpFlags($0) } ?? .kernel
      guard let order, let gfp else { return nil }
      return .allocPages(order: Int(order), gfp: gfp)
    case .freePages where byPFN:
      let pfn = v("pfn").flatMap { number($0) }
      let order = v("order").map { number($0, key: "order", maximum: FixtureLimits.maxOrder) } ?? 0
      guard let pfn, let order else { return nil }
      return .freePagesAt(pfn: pfn, order: Int(order))
    case .freePages:
      let block = reference(p(0), kinds: [.pageBlock], role: "a page block")
      let order = v("order").map { number($0, key: "order", maximum: FixtureLimits.maxOrder) }
      guard let block, order.map({ $0 != nil }) ?? true else { return nil }
      return .freePages(block, order: order?.map { Int($0) })
    case .vmalloc: return size(p(0)).map { .vmalloc(size: $0) }
    case .vmallocHuge: return size(p(0)).map { .vmallocHuge(size: $0) }
    case .vfree: return reference(p(0), kinds: [.vmallocArea], role: "a vmalloc area").map { .vfree($0) }
    case .cpuWrite:
      let address = address(p(0), role: .physical)
      let width = width(v("width"))
      let value = number(v("value"))
      guard let address, let width, let value, fits(value, width: width, word: v("value")) else { return nil }
      return .cpuWrite(address: address, value: value, width: width)
    case .cpuFill:
      let block = reference(p(0), kinds: [.pageBlock], role: "a page block")
      let width = width(v("width"))
      let value = number(v("value"))
      guard let block, let width, let value, fits(value, width: width, word: v("value")) else { return nil }
      return .cpuFill(block, value: value, width: width)
    case .flushTLBKernelRange:
      let start = address(p(0), role: .kernelVirtual)
      let end = address(p(1), role: .kernelVirtual)
      guard let start, let end else { return nil }
      return .flushTLBKernelRange(start: start, end: end)
    case .flushTLBAll: return .flushTLBAll

    // Section 4.
    case .domain:
      let iommu = reference(p(0), kinds: [.iommu], role: "an IOMMU")
      let type = v("type").map { choice($0, key: "type", among: DomainType.allocatable) } ?? .paging
      guard let iommu, let type else { return nil }
      return .domain(iommu: iommu, type: type)
    case .freeDomain: return domainReference(p(0)).map { .freeDomain($0) }
    case .attach:
      let device = deviceReference(p(0))
      let domain = domainReference(p(1))
      let pasid = v("pasid").map { pasidNumber($0) }
      guard let device, let domain, !failed(pasid) else { return nil }
      return .attach(device: device, domain: domain, pasid: pasid ?? nil)
    case .detach:
      let device = deviceReference(p(0))
      let pasid = v("pasid").map { pasidNumber($0) }
      guard let device, !failed(pasid) else { return nil }
      return .detach(device: device, pasid: pasid ?? nil)
    case .iommuMap:
      let domain = domainReference(p(0))
      let iova = address(v("iova"), role: .iova)
      let phys = address(v("phys"), role: .physical)
      let size = size(v("size"))
      let prot = v("prot").map { choice($0, key: "prot", as: Protection.self) } ?? .rw
      guard let domain, let iova, let phys, let size, let prot else { return nil }
      return .iommuMap(domain: domain, iova: iova, phys: phys, size: size, prot: prot)
    case .iommuUnmap, .iommuUnmapFast:
      let domain = domainReference(p(0))
      let iova = address(v("iova"), role: .iova)
      let size = size(v("size"))
      guard let domain, let iova, let size else { return nil }
      return verb == .iommuUnmap
        ? .iommuUnmap(domain: domain, iova: iova, size: size) : .iommuUnmapFast(domain: domain, iova: iova, size: size)
    case .iovaToPhys:
      let domain = domainReference(p(0))
      let iova = address(v("iova"), role: .iova)
      guard let domain, let iova else { return nil }
      return .iovaToPhys(domain: domain, iova: iova)
    case .iotlbSync: return domainReference(p(0)).map { .iotlbSync($0) }
    case .flushIOTLBAll: return domainReference(p(0)).map { .flushIOTLBAll($0) }

    // Section 5.
    case .dmaMap:
      let device = deviceReference(p(0))
      let address = address(p(1), role: .physical)
      let size = size(v("size"))
      let direction = v("dir").map { self.direction($0) } ?? .bidirectional
      guard let device, let address, let size, let direction else { return nil }
      return .dmaMap(device: device, address: address, size: size, direction: direction)
    case .dmaUnmap:
      let handle = reference(p(0), kinds: [.dmaMapping], role: "a DMA mapping (dma_map)")
      let size = v("size").map { self.size($0) }
      let direction = v("dir").map { self.direction($0) }
      guard let handle, !failed(size), !failed(direction) else { return nil }
      return .dmaUnmap(handle, size: size ?? nil, direction: direction ?? nil)
    case .dmaAlloc:
      let device = deviceReference(p(0))
      let size = size(p(1))
      guard let device, let size else { return nil }
      return .dmaAlloc(device: device, size: size)
    case .dmaFree:
      return reference(p(0), kinds: [.dmaCoherent], role: "a coherent DMA buffer (dma_alloc)").map { .dmaFree($0) }
    case .advance: return duration(p(0)).map { .advance(nanoseconds: $0) }
    case .dmaMapSG:
      let device = deviceReference(p(0))
      let segments = args.values("seg").map { sgSegment($0) }
      let direction = v("dir").map { self.direction($0) } ?? .bidirectional
      guard let device, let direction, !segments.contains(where: { $0 == nil }) else { return nil }
      if segments.count > FixtureLimits.maxSGEntries {
        error("too many segments (\(segments.count); the limit is \(FixtureLimits.maxSGEntries))", column: verbColumn)
        return nil
      }
      return .dmaMapSG(device: device, segments: segments.compactMap { $0 }, direction: direction)
    case .dmaUnmapSG, .dmaSyncSGForCPU, .dmaSyncSGForDevice:
      let list = reference(p(0), kinds: [.dmaSGList], role: "a mapped scatterlist (dma_map_sg)")
      let nents = v("nents").map { number($0, key: "nents", maximum: UInt64(FixtureLimits.maxSGEntries)) }
      let direction = v("dir").map { self.direction($0) }
      guard let list, !failed(nents), !failed(direction) else { return nil }
      let n = (nents ?? nil).map { Int($0) }
      if verb == .dmaUnmapSG { return .dmaUnmapSG(list, nents: n, direction: direction ?? nil) }
      return .dmaSyncSG(list, nents: n, direction: direction ?? nil, toCPU: verb == .dmaSyncSGForCPU)
    case .dmaSyncSingleForCPU, .dmaSyncSingleForDevice:
      let address = address(p(0), role: .iova)
      let size = size(v("size"))
      let direction = v("dir").map { self.direction($0) }
      guard let address, let size, !failed(direction) else { return nil }
      return .dmaSyncSingle(
        address: address, size: size, direction: direction ?? nil, toCPU: verb == .dmaSyncSingleForCPU)
    case .dmaAllocPages:
      let device = deviceReference(p(0))
      let size = size(p(1))
      let direction = v("dir").map { self.direction($0) } ?? .bidirectional
      guard let device, let size, let direction else { return nil }
      return .dmaAllocPages(device: device, size: size, direction: direction)
    case .dmaFreePages:
      return reference(p(0), kinds: [.dmaPages], role: "a dma_alloc_pages buffer").map { .dmaFreePages($0) }
    case .kmalloc:
      let size = size(p(0))
      let gfp = v("gfp").map { gfpFlags($0) } ?? .kernel
      guard let size, let gfp else { return nil }
      return .kmalloc(size: size, gfp: gfp)
    case .kfree: return reference(p(0), kinds: [.slabObject], role: "a kmalloc object").map { .kfree($0) }

    // Section 6.
    case .dma: return parseDeviceAccess(args)
    case .atsTranslate:
      let device = deviceReference(p(0))
      let address = address(p(1), role: .device)
      let pasid = v("pasid").map { pasidSelector($0) }
      guard let device, let address, !failed(pasid) else { return nil }
      return .atsTranslate(device: device, address: address, pasid: pasid ?? nil)

    // Section 7.
    case .process:
      guard let comm = v("comm") else { return .process(comm: nil) }
      guard let string = comm.string else {
        error("comm= takes a string: comm=\"name\"", at: comm)
        return nil
      }
      return .process(comm: String(decoding: string, as: UTF8.self))
    case .mmap:
      let process = processReference(p(0))
      let size = size(p(1))
      var populate = false
      if let flag = p(2) {
        if flag.string == nil, text(flag) == "populate" {
          populate = true
        } else {
          error("unexpected argument '\(quoted(flag))'; the only flag of 'mmap' is 'populate'", at: flag)
          return nil
        }
      }
      guard let process, let size else { return nil }
      return .mmap(process: process, size: size, populate: populate)
    case .munmap: return reference(p(0), kinds: [.mmapArea], role: "an mmap area").map { .munmap($0) }
    case .exit: return processReference(p(0)).map { .exit($0) }
    case .svaBind:
      let device = deviceReference(p(0))
      let process = processReference(p(1))
      guard let device, let process else { return nil }
      return .svaBind(device: device, process: process)
    case .svaUnbind:
      return reference(p(0), kinds: [.svaHandle], role: "an SVA handle (sva_bind)").map { .svaUnbind($0) }

    // Section 8.
    case .resetPrepare: return deviceReference(p(0)).map { .resetPrepare($0) }
    case .resetDone: return deviceReference(p(0)).map { .resetDone($0) }
    case .flr: return deviceReference(p(0)).map { .flr($0) }
    case .flrBegin: return deviceReference(p(0)).map { .flrBegin($0) }
    case .flrEnd: return deviceReference(p(0)).map { .flrEnd($0) }

    case .expect, .repeatBlock, .end: return nil
    }
  }

  /// `ADDR:LEN`, one scatterlist entry.
  mutating func sgSegment(_ word: Word) -> SGSegment? {
    let slice = bytes(word)
    guard word.string == nil, let colon = slice.lastIndex(of: UInt8(ascii: ":")), colon > word.start,
      colon + 1 < word.end
    else {
      error("invalid segment '\(quoted(word))': write seg=ADDR:LEN (seg=buf+0x200:1K)", at: word)
      return nil
    }
    let addressWord = Word(start: word.start, end: colon, column: word.column, string: nil)
    let lengthWord = Word(start: colon + 1, end: word.end, column: word.column + (colon + 1 - word.start), string: nil)
    let address = address(addressWord, role: .physical)
    let length = size(lengthWord)
    guard let address, let length else { return nil }
    return SGSegment(address: address, length: length)
  }

  mutating func deviceReference(_ word: Word?) -> NameReference? {
    reference(word, kinds: [.device], role: "a device")
  }

  mutating func domainReference(_ word: Word?) -> NameReference? {
    reference(word, kinds: [.domain], role: "a domain")
  }

  mutating func processReference(_ word: Word?) -> NameReference? {
    reference(word, kinds: [.process], role: "a process")
  }

  /// Whether `value` fits in `width`; reports it when not.
  mutating func fits(_ value: UInt64, width: AccessWidth, word: Word?) -> Bool {
    if width.fits(value) { return true }
    if let word {
      error(
        "value \(NumberSyntax.hex(value)) does not fit in width=\(width.bytes) (\(width.bytes) byte\(width.bytes == 1 ? "" : "s"))",
        at: word)
    }
    return false
  }

  // MARK: - Section 2

  mutating func parseCmdline(_ words: [Word]) -> StatementOperation? {
    guard words.count == 1, let word = words.first, let string = word.string, word.quote == word.start else {
      error(
        "'cmdline' takes one quoted string: cmdline \"iommu.strict=0 page_owner=off\"",
        column: words.first?.column ?? verbColumn)
      return nil
    }
    // Map offsets in the decoded string to columns of the line.
    var columns: [Int] = []
    columns.reserveCapacity(string.count)
    var i = word.quote + 1
    while i < word.end - 1 {
      columns.append(i - lineStart + 1)
      i += source[i] == UInt8(ascii: "\\") ? 2 : 1
    }
    let currentLine = line
    let (settings, found) = Cmdline.parseParameters(string, file: file) { offset in
      SourceLocation(line: currentLine, column: offset < columns.count ? columns[offset] : word.column)
    }
    for diagnostic in found { append(diagnostic) }
    return found.contains(where: \.isError) ? nil : .cmdline(settings)
  }

  mutating func parseMemory(_ args: Arguments) -> StatementOperation? {
    let sizeWord = args.positional(0)
    let size = size(sizeWord)
    var base: UInt64? = MemoryConfiguration.defaultBase.rawValue
    if let word = args.value("base") {
      if let first = bytes(word).first, first >= UInt8(ascii: "0"), first <= UInt8(ascii: "9") {
        base = self.size(word)
      } else {
        error("base= takes a number (base=0x80000000)", at: word)
        base = nil
      }
    }
    let page = args.value("page").map { pageSize($0, key: "page") } ?? .size4K
    var mmio: [ClosedRange<UInt64>] = []
    var offline: [ClosedRange<UInt64>] = []
    var rangesOK = true
    for word in args.values("mmio") {
      if let r = range(word, key: "mmio") { mmio.append(r) } else { rangesOK = false }
    }
    for word in args.values("offline") {
      if let r = range(word, key: "offline") { offline.append(r) } else { rangesOK = false }
    }
    guard let size, let base, let page, let sizeWord, rangesOK else { return nil }
    if size == 0 {
      error("memory size must not be 0", at: sizeWord)
      return nil
    }
    if size % page.bytes != 0 {
      error("memory size \(text(sizeWord)) is not a multiple of the page size \(page)", at: sizeWord)
      return nil
    }
    if base % page.bytes != 0, let word = args.value("base") {
      error("base \(NumberSyntax.hex(base)) is not aligned to the page size \(page)", at: word)
      return nil
    }
    if base.addingReportingOverflow(size - 1).overflow {
      error(
        "memory of \(text(sizeWord)) at base \(NumberSyntax.hex(base)) goes past the end of the address space",
        at: sizeWord)
      return nil
    }
    return .memory(
      MemoryConfiguration(size: size, base: PhysicalAddress(base), page: page, mmio: mmio, offline: offline))
  }

  mutating func parseIOMMU(_ args: Arguments) -> StatementOperation? {
    let name = definedName(args.positional(0))
    let model = args.value("model").flatMap { choice($0, key: "model", as: IOMMUModel.self) }
    var granule: PageSize? = .size4K
    if let word = args.value("granule") {
      granule = pageSize(word, key: "granule")
      if let g = granule, let model, !model.granules.contains(g) {
        error("granule=\(g) is only for smmuv3; \(model.rawValue) uses 4K", at: word)
        granule = nil
      }
    }
    var pageSizes: PageSizeList?
    var pageSizesOK = true
    if let word = args.value("pgsizes") {
      pageSizes = pageSizeList(word, model: model, granule: granule)
      pageSizesOK = pageSizes != nil
    }
    let iotlb =
      args.value("iotlb").map {
        number($0, key: "iotlb", maximum: FixtureLimits.maxCacheEntries, unit: " entries")
      } ?? UInt64(IOMMUConfiguration.defaultIOTLBEntries)
    let walk =
      args.value("walk-cache").map {
        number($0, key: "walk-cache", maximum: FixtureLimits.maxCacheEntries, unit: " entries")
      } ?? UInt64(IOMMUConfiguration.defaultWalkCacheEntries)
    let sva = args.value("sva").map { choice($0, key: "sva", as: OnOff.self) }
    var npcache = args.value("npcache").map { choice($0, key: "npcache", as: OnOff.self) }
    if let word = args.value("npcache"), let model, model != .amd, npcache??.isOn == true {
      error("npcache= is only for amd (a virtual AMD IOMMU with NpCache)", at: word)
      npcache = .some(nil)
    }
    let gather = args.value("gather").map { choice($0, key: "gather", as: OnOff.self) }
    guard let name, let model, let granule, pageSizesOK, let iotlb, let walk, !failed(sva), !failed(npcache),
      !failed(gather)
    else { return nil }
    return .iommu(
      IOMMUConfiguration(
        name: name, model: model, granule: granule, pageSizes: pageSizes, iotlbEntries: Int(iotlb),
        walkCacheEntries: Int(walk), sva: sva ?? nil, npcache: npcache ?? nil, gather: gather ?? nil))
  }

  /// `pgsizes=4K,2M`: each a power of two and a page size of the model.
  mutating func pageSizeList(_ word: Word, model: IOMMUModel?, granule: PageSize?) -> PageSizeList? {
    var sizes: [UInt64] = []
    var ok = true
    var start = word.start
    let supported = model.map { $0.pageSizes(granule: granule ?? .size4K) }
    while start <= word.end {
      var end = start
      while end < word.end, source[end] != UInt8(ascii: ",") { end += 1 }
      let part = Word(start: start, end: end, column: word.column + (start - word.start), string: nil)
      if start == end {
        error("empty entry in pgsizes= (write pgsizes=4K,2M)", column: part.column)
        ok = false
      } else if let size = size(part) {
        if size == 0 || size & (size - 1) != 0 {
          error("pgsizes: \(text(part)) is not a power of two", at: part)
          ok = false
        } else if let supported, let model, !supported.contains(size) {
          let granuleText = model == .smmuv3 ? " with granule \(granule ?? .size4K)" : ""
          error(
            "pgsizes: \(text(part)) is not a page size of \(model.rawValue)\(granuleText) (\(supported.map(NumberSyntax.describe).joined(separator: ", ")))",
            at: part)
          ok = false
        } else {
          sizes.append(size)
        }
      } else {
        ok = false
      }
      if !ok { break }
      start = end + 1
    }
    return ok ? PageSizeList(sizes: sizes) : nil
  }

  /// `gfp=GFP_KERNEL|__GFP_ZERO`.
  mutating func gfpFlags(_ word: Word) -> GFPFlags? {
    if word.string != nil {
      error("gfp= takes flag names joined with '|' (gfp=GFP_KERNEL|__GFP_ZERO), not a string", at: word)
      return nil
    }
    var names: [String] = []
    var mask: UInt32 = 0
    var ok = true
    var start = word.start
    while start <= word.end {
      var end = start
      while end < word.end, source[end] != UInt8(ascii: "|") { end += 1 }
      let column = word.column + (start - word.start)
      let name = String(decoding: source[start..<end], as: UTF8.self)
      if start == end {
        error("empty flag in gfp= (write gfp=GFP_KERNEL|__GFP_ZERO)", column: column)
        ok = false
      } else if let bits = GFPFlags.known[name] {
        names.append(name)
        mask |= bits
      } else {
        let hint = Suggestion.didYouMean(name, among: GFPFlags.knownInOrder.map(\.0))
        error(
          "unknown gfp flag '\(Quote.text(source[start..<end]))'\(hint) (common flags: GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_DMA, GFP_DMA32, __GFP_ZERO, __GFP_COMP, __GFP_NOWARN)",
          column: column)
        ok = false
      }
      if !ok { break }
      start = end + 1
    }
    return ok ? GFPFlags(names: names, mask: mask) : nil
  }

  // MARK: - Section 6

  mutating func parseDeviceAccess(_ args: Arguments) -> StatementOperation? {
    let device = deviceReference(args.positional(0))
    let kind = args.positional(1).flatMap { word -> DMAAccessKind? in
      if word.string == nil, let kind = DMAAccessKind(rawValue: text(word)) { return kind }
      // With a positional missing, readArguments said the keyword is.
      guard !args.isShort else { return nil }
      error("expected 'read' or 'write', found '\(quoted(word))' (usage: \(Verb.dma.usage))", at: word)
      return nil
    }
    let address = address(args.positional(2), role: .device)
    var length: UInt64? = DeviceAccess.defaultLength
    if let word = args.value("len"), let value = size(word) {
      if value == 0 {
        error("len= must be at least 1", at: word)
        length = nil
      } else if kind == .read, value > 8 {
        error("len=\(text(word)) is too long for a read: a read returns at most 8 bytes", at: word)
        length = nil
      } else if value > FixtureLimits.maxAccessLength {
        error(
          "len=\(text(word)) is too large (at most \(ByteSize.describe(FixtureLimits.maxAccessLength)): the emulator accesses memory page by page)",
          at: word)
        length = nil
      } else {
        length = value
      }
    } else if args.value("len") != nil {
      length = nil
    }
    let pasid = args.value("pasid").map { pasidSelector($0) }
    var value: UInt64? = 0
    if let word = args.value("value") {
      value = number(word)
      if let v = value, let length, length < 8, v >> (length * 8) != 0 {
        error(
          "value \(NumberSyntax.hex(v)) does not fit in len=\(length) (\(length) byte\(length == 1 ? "" : "s"))",
          at: word)
        value = nil
      } else if value != nil, kind == .read {
        warning("value= has no effect on a read; use 'expect value=N' to check what it reads", column: word.column)
      }
    }
    let privilege = args.value("priv").map { choice($0, key: "priv", as: Privilege.self) }
    guard let device, let kind, let address, let length, !failed(pasid), let value, !failed(privilege)
    else { return nil }
    return .dma(
      DeviceAccess(
        device: device, kind: kind, address: address, length: length, pasid: pasid ?? nil, value: value,
        privilege: privilege ?? nil))
  }
}
