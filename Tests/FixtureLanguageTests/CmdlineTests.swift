import FixtureLanguage
import KernelTypes
import Testing

/// `cmdline` parameters and the `--cmdline` entry point.
@Suite struct CmdlineTests {
  @Test func defaults() {
    let c = Cmdline.defaults
    #expect(c.debugPagealloc && c.pageOwner && c.strict)
    #expect(c.accounting == .exact && c.kvaFlush == .deferredFree && c.notifier == .sync && c.reset == .ebusy)
    #expect(
      c.description
        == "iommu.debug_pagealloc=1 page_owner=on iommu.strict=1 emu.accounting=exact emu.kva_flush=deferred-free emu.notifier=sync emu.reset=ebusy"
    )
    #expect(parse("flush_tlb_all").cmdline == c)
  }

  @Test func kernelVersions() {
    #expect(KernelVersion(parsing: "7.0.0") == KernelVersion(7, 0, 0))
    #expect(KernelVersion(parsing: "7.0") == KernelVersion(7, 0, 0))
    #expect(KernelVersion(parsing: "7.0-rc3") == KernelVersion(7, 0, rc: 3))
    for bad in ["7", "7.0.0.1", "7.0.0-rc1", "7.x", "", "7..0", "99999.0", "7.0-rc0", "-rc1", "+7.0"] {
      #expect(KernelVersion(parsing: bad) == nil, "\(bad)")
    }
    #expect(KernelVersion(7, 0, rc: 6) < KernelVersion(7, 0, 0))
    #expect(KernelVersion(6, 19, 11) < KernelVersion(7, 0, rc: 1))
    #expect(KernelVersion(7, 0, 10) < KernelVersion(7, 0, 11))
    // The table: 7.0.0 has the short-gather fix and lacks the hook fix.
    #expect(KernelVersion(7, 0, 0).has(.shortGather))
    #expect(!KernelVersion(7, 0, 0).has(.debugPageallocHooks))
    #expect(!KernelVersion(6, 19, 11).has(.shortGather))
    #expect(KernelVersion(6, 19, 12).has(.shortGather))
    #expect(KernelVersion.Fix.allCases.allSatisfy { KernelVersion.newest.has($0) })
  }

  @Test func kernelSetsKVAFlushDefault() {
    var c = Cmdline()
    #expect(c.apply(parameters: "emu.kernel=6.18.6").isEmpty)
    #expect(c.kvaFlush == .none)
    #expect(c.description.hasSuffix("emu.kernel=6.18.6"))
    c = Cmdline()
    #expect(c.apply(parameters: "emu.kernel=6.18.6 emu.kva_flush=tlb-range").isEmpty)
    #expect(c.kvaFlush == .tlbRange)
    c = Cmdline()
    #expect(c.apply(parameters: "emu.kernel=6.18.7").isEmpty)
    #expect(c.kvaFlush == .deferredFree)
    let bad = Cmdline.parse("emu.kernel=seven").diagnostics.map(\.message)
    #expect(bad == ["invalid value 'seven' for 'emu.kernel'; valid values: MAJOR.MINOR.PATCH, MAJOR.MINOR-rcN"])
  }

  @Test func everyParameter() {
    let (settings, diagnostics) = Cmdline.parse(
      "iommu.debug_pagealloc=0 page_owner=off iommu.strict=0 emu.accounting=kernel emu.kva_flush=none emu.notifier=deferred-end emu.reset=none emu.map_count_max=3 emu.dma_assert_idle=1 emu.kernel=7.0.0"
    )
    #expect(diagnostics.isEmpty)
    #expect(
      settings == [
        .debugPagealloc(false), .pageOwner(false), .strict(false), .accounting(.kernel), .kvaFlush(.none),
        .notifier(.deferredEnd), .reset(.none), .mapCountMax(3), .dmaAssertIdle(true), .kernel(KernelVersion(7, 0, 0)),
      ])
    var c = Cmdline()
    c.apply(settings)
    #expect(c.settings == settings)
    #expect(settings.map(\.name) == CmdlineSetting.parameterNames)
  }

  @Test(arguments: [
    ("1", true), ("y", true), ("Y", true), ("yes", true), ("on", true), ("ON", true), ("true", true), ("t", true),
    ("0", false), ("n", false), ("N", false), ("no", false), ("off", false), ("false", false), ("f", false),
  ])
  func kernelBooleans(_ text: String, _ value: Bool) {
    let (settings, diagnostics) = Cmdline.parse("iommu.strict=\(text) page_owner=\(text) iommu.debug_pagealloc=\(text)")
    #expect(diagnostics.isEmpty)
    #expect(settings == [.strict(value), .pageOwner(value), .debugPagealloc(value)])
  }

  @Test func laterParametersWin() {
    var c = Cmdline()
    #expect(c.apply(parameters: "  iommu.strict=0\temu.reset=defer  iommu.strict=1\n").isEmpty)
    #expect(c.strict && c.reset == .deferAttach)
  }

  @Test func commandLineDiagnostics() {
    var c = Cmdline()
    let diagnostics = c.apply(parameters: "iommu.strict=0 emu.kva_flsh=none emu.notifier=later page_owner")
    #expect(
      diagnostics.map(\.description) == [
        "--cmdline:1:16: error: unknown kernel parameter 'emu.kva_flsh'; did you mean 'emu.kva_flush'? (known: iommu.debug_pagealloc, page_owner, iommu.strict, emu.accounting, emu.kva_flush, emu.notifier, emu.reset, emu.map_count_max, emu.dma_assert_idle, emu.kernel)",
        "--cmdline:1:47: error: invalid value 'later' for 'emu.notifier'; valid values: sync, deferred-end",
        "--cmdline:1:53: error: kernel parameter 'page_owner' needs a value: page_owner=on|off",
      ])
    // Nothing is applied when the string has an error.
    #expect(c == .defaults)
  }

  @Test func fileColumnsAccountForEscapes() {
    // The file has `\\` (two bytes) where the string has one backslash.
    #expect(
      diagnostics(#"cmdline "\\ emu.reset=x""#) == [
        #"1:10: error: unknown kernel parameter '\' (known: iommu.debug_pagealloc, page_owner, iommu.strict, emu.accounting, emu.kva_flush, emu.notifier, emu.reset, emu.map_count_max, emu.dma_assert_idle, emu.kernel)"#,
        "1:23: error: invalid value 'x' for 'emu.reset'; valid values: ebusy, defer, none",
      ])
  }

  @Test func emptyCmdlineChangesNothing() {
    let parsed = parse(#"cmdline """#)
    #expect(parsed.diagnostics.isEmpty)
    #expect(parsed.statements.first?.operation == .cmdline([]))
  }
}
