import FixtureLanguage
import Testing

/// One fixture snippet and every diagnostic it must produce, in order.
struct DiagnosticCase: Sendable, CustomTestStringConvertible {
  var name: String
  var preamble: Bool
  var source: String
  var expected: [String]

  init(_ name: String, preamble: Bool, _ source: String, _ expected: [String]) {
    self.name = name
    self.preamble = preamble
    self.source = source
    self.expected = expected
  }

  var testDescription: String { name }
}

/// Every kind of diagnostic the parser produces, with its exact text and location.
/// With `preamble`, the snippet starts at line 5 after `preamble`.
@Suite struct DiagnosticTests {
  static let cases: [DiagnosticCase] = [
    DiagnosticCase(
      "unterminatedString", preamble: true,
      "p = process comm=\"abc",
      ["5:18: error: unterminated string"]),
    DiagnosticCase(
      "unknownEscape", preamble: true,
      "p = process comm=\"a\\nb\"",
      ["5:20: error: unknown escape '\\n' in string: only \\\" and \\\\ are allowed"]),
    DiagnosticCase(
      "controlCharInString", preamble: true,
      "p = process comm=\"a\u{1}b\"",
      ["5:20: error: control character 0x01 in string"]),
    DiagnosticCase(
      "spaceAfterQuote", preamble: true,
      "p = process comm=\"a\"b",
      ["5:21: error: expected a space after the closing quote"]),
    DiagnosticCase(
      "controlChar", preamble: true,
      "free_pages\u{1} buf",
      ["5:11: error: unexpected control character 0x01"]),
    DiagnosticCase(
      "nonASCII", preamble: true,
      "free_pages bü",
      ["5:13: error: unexpected non-ASCII byte 0xc3: outside strings and comments only ASCII is allowed"]),
    DiagnosticCase(
      "missingTaskName", preamble: true,
      "@ free_pages buf",
      ["5:1: error: missing task name after '@' (write '@irq')"]),
    DiagnosticCase(
      "invalidTaskName", preamble: true,
      "@1irq free_pages buf",
      [
        "5:2: error: invalid task name '1irq': a name starts with a letter or '_' and continues with letters, digits, '_', '.' or '-'"
      ]),
    DiagnosticCase(
      "missingStatementAfterTask", preamble: true,
      "@irq",
      ["5:1: error: missing statement after the task prefix '@irq'"]),
    DiagnosticCase(
      "missingNameBeforeEquals", preamble: true,
      "= alloc_pages",
      ["5:1: error: missing name before '=' (write 'NAME = VERB ...')"]),
    DiagnosticCase(
      "invalidBindingName", preamble: true,
      "1x = alloc_pages",
      [
        "5:1: error: invalid name '1x': a name starts with a letter or '_' and continues with letters, digits, '_', '.' or '-'"
      ]),
    DiagnosticCase(
      "missingStatementAfterEquals", preamble: true,
      "x =",
      ["5:3: error: missing statement after '='"]),
    DiagnosticCase(
      "unknownStatement", preamble: true,
      "alloc_page",
      ["5:1: error: unknown statement 'alloc_page'; did you mean 'alloc_pages'?"]),
    DiagnosticCase(
      "unknownStatementUpperCase", preamble: true,
      "FREE_PAGES buf",
      ["5:1: error: unknown statement 'FREE_PAGES'; statement words are lower case: did you mean 'free_pages'?"]),
    DiagnosticCase(
      "unknownStatementNoSuggestion", preamble: true,
      "frobnicate buf",
      ["5:1: error: unknown statement 'frobnicate'"]),
    DiagnosticCase(
      "statementIsString", preamble: true,
      "\"free_pages\" buf",
      ["5:1: error: expected a statement word, found a string"]),
    DiagnosticCase(
      "taskAfterBinding", preamble: true,
      "x = @irq alloc_pages",
      ["5:5: error: the task prefix comes first: write '@irq x = ...'"]),
    DiagnosticCase(
      "expectWithTask", preamble: true,
      "free_pages buf\n@irq expect no-report",
      ["6:1: error: an 'expect' line cannot have a task prefix ('@irq')"]),
    DiagnosticCase(
      "expectWithBinding", preamble: true,
      "free_pages buf\nx = expect no-report",
      ["6:1: error: an 'expect' line cannot bind a name"]),
    DiagnosticCase(
      "cmdlineWithTask", preamble: false,
      "@irq cmdline \"iommu.strict=0\"",
      ["1:1: error: 'cmdline' configures the machine and does not run as a task; remove '@irq'"]),
    DiagnosticCase(
      "memoryWithTask", preamble: false,
      "@irq memory 1G",
      ["1:1: error: 'memory' configures the machine and does not run as a task; remove '@irq'"]),
    DiagnosticCase(
      "cmdlineAfterRun", preamble: true,
      "free_pages buf\ncmdline \"iommu.strict=0\"",
      ["6:1: error: 'cmdline' must come before the first statement of sections 3 to 8 ('domain' at line 3)"]),
    DiagnosticCase(
      "memoryAfterRun", preamble: true,
      "free_pages buf\nmemory 2G",
      ["6:1: error: 'memory' must come before the first statement of sections 3 to 8 ('domain' at line 3)"]),
    DiagnosticCase(
      "secondMemory", preamble: false,
      "memory 2G\nmemory 4G",
      ["2:1: error: only one 'memory' line is allowed (the first is at line 1)"]),
    DiagnosticCase(
      "iommuWithBinding", preamble: true,
      "x = iommu model=vtd",
      [
        "5:1: error: 'iommu' names its unit with its first argument: write 'iommu x ...', not 'x = iommu'",
        "5:5: error: missing NAME for 'iommu' (usage: iommu NAME model=vtd|amd|smmuv3 [granule=4K|16K|64K] [pgsizes=LIST] [iotlb=N] [walk-cache=N] [sva=on|off] [npcache=on|off] [gather=on|off])",
      ]),
    DiagnosticCase(
      "bindingNonBindingVerb", preamble: true,
      "x = free_pages buf",
      ["5:1: error: 'free_pages' has no result to bind; remove 'x ='"]),
    DiagnosticCase(
      "redefinedDevice", preamble: true,
      "device nic iommu=mmu0",
      [
        "5:8: error: a device named 'nic' is already defined (line 2); a device cannot be defined again: give this one another name"
      ]),
    DiagnosticCase(
      "redefinedIOMMU", preamble: true,
      "iommu mmu0 model=amd",
      [
        "5:7: error: an IOMMU named 'mmu0' is already defined (line 1); an IOMMU cannot be defined again: give this one another name"
      ]),
    DiagnosticCase(
      "redefinedDeviceAfterRebinding", preamble: true,
      "nic = alloc_pages\ndevice nic iommu=mmu0",
      [
        "6:8: error: a device named 'nic' is already defined (line 2); a device cannot be defined again: give this one another name"
      ]),
    DiagnosticCase(
      "deviceNamedAsItsIOMMU", preamble: true,
      "device mmu0 iommu=mmu0",
      []),
    DiagnosticCase(
      "lenIsASize", preamble: true,
      "dma nic write 0x10000 len=1G\ndma nic write 0x10000 len=4K\ndma nic read 0x10000 len=0x8",
      []),
    DiagnosticCase(
      "lenAboveTheLimit", preamble: true,
      "dma nic write 0x10000 len=2G",
      ["5:27: error: len=2G is too large (at most 1G: the emulator accesses memory page by page)"]),
    DiagnosticCase(
      "spacesAroundEquals", preamble: true,
      "iommu_map d iova = 0x1000 phys=buf size=4K",
      ["5:18: error: no spaces are allowed around '=': write 'iova=0x1000'"]),
    DiagnosticCase(
      "tokenStartsWithEquals", preamble: true,
      "iommu_map d =0x1000 iova=0 phys=buf size=4K",
      ["5:13: error: unexpected '='; a key=value pair has no spaces around '='"]),
    DiagnosticCase(
      "unknownKey", preamble: true,
      "iommu_map d iova=0 phys=buf sise=4K",
      // One error per mistake: the "did you mean 'size='" stands for "missing key 'size='".
      [
        "5:29: error: unknown key 'sise=' for 'iommu_map'; did you mean 'size='? (valid keys: iova=, phys=, size=, prot=)"
      ]
    ),
    DiagnosticCase(
      "unknownKeyAndAMissingKeyItDoesNotName", preamble: true,
      "iommu_map d iova=0 phys=buf bogus=4K",
      [
        "5:1: error: missing key 'size=' for 'iommu_map' (usage: iommu_map DOMAIN iova=ADDR phys=ADDR size=SIZE [prot=r|w|rw])",
        "5:29: error: unknown key 'bogus=' for 'iommu_map' (valid keys: iova=, phys=, size=, prot=)",
      ]),
    DiagnosticCase(
      "missingReadOrWrite", preamble: true,
      "h = dma_map nic buf size=4K\ndma nic h",
      [
        "6:9: error: missing 'read' or 'write' before 'h' (usage: dma DEVICE read|write ADDR [len=N] [pasid=N|NAME] [value=N] [priv=user|supervisor])"
      ]),
    DiagnosticCase(
      "keyValueWithoutItsKey", preamble: true,
      "h = dma_map nic buf 4K",
      // One error: the word is the missing key's value, not also an unexpected argument.
      [
        "5:21: error: missing key 'size=' before '4K': write 'size=4K' (usage: NAME = dma_map DEVICE ADDR size=SIZE [dir=to-device|from-device|bidirectional])"
      ]),
    DiagnosticCase(
      "positionalWrittenAsAKey", preamble: true,
      "c = dma_alloc nic size=8K",
      // One error: not also "missing SIZE".
      [
        "5:19: error: 'size=' is not a key of 'dma_alloc': write the SIZE alone, '8K' (usage: NAME = dma_alloc DEVICE SIZE)"
      ]),
    DiagnosticCase(
      "missingAddressAfterRead", preamble: true,
      "dma nic read",
      [
        "5:1: error: missing ADDR for 'dma' (usage: dma DEVICE read|write ADDR [len=N] [pasid=N|NAME] [value=N] [priv=user|supervisor])"
      ]),
    DiagnosticCase(
      "boundLater", preamble: true,
      "h = dma_map nic page size=4K\ndma_unmap h\npage = alloc_pages",
      ["5:17: error: use of unbound name 'page': 'page' is bound later, at line 7"]),
    DiagnosticCase(
      "missingDeviceSaysHowToDeclareIt", preamble: true,
      "h = dma_map eth0 buf size=4K",
      [
        "5:13: error: use of unbound name 'eth0'; no device has this name: declare it first with 'device eth0 iommu=mmu0'"
      ]),
    DiagnosticCase(
      "missingIOMMUSaysHowToDeclareIt", preamble: false,
      "device nic iommu=vtd0",
      [
        "1:18: error: use of unbound name 'vtd0'; no IOMMU has this name: declare it first with 'iommu vtd0 model=vtd' (or amd, smmuv3)"
      ]),
    DiagnosticCase(
      "bindingWithoutSpaces", preamble: true,
      "page=alloc_pages",
      ["5:1: error: unknown statement 'page=alloc_pages'; to bind a name, put spaces around '=': 'page = alloc_pages'"]),
    DiagnosticCase(
      "bindingWithoutSpacesAndATypo", preamble: true,
      "h=dma_mpa nic buf size=4K",
      ["5:1: error: unknown statement 'h=dma_mpa'; to bind a name, put spaces around '=': 'h = dma_map ...'"]),
    DiagnosticCase(
      "kernelDirectionNameIsAccepted", preamble: true,
      "h = dma_map nic buf size=4K dir=DMA_TO_DEVICE\ndma_unmap h dir=DMA_TO_DEVICE",
      []),
    DiagnosticCase(
      "sizeWithKiB", preamble: true,
      "v = vmalloc 4KiB",
      ["5:13: error: invalid size '4KiB'; did you mean '4K'? (K, M, G and T are binary units: 4K is 4096 bytes)"]),
    DiagnosticCase(
      "unknownKeyNoKeys", preamble: true,
      "flush_tlb_all force=1",
      ["5:15: error: unknown key 'force=': 'flush_tlb_all' takes no keys"]),
    DiagnosticCase(
      "duplicateKey", preamble: true,
      "iommu_map d iova=0 phys=buf size=4K size=8K",
      ["5:37: error: duplicate key 'size=' (first given at column 29)"]),
    DiagnosticCase(
      "missingValue", preamble: true,
      "iommu_map d iova=0 phys=buf size=",
      [
        "5:1: error: missing key 'size=' for 'iommu_map' (usage: iommu_map DOMAIN iova=ADDR phys=ADDR size=SIZE [prot=r|w|rw])",
        "5:29: error: missing value after 'size='",
      ]),
    DiagnosticCase(
      "quoteInsideToken", preamble: true,
      "p = process co\"mm\"",
      ["5:15: error: unexpected '\"' in 'co\"mm\"': a string stands alone or follows 'key='"]),
    DiagnosticCase(
      "unexpectedArgument", preamble: true,
      "free_pages buf buf",
      ["5:16: error: unexpected argument 'buf' (usage: free_pages NAME|pfn=N [order=N])"]),
    DiagnosticCase(
      "unexpectedArgumentNone", preamble: true,
      "flush_tlb_all now",
      ["5:15: error: unexpected argument 'now': 'flush_tlb_all' takes none (usage: flush_tlb_all)"]),
    DiagnosticCase(
      "missingPositional", preamble: true,
      "free_pages",
      ["5:1: error: missing NAME for 'free_pages' (usage: free_pages NAME|pfn=N [order=N])"]),
    DiagnosticCase(
      "missingKey", preamble: true,
      "iommu_map d iova=0x1000 phys=buf",
      [
        "5:1: error: missing key 'size=' for 'iommu_map' (usage: iommu_map DOMAIN iova=ADDR phys=ADDR size=SIZE [prot=r|w|rw])"
      ]),
    DiagnosticCase(
      "nameIsString", preamble: true,
      "free_pages \"buf\"",
      ["5:12: error: expected a page block, found a string"]),
    DiagnosticCase(
      "nameIsNumber", preamble: true,
      "free_pages 123",
      ["5:12: error: expected a name of a page block, found '123'"]),
    DiagnosticCase(
      "invalidReferenceName", preamble: true,
      "free_pages b@d",
      [
        "5:12: error: invalid name 'b@d': a name starts with a letter or '_' and continues with letters, digits, '_', '.' or '-'"
      ]),
    DiagnosticCase(
      "unboundName", preamble: true,
      "free_pages nope",
      ["5:12: error: use of unbound name 'nope'"]),
    DiagnosticCase(
      "unboundNameSuggestion", preamble: true,
      "free_pages bfu",
      ["5:12: error: use of unbound name 'bfu'; did you mean 'buf'?"]),
    DiagnosticCase(
      "unboundNameInOffset", preamble: true,
      "cpu_write nope+8 value=1",
      ["5:11: error: use of unbound name 'nope' (in 'nope+8')"]),
    DiagnosticCase(
      "failedBinding", preamble: true,
      "big = alloc_pages order=20\nexpect error ENOMEM\nfree_pages big",
      ["7:12: error: 'big' was bound by a statement that is expected to fail (line 5)"]),
    DiagnosticCase(
      "wrongKind", preamble: true,
      "iommu_map nic iova=0 phys=buf size=4K",
      ["5:11: error: 'nic' is a device (line 2), but 'iommu_map' needs a domain here"]),
    DiagnosticCase(
      "wrongKindAddress", preamble: true,
      "h = dma_map nic buf size=4K\niommu_map d iova=0 phys=h size=4K",
      [
        "6:25: error: 'h' is a DMA mapping (dma_map at line 5), but 'iommu_map' needs a physical address (a number or a page block) here"
      ]),
    DiagnosticCase(
      "dmaUnmapOfCoherent", preamble: true,
      "c = dma_alloc nic 4K\ndma_unmap c",
      [
        "6:11: error: 'c' is a coherent DMA buffer (dma_alloc at line 5), but 'dma_unmap' needs a DMA mapping (dma_map) here"
      ]),
    DiagnosticCase(
      "valueIsString", preamble: true,
      "cpu_write buf value=\"1\"",
      ["5:21: error: expected a value, found a string"]),
    DiagnosticCase(
      "negativeNumber", preamble: true,
      "cpu_write buf value=-1",
      ["5:21: error: negative numbers are not allowed: '-1'"]),
    DiagnosticCase(
      "invalidNumber", preamble: true,
      "cpu_write buf value=12ab",
      ["5:21: error: invalid number '12ab': expected decimal (4096) or hexadecimal (0x1000) digits"]),
    DiagnosticCase(
      "misplacedUnderscore", preamble: true,
      "cpu_write buf value=1__0",
      ["5:21: error: misplaced '_' in '1__0': '_' may only separate two digits (0x8000_0000)"]),
    DiagnosticCase(
      "numberTooLarge", preamble: true,
      "cpu_write buf value=0x1_0000_0000_0000_0000",
      ["5:21: error: number too large: '0x1_0000_0000_0000_0000' does not fit in 64 bits"]),
    DiagnosticCase(
      "sizeTooLarge", preamble: true,
      "v = vmalloc 99999999999T",
      ["5:13: error: number too large: '99999999999T' does not fit in 64 bits"]),
    DiagnosticCase(
      "lowercaseSuffix", preamble: true,
      "v = vmalloc 4k",
      ["5:13: error: invalid size '4k': size suffixes are upper case (4K)"]),
    DiagnosticCase(
      "hexWithSuffix", preamble: true,
      "v = vmalloc 0x10K",
      [
        "5:13: error: invalid size '0x10K': a K, M, G or T suffix needs a decimal number; a hexadecimal size is in bytes"
      ]),
    DiagnosticCase(
      "invalidSize", preamble: true,
      "v = vmalloc 4KB",
      ["5:13: error: invalid size '4KB'; did you mean '4K'? (K, M, G and T are binary units: 4K is 4096 bytes)"]),
    DiagnosticCase(
      "invalidSizeLetters", preamble: true,
      "v = vmalloc 4X",
      ["5:13: error: invalid size '4X': expected a number with an optional K, M, G or T suffix (4096, 0x1000, 4K, 2M)"]),
    DiagnosticCase(
      "negativeSize", preamble: true,
      "v = vmalloc -4K",
      ["5:13: error: negative sizes are not allowed: '-4K'"]),
    DiagnosticCase(
      "durationNeedsUnit", preamble: true,
      "advance 10",
      ["5:9: error: duration '10' needs a unit: ns, us, ms or s (10ms)"]),
    DiagnosticCase(
      "invalidDuration", preamble: true,
      "advance 10m",
      ["5:9: error: invalid duration '10m': expected a number and a unit ns, us, ms or s (10ms)"]),
    DiagnosticCase(
      "durationTooLarge", preamble: true,
      "advance 99999999999s",
      ["5:9: error: number too large: '99999999999s' does not fit in 64 bits (as nanoseconds)"]),
    DiagnosticCase(
      "orderTooLarge", preamble: true,
      "x = alloc_pages order=64",
      ["5:23: error: order=64 is too large (at most 63)"]),
    DiagnosticCase(
      "iotlbTooLarge", preamble: true,
      "iommu m2 model=vtd iotlb=2000000",
      ["5:26: error: iotlb=2000000 is too large (at most 1048576 entries)"]),
    DiagnosticCase(
      "pasidOutOfRange", preamble: true,
      "attach nic d pasid=0x100000",
      ["5:20: error: PASID 0x100000 is out of range (0 to 0xfffff: PASIDs are 20 bits)"]),
    DiagnosticCase(
      "invalidChoice", preamble: true,
      "iommu_map d iova=0 phys=buf size=4K prot=x",
      ["5:42: error: invalid value 'x' for 'prot=' (valid: r, w, rw)"]),
    DiagnosticCase(
      "invalidChoiceSuggestion", preamble: true,
      "h = dma_map nic buf size=4K dir=to_device",
      [
        "5:33: error: invalid value 'to_device' for 'dir='; did you mean 'to-device'? (valid: to-device, from-device, bidirectional)"
      ]),
    DiagnosticCase(
      "invalidWidth", preamble: true,
      "cpu_write buf value=1 width=3",
      ["5:29: error: invalid value '3' for 'width=' (valid: 1, 2, 4, 8)"]),
    DiagnosticCase(
      "invalidPageSize", preamble: false,
      "memory 1G page=8K",
      ["1:16: error: invalid value '8K' for 'page=' (valid: 4K, 16K, 64K)"]),
    DiagnosticCase(
      "negativeAddress", preamble: true,
      "cpu_write -8 value=1",
      ["5:11: error: negative addresses are not allowed: '-8'"]),
    DiagnosticCase(
      "unexpectedAddress", preamble: true,
      "cpu_write .buf value=1",
      ["5:11: error: expected a physical address (a number or a page block), found '.buf'"]),
    DiagnosticCase(
      "invalidAddress", preamble: true,
      "cpu_write buf+x value=1",
      ["5:15: error: invalid offset 'x' in 'buf+x': expected a number or a size (0x10, 4K)"]),
    DiagnosticCase(
      "missingOffset", preamble: true,
      "cpu_write buf+ value=1",
      ["5:14: error: missing offset after '+' in 'buf+'"]),
    DiagnosticCase(
      "offsetTooLarge", preamble: true,
      "cpu_write buf+0x8000_0000_0000_0000 value=1",
      ["5:15: error: offset too large in 'buf+0x8000_0000_0000_0000' (at most 0x7fffffffffffffff)"]),
    DiagnosticCase(
      "invalidRange", preamble: false,
      "memory 1G mmio=0x1000",
      ["1:16: error: invalid range '0x1000' for 'mmio=': expected START-END (0xfe000000-0xfeffffff, ends inclusive)"]),
    DiagnosticCase(
      "rangeStartAfterEnd", preamble: false,
      "memory 1G offline=0x2000-0x1000",
      [
        "1:19: error: invalid range '0x2000-0x1000' for 'offline=': its start 0x2000 is after its end 0x1000 (ends are inclusive)"
      ]),
    DiagnosticCase(
      "valueDoesNotFit", preamble: true,
      "cpu_write buf value=0x100 width=1",
      ["5:21: error: value 0x100 does not fit in width=1 (1 byte)"]),
    DiagnosticCase(
      "cmdlineNotString", preamble: false,
      "cmdline iommu.strict=0",
      ["1:9: error: 'cmdline' takes one quoted string: cmdline \"iommu.strict=0 page_owner=off\""]),
    DiagnosticCase(
      "cmdlineUnknownParameter", preamble: false,
      "cmdline \"iommu.strict=0 iommu.stric=1\"",
      [
        "1:25: error: unknown kernel parameter 'iommu.stric'; did you mean 'iommu.strict'? (known: iommu.debug_pagealloc, page_owner, iommu.strict, emu.accounting, emu.kva_flush, emu.notifier, emu.reset, emu.map_count_max, emu.dma_assert_idle, emu.kernel)"
      ]),
    DiagnosticCase(
      "cmdlineNeedsValue", preamble: false,
      "cmdline \"page_owner\"",
      ["1:10: error: kernel parameter 'page_owner' needs a value: page_owner=on|off"]),
    DiagnosticCase(
      "cmdlineInvalidValue", preamble: false,
      "cmdline \"emu.kva_flush=deferred\"",
      ["1:24: error: invalid value 'deferred' for 'emu.kva_flush'; valid values: none, tlb-range, deferred-free"]),
    DiagnosticCase(
      "cmdlineInvalidBool", preamble: false,
      "cmdline \"iommu.strict=2\"",
      ["1:23: error: invalid value '2' for 'iommu.strict'; valid values: 0, 1 (or y/n, yes/no, true/false, on/off)"]),
    DiagnosticCase(
      "memoryBaseName", preamble: false,
      "memory 1G base=buf",
      ["1:16: error: base= takes a number (base=0x80000000)"]),
    DiagnosticCase(
      "memoryZero", preamble: false,
      "memory 0",
      ["1:8: error: memory size must not be 0"]),
    DiagnosticCase(
      "memoryNotMultiple", preamble: false,
      "memory 1000",
      ["1:8: error: memory size 1000 is not a multiple of the page size 4K"]),
    DiagnosticCase(
      "memoryBaseUnaligned", preamble: false,
      "memory 1G base=0x1234",
      ["1:16: error: base 0x1234 is not aligned to the page size 4K"]),
    DiagnosticCase(
      "memoryPastEnd", preamble: false,
      "memory 1G base=0xffff_ffff_f000_0000",
      ["1:8: error: memory of 1G at base 0xfffffffff0000000 goes past the end of the address space"]),
    DiagnosticCase(
      "granuleOnlySMMU", preamble: true,
      "iommu m2 model=vtd granule=64K",
      ["5:28: error: granule=64K is only for smmuv3; vtd uses 4K"]),
    DiagnosticCase(
      "pgsizesEmpty", preamble: true,
      "iommu m2 model=vtd pgsizes=4K,,2M",
      ["5:31: error: empty entry in pgsizes= (write pgsizes=4K,2M)"]),
    DiagnosticCase(
      "pgsizesNotPowerOfTwo", preamble: true,
      "iommu m2 model=vtd pgsizes=4K,3M",
      ["5:31: error: pgsizes: 3M is not a power of two"]),
    DiagnosticCase(
      "pgsizesNotSupported", preamble: true,
      "iommu m2 model=smmuv3 granule=64K pgsizes=64K,2M",
      ["5:47: error: pgsizes: 2M is not a page size of smmuv3 with granule 64K (64K, 512M)"]),
    DiagnosticCase(
      "missingModel", preamble: true,
      "iommu m2",
      [
        "5:1: error: missing key 'model=' for 'iommu' (usage: iommu NAME model=vtd|amd|smmuv3 [granule=4K|16K|64K] [pgsizes=LIST] [iotlb=N] [walk-cache=N] [sva=on|off] [npcache=on|off] [gather=on|off])"
      ]),
    DiagnosticCase(
      "gfpString", preamble: true,
      "x = alloc_pages gfp=\"GFP_KERNEL\"",
      ["5:21: error: gfp= takes flag names joined with '|' (gfp=GFP_KERNEL|__GFP_ZERO), not a string"]),
    DiagnosticCase(
      "gfpEmpty", preamble: true,
      "x = alloc_pages gfp=GFP_KERNEL|",
      ["5:32: error: empty flag in gfp= (write gfp=GFP_KERNEL|__GFP_ZERO)"]),
    DiagnosticCase(
      "gfpUnknown", preamble: true,
      "x = alloc_pages gfp=GFP_KERNEL|__GFP_ZER0",
      [
        "5:32: error: unknown gfp flag '__GFP_ZER0'; did you mean '__GFP_ZERO'? (common flags: GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_DMA, GFP_DMA32, __GFP_ZERO, __GFP_COMP, __GFP_NOWARN)"
      ]),
    DiagnosticCase(
      "commNotString", preamble: true,
      "p = process comm=abc",
      ["5:18: error: comm= takes a string: comm=\"name\""]),
    DiagnosticCase(
      "mmapFlag", preamble: true,
      "p = process\nm = mmap p 4K populated",
      ["6:15: error: unexpected argument 'populated'; the only flag of 'mmap' is 'populate'"]),
    DiagnosticCase(
      "dmaNotReadWrite", preamble: true,
      "dma nic peek buf",
      [
        "5:9: error: expected 'read' or 'write', found 'peek' (usage: dma DEVICE read|write ADDR [len=N] [pasid=N|NAME] [value=N] [priv=user|supervisor])"
      ]),
    DiagnosticCase(
      "dmaLenZero", preamble: true,
      "dma nic write buf len=0",
      ["5:23: error: len= must be at least 1"]),
    DiagnosticCase(
      "dmaReadTooLong", preamble: true,
      "dma nic read buf len=16",
      ["5:22: error: len=16 is too long for a read: a read returns at most 8 bytes"]),
    DiagnosticCase(
      "dmaValueDoesNotFitLen", preamble: true,
      "dma nic write buf len=2 value=0x10000",
      ["5:31: error: value 0x10000 does not fit in len=2 (2 bytes)"]),
    DiagnosticCase(
      "dmaValueOnRead", preamble: true,
      "dma nic read buf value=1",
      ["5:24: warning: value= has no effect on a read; use 'expect value=N' to check what it reads"]),
    DiagnosticCase(
      "pasidWrongKind", preamble: true,
      "dma nic read buf pasid=d",
      ["5:24: error: 'd' is a domain (line 3), but 'dma' needs a PASID (a number or an SVA handle) here"]),
    DiagnosticCase(
      "expectFirst", preamble: false,
      "expect no-report",
      ["1:1: error: 'expect' has no statement before it to check"]),
    DiagnosticCase(
      "expectAfterCmdline", preamble: false,
      "cmdline \"iommu.strict=0\"\nexpect no-report",
      ["2:1: error: 'expect' cannot check 'cmdline': it configures the machine before anything runs"]),
    DiagnosticCase(
      "expectAfterMemory", preamble: false,
      "memory 2G\nexpect no-report",
      ["2:1: error: 'expect' cannot check 'memory': it configures the machine before anything runs"]),
    DiagnosticCase(
      "expectEmpty", preamble: true,
      "free_pages buf\nexpect",
      ["6:1: error: 'expect' needs what to check: report KIND, no-report, error ERRNO, fault or KEY=VALUE"]),
    DiagnosticCase(
      "expectTrailing", preamble: true,
      "free_pages buf\nexpect no-report now",
      ["6:18: error: unexpected argument 'now' after 'expect no-report'"]),
    DiagnosticCase(
      "expectMissingErrno", preamble: true,
      "free_pages buf\nexpect error",
      ["6:8: error: missing errno after 'expect error' (for example: expect error EINVAL)"]),
    DiagnosticCase(
      "expectUnknownErrno", preamble: true,
      "free_pages buf\nexpect error ENOMEN",
      [
        "6:14: error: unknown errno 'ENOMEN'; did you mean 'ENOMEM'? (for example: EINVAL, ENOMEM, EEXIST, EBUSY, ENOENT, ETIMEDOUT)"
      ]),
    DiagnosticCase(
      "expectUnknownKey", preamble: true,
      "free_pages buf\nexpect size=4K",
      ["6:8: error: unknown expectation 'size=' (results: unmapped=SIZE, phys=ADDR, value=N)"]),
    DiagnosticCase(
      "expectMissingResultValue", preamble: true,
      "iova_to_phys d iova=0\nexpect phys=",
      ["6:8: error: missing value after 'phys='"]),
    DiagnosticCase(
      "expectUnknownWord", preamble: true,
      "free_pages buf\nexpect nothing",
      [
        "6:8: error: unknown expectation 'nothing' (expect report KIND, no-report, error ERRNO, fault, unmapped=SIZE, phys=ADDR or value=N)"
      ]),
    DiagnosticCase(
      "expectMissingKind", preamble: true,
      "free_pages buf\nexpect report",
      [
        "6:8: error: missing report kind after 'expect report' (kinds: freed-while-mapped, allocated-while-mapped, map-count-underflow, map-count-overflow, unmap-larger-than-requested, address-overflow, freed-while-iotlb-cached, freed-while-mapped-uncounted, page-table-freed-while-cached, secondary-tlb-stale, ats-invalidation-timeout, mapping-leak, dma-unmap-mismatch, dma-unmap-not-mapped, dma-sync-not-mapped, dma-sync-mismatch, dma-use-after-free, dma-stale-walk, page-double-free, page-free-never-allocated, vfree-nonexistent-area, domain-use-after-free, dma-map-beyond-allocation, bad-page-state, page-free-wrong-order, unmap-partial-large-page, reset-prepare-reentry, dma-neighbour-object-access, slab-freed-while-mapped, dma-cpu-touch-active-cacheline, fault-after-unmap)"
      ]),
    DiagnosticCase(
      "expectMissingKindFilter", preamble: true,
      "free_pages buf\nexpect report page=buf",
      [
        "6:15: error: missing report kind after 'expect report' (kinds: freed-while-mapped, allocated-while-mapped, map-count-underflow, map-count-overflow, unmap-larger-than-requested, address-overflow, freed-while-iotlb-cached, freed-while-mapped-uncounted, page-table-freed-while-cached, secondary-tlb-stale, ats-invalidation-timeout, mapping-leak, dma-unmap-mismatch, dma-unmap-not-mapped, dma-sync-not-mapped, dma-sync-mismatch, dma-use-after-free, dma-stale-walk, page-double-free, page-free-never-allocated, vfree-nonexistent-area, domain-use-after-free, dma-map-beyond-allocation, bad-page-state, page-free-wrong-order, unmap-partial-large-page, reset-prepare-reentry, dma-neighbour-object-access, slab-freed-while-mapped, dma-cpu-touch-active-cacheline, fault-after-unmap)"
      ]),
    DiagnosticCase(
      "expectUnknownKind", preamble: true,
      "free_pages buf\nexpect report freed-while-mapd",
      [
        "6:15: error: unknown report kind 'freed-while-mapd'; did you mean 'freed-while-mapped'? (kinds: freed-while-mapped, allocated-while-mapped, map-count-underflow, map-count-overflow, unmap-larger-than-requested, address-overflow, freed-while-iotlb-cached, freed-while-mapped-uncounted, page-table-freed-while-cached, secondary-tlb-stale, ats-invalidation-timeout, mapping-leak, dma-unmap-mismatch, dma-unmap-not-mapped, dma-sync-not-mapped, dma-sync-mismatch, dma-use-after-free, dma-stale-walk, page-double-free, page-free-never-allocated, vfree-nonexistent-area, domain-use-after-free, dma-map-beyond-allocation, bad-page-state, page-free-wrong-order, unmap-partial-large-page, reset-prepare-reentry, dma-neighbour-object-access, slab-freed-while-mapped, dma-cpu-touch-active-cacheline, fault-after-unmap)"
      ]),
    DiagnosticCase(
      "expectReportUnknownFilter", preamble: true,
      "free_pages buf\nexpect report freed-while-mapped pages=buf",
      [
        "6:34: error: unknown key 'pages=' for 'expect report'; did you mean 'page='? (valid keys: page=, pfn=, device=, domain=, count=)"
      ]),
    DiagnosticCase(
      "expectUnmappedWrongStatement", preamble: true,
      "iommu_map d iova=0 phys=buf size=4K\nexpect unmapped=4K",
      ["6:8: error: 'expect unmapped=' checks the result of 'iommu_unmap'; 'iommu_map' has no such result"]),
    DiagnosticCase(
      "expectPhysWrongStatement", preamble: true,
      "free_pages buf\nexpect phys=0x1000",
      ["6:8: error: 'expect phys=' checks the result of 'iova_to_phys'; 'free_pages' has no such result"]),
    DiagnosticCase(
      "expectValueWrongStatement", preamble: true,
      "free_pages buf\nexpect value=1",
      ["6:8: error: 'expect value=' checks what a 'dma ... read' read; 'free_pages' has no such result"]),
    DiagnosticCase(
      "expectValueAfterWrite", preamble: true,
      "dma nic write buf\nexpect value=1",
      ["6:8: error: 'expect value=' checks what a 'dma ... read' read; this 'dma' is a write"]),
    DiagnosticCase(
      "expectFaultWrongStatement", preamble: true,
      "free_pages buf\nexpect fault",
      ["6:8: error: 'expect fault' checks a device access ('dma' or 'ats_translate'); 'free_pages' is not one"]),
    DiagnosticCase(
      "expectContradiction", preamble: true,
      "free_pages buf\nexpect report freed-while-mapped\nexpect no-report",
      ["7:1: error: 'expect no-report' and 'expect report' contradict each other (the other is at line 6)"]),
    DiagnosticCase(
      "expectDuplicate", preamble: true,
      "dma nic read buf\nexpect fault\nexpect fault",
      ["7:1: error: duplicate expectation (the same is at line 6)"]),
    DiagnosticCase(
      "expectTwoErrors", preamble: true,
      "free_pages buf\nexpect error EINVAL\nexpect error ENOMEM",
      ["7:1: error: the statement already has an 'expect error' (at line 6)"]),
    DiagnosticCase(
      "expectErrorAndResult", preamble: true,
      "iova_to_phys d iova=0\nexpect error EINVAL\nexpect phys=0",
      ["7:1: error: a statement that is expected to fail has no result to check (see line 6)"]),
    DiagnosticCase(
      "expectResultTwice", preamble: true,
      "iommu_unmap d iova=0 size=4K\nexpect unmapped=4K\nexpect unmapped=8K",
      ["7:1: error: the statement's result is already checked (at line 6)"]),
    DiagnosticCase(
      "secondMemoryAfterInvalidNoPreamble", preamble: false,
      "memory 0\nmemory 1G",
      [
        "1:8: error: memory size must not be 0",
        "2:1: error: only one 'memory' line is allowed (the first is at line 1)",
      ]),
    DiagnosticCase(
      "misplacedBindingStillBinds", preamble: true,
      "x = free_pages buf\nfree_pages x",
      ["5:1: error: 'free_pages' has no result to bind; remove 'x ='"]),
    DiagnosticCase(
      "lexErrorOnExpectKeepsTarget", preamble: true,
      "free_pages buf\nexpect error \"E\nexpect no-report",
      ["6:14: error: unterminated string"]),
    DiagnosticCase(
      "lexErrorOnStatementDropsTarget", preamble: true,
      "free_pages \"buf\nexpect no-report",
      ["5:12: error: unterminated string"]),
    DiagnosticCase(
      "gfpStopsAtFirstError", preamble: true,
      "x = alloc_pages gfp=||",
      ["5:21: error: empty flag in gfp= (write gfp=GFP_KERNEL|__GFP_ZERO)"]),
    DiagnosticCase(
      "invalidCharacterInNumberKey", preamble: true,
      "cpu_write buf value=0x1g",
      ["5:21: error: invalid number '0x1g': expected decimal (4096) or hexadecimal (0x1000) digits"]),
    DiagnosticCase(
      "unknownStringKey", preamble: true,
      "p = process foo=\"x\"",
      ["5:13: error: unknown key 'foo=' for 'process' (valid keys: comm=)"]),
    DiagnosticCase(
      "stringWithoutKey", preamble: true,
      "p = process =\"x\"",
      ["5:13: error: unexpected '='; a key=value pair has no spaces around '='"]),
    DiagnosticCase(
      "duplicateStringKey", preamble: true,
      "p = process comm=\"a\" comm=\"b\"",
      ["5:22: error: duplicate key 'comm=' (first given at column 13)"]),
    DiagnosticCase(
      "addressIsString", preamble: true,
      "cpu_write \"x\" value=1",
      ["5:11: error: expected a physical address (a number or a page block), found a string"]),
    DiagnosticCase(
      "invalidAddressName", preamble: true,
      "cpu_write b@d value=1",
      [
        "5:11: error: invalid address 'b@d': expected a physical address (a number or a page block), NAME+OFFSET or NAME-OFFSET"
      ]),
    DiagnosticCase(
      "invalidAddressNameBeforeOffset", preamble: true,
      "cpu_write b@d+4 value=1",
      [
        "5:11: error: invalid address 'b@d+4': expected a physical address (a number or a page block), NAME+OFFSET or NAME-OFFSET"
      ]),
    DiagnosticCase(
      "expectErrorTrailing", preamble: true,
      "free_pages buf\nexpect error EINVAL EBUSY",
      ["6:21: error: unexpected argument 'EBUSY' after 'expect error'"]),
    DiagnosticCase(
      "expectReportBadCount", preamble: true,
      "free_pages buf\nexpect report freed-while-mapped count=many",
      ["6:40: error: invalid number 'many': expected decimal (4096) or hexadecimal (0x1000) digits"]),
    DiagnosticCase(
      "cmdlineAfterRunNoPreamble", preamble: false,
      "b = alloc_pages\ncmdline \"iommu.strict=0\"",
      ["2:1: error: 'cmdline' must come before the first statement of sections 3 to 8 ('alloc_pages' at line 1)"]),
    DiagnosticCase(
      "secondMemoryNoPreamble", preamble: false,
      "memory 2G\nmemory 4G",
      ["2:1: error: only one 'memory' line is allowed (the first is at line 1)"]),
    DiagnosticCase(
      "unboundNameTransposed", preamble: true,
      "buf = alloc_pages\nfree_pages bfu",
      ["6:12: error: use of unbound name 'bfu'; did you mean 'buf'?"]),
    DiagnosticCase(
      "cmdlineTwoStrings", preamble: false,
      "cmdline \"iommu.strict=0\" \"page_owner=off\"",
      ["1:9: error: 'cmdline' takes one quoted string: cmdline \"iommu.strict=0 page_owner=off\""]),
    DiagnosticCase(
      "spaceAfterEquals", preamble: true,
      "iommu_map d iova= 0x1000 phys=buf size=4K",
      ["5:13: error: no spaces are allowed around '=': write 'iova=0x1000'"]),
    DiagnosticCase(
      "spaceBeforeEquals", preamble: true,
      "iommu_map d iova =0x1000 phys=buf size=4K",
      ["5:18: error: no spaces are allowed around '=': write 'iova=0x1000'"]),
    DiagnosticCase(
      "invalidOffset", preamble: true,
      "cpu_write buf+x value=1",
      ["5:15: error: invalid offset 'x' in 'buf+x': expected a number or a size (0x10, 4K)"]),
    DiagnosticCase(
      "wrongKindVmallocAsPhysical", preamble: true,
      "v = vmalloc 8K\ncpu_write v value=1",
      [
        "6:11: error: 'v' is a vmalloc area (vmalloc at line 5), but 'cpu_write' needs a physical address (a number or a page block) here"
      ]),
    DiagnosticCase(
      "addressOfProcess", preamble: true,
      "p = process\ndma nic read p",
      [
        "6:14: error: 'p' is a process (line 5), but 'dma' needs a device address (a number, or a DMA mapping or buffer, page block, vmalloc area or mmap area) here"
      ]),
    DiagnosticCase(
      "rebindAfterFailure", preamble: true,
      "big = alloc_pages order=20\nexpect error ENOMEM\nbig = alloc_pages\nfree_pages big",
      []),
    DiagnosticCase(
      "failedDevice", preamble: true,
      "device nic2 iommu=mmu0\nexpect error ENODEV\nflr nic2",
      ["7:5: error: 'nic2' was bound by a statement that is expected to fail (line 5)"]),
  ]

  @Test(arguments: cases)
  func diagnostic(_ c: DiagnosticCase) {
    #expect(diagnostics(c.source, preamble: c.preamble) == c.expected)
  }

  @Test func everyErrorMakesTheFixtureFail() {
    for c in DiagnosticTests.cases where c.expected.contains(where: { $0.contains(": error: ") }) {
      #expect(parse(c.source, preamble: c.preamble).hasErrors, "\(c.name)")
    }
  }

  @Test func warningsAloneDoNotFail() {
    let parsed = parse("dma nic read buf value=1", preamble: true)
    #expect(parsed.diagnostics.count == 1)
    #expect(parsed.diagnostics.first?.severity == .warning)
    #expect(!parsed.hasErrors)
    #expect(parsed.statements.count == 5)
  }

  @Test func invalidUTF8InString() {
    var bytes = Array("p = process comm=\"a".utf8)
    bytes.append(0xFF)
    bytes += Array("b\"\n".utf8)
    let parsed = FixtureParser.parse(source: bytes, file: "t.fixture")
    #expect(parsed.diagnostics.map(\.description) == ["t.fixture:1:18: error: string is not valid UTF-8"])
  }

  @Test func lineTooLong() {
    let long = "free_pages " + String(repeating: "a", count: FixtureLimits.maxLineLength)
    let parsed = parse("b = alloc_pages\n" + long + "\nfree_pages b\n")
    #expect(
      parsed.diagnostics.map(\.description) == [
        "t.fixture:2:1: error: line too long (65547 bytes; the limit is 65536)"
      ])
    #expect(parsed.statements.count == 2)
  }

  @Test func lineAtTheLimitIsAccepted() {
    let text = "flush_tlb_all" + String(repeating: " ", count: FixtureLimits.maxLineLength - 13)
    #expect(text.utf8.count == FixtureLimits.maxLineLength)
    #expect(parse(text).diagnostics.isEmpty)
  }

  @Test func tooManyStatements() {
    var text = ""
    text.reserveCapacity((FixtureLimits.maxStatements + 2) * 14)
    for _ in 0...FixtureLimits.maxStatements { text += "flush_tlb_all\n" }
    let parsed = parse(text)
    #expect(
      parsed.diagnostics.map(\.description) == [
        "t.fixture:1000001:1: error: too many statements (the limit is 1000000)"
      ])
    #expect(parsed.statements.count == FixtureLimits.maxStatements)
  }

  @Test func allErrorsAreCollectedAndSorted() {
    let parsed = parse(
      """
      free_pages nope extra
      alloc_page
      iommu_map d iova=0x1000
      expect error ENOMEN
      """)
    #expect(
      parsed.diagnostics.map(\.description) == [
        "t.fixture:1:12: error: use of unbound name 'nope'",
        "t.fixture:1:17: error: unexpected argument 'extra' (usage: free_pages NAME|pfn=N [order=N])",
        "t.fixture:2:1: error: unknown statement 'alloc_page'; did you mean 'alloc_pages'?",
        "t.fixture:3:1: error: missing key 'phys=' for 'iommu_map' (usage: iommu_map DOMAIN iova=ADDR phys=ADDR size=SIZE [prot=r|w|rw])",
        "t.fixture:3:1: error: missing key 'size=' for 'iommu_map' (usage: iommu_map DOMAIN iova=ADDR phys=ADDR size=SIZE [prot=r|w|rw])",
        "t.fixture:3:11: error: use of unbound name 'd'",
        "t.fixture:4:14: error: unknown errno 'ENOMEN'; did you mean 'ENOMEM'? (for example: EINVAL, ENOMEM, EEXIST, EBUSY, ENOENT, ETIMEDOUT)",
      ])
    #expect(parsed.statements.isEmpty)
  }

  @Test func diagnosticDescription() {
    let d = Diagnostic(file: "dir/a.fixture", line: 3, column: 7, message: "boom")
    #expect(d.description == "dir/a.fixture:3:7: error: boom")
    #expect(d.location == at(3, 7))
    let w = Diagnostic(file: "a", location: at(1, 2), severity: .warning, message: "hm")
    #expect(w.description == "a:1:2: warning: hm")
  }

  /// A parse error shows its line and a caret under the column, as clang does (a tab stays a tab).
  @Test func caretUnderTheColumn() {
    let parsed = parse("iommu mmu0 model=vtd\n\tb = alloc_pages  sise=3\n")
    #expect(parsed.diagnostics.count == 1)
    #expect(
      parsed.diagnostics[0].rendered() == """
        t.fixture:2:19: error: unknown key 'sise=' for 'alloc_pages' (valid keys: order=, gfp=)
        \tb = alloc_pages  sise=3
        \t                 ^

        """)
    // The line is context, not identity: equal diagnostics with and without it.
    var bare = parsed.diagnostics[0]
    bare.sourceLine = nil
    #expect(bare == parsed.diagnostics[0])
    #expect(bare.rendered() == bare.description + "\n")
  }

  /// A `--cmdline` error shows the parameters with a caret.
  @Test func caretUnderACmdlineParameter() {
    let (_, found) = Cmdline.parse("iommu.strict=2")
    #expect(found.first?.rendered().split(separator: "\n").dropFirst() == ["iommu.strict=2", "             ^"])
  }

  /// Lines a terminal would not show as text (control bytes, invalid UTF-8) and too long lines get no caret.
  @Test func noCaretForUnprintableOrLongLines() {
    #expect(parse("bogus \u{1}\n").diagnostics.allSatisfy { $0.sourceLine == nil })
    let long = "flush_tlb_all " + String(repeating: "x", count: Diagnostic.maxSourceLineLength)
    #expect(parse(long).diagnostics.allSatisfy { $0.sourceLine == nil })
    #expect(parse("flush_tlb_all x").diagnostics.first?.sourceLine == "flush_tlb_all x")
  }

  /// With colour: clang's bold location, red error, magenta warning, green caret.
  @Test func coloredAsClang() {
    var d = Diagnostic(file: "a", location: at(1, 3), message: "bad")
    d.sourceLine = "x y"
    #expect(
      d.rendered(color: true)
        == "\u{1B}[1ma:1:3: \u{1B}[0m\u{1B}[0;1;31merror: \u{1B}[0m\u{1B}[1mbad\u{1B}[0m\nx y\n  \u{1B}[0;1;32m^\u{1B}[0m\n"
    )
    let w = Diagnostic(file: "a", location: at(1, 2), severity: .warning, message: "hm")
    #expect(w.rendered(color: true).contains("\u{1B}[0;1;35mwarning: "))
    #expect(!w.rendered().contains("\u{1B}"))
  }
}
