/// The gfp flags of an allocation (`gfp=GFP_KERNEL|__GFP_ZERO` in fixtures),
/// with the names `%pGg` prints.
///
/// Keeps the names as written and computes the `gfp_t` mask with the bit
/// values of Linux 6.x `include/linux/gfp_types.h` (no lockdep, no KASAN tags).
package struct GFPFlags: Sendable, Hashable, CustomStringConvertible {
  /// The flag names as written, in order.
  package var names: [String]
  /// The `gfp_t` mask.
  package var mask: UInt32

  /// `GFP_KERNEL`, the default.
  package static let kernel = GFPFlags(known: ["GFP_KERNEL"])
  /// `GFP_KERNEL|__GFP_ZERO`, as `dma_alloc_coherent()` allocates.
  package static let kernelZero = GFPFlags(known: ["GFP_KERNEL", "__GFP_ZERO"])
  /// `GFP_KERNEL|__GFP_NOWARN|__GFP_ZERO`, as page-table pages are allocated.
  package static let pageTable = GFPFlags(known: ["GFP_KERNEL", "__GFP_NOWARN", "__GFP_ZERO"])
  /// `GFP_HIGHUSER_MOVABLE|__GFP_COMP`, as an anonymous folio is allocated.
  package static let highUserMovableComp = GFPFlags(known: ["GFP_HIGHUSER_MOVABLE", "__GFP_COMP"])

  package init(names: [String], mask: UInt32) {
    self.names = names
    self.mask = mask
  }

  /// Builds flags from known names; nil if a name is unknown.
  package init?(names: [String]) {
    var mask: UInt32 = 0
    for name in names {
      guard let bits = GFPFlags.known[name] else { return nil }
      mask |= bits
    }
    self.init(names: names, mask: mask)
  }

  /// Flags from names in the table below (a program constant, never input).
  private init(known names: [String]) {
    self.init(names: names, mask: names.reduce(0) { $0 | GFPFlags.known[$1]! })
  }

  /// The migratetype the allocator derives from the flags (`gfp_migratetype()`).
  package var migratetype: String {
    if mask & 0x8 != 0 { return "Movable" }
    if mask & 0x10 != 0 { return "Reclaimable" }
    return "Unmovable"
  }

  /// Whether `__GFP_ZERO` is set.
  package var zeroes: Bool { mask & 0x100 != 0 }

  /// The names joined with `|`, as the kernel prints them.
  package var description: String { names.joined(separator: "|") }

  /// Every accepted flag name and its bits.
  package static let known: [String: UInt32] = {
    var table: [String: UInt32] = [:]
    for (name, bits) in knownInOrder { table[name] = bits }
    return table
  }()

  /// Every accepted flag name and its bits, in the order the docs list them.
  package static let knownInOrder: [(String, UInt32)] = [
    ("GFP_KERNEL", 0xcc0),
    ("GFP_KERNEL_ACCOUNT", 0x40_0cc0),
    ("GFP_ATOMIC", 0x820),
    ("GFP_NOWAIT", 0x800),
    ("GFP_NOIO", 0xc00),
    ("GFP_NOFS", 0xc40),
    ("GFP_USER", 0x10_0cc0),
    ("GFP_DMA", 0x1),
    ("GFP_DMA32", 0x4),
    ("GFP_HIGHUSER", 0x10_0cc2),
    ("GFP_HIGHUSER_MOVABLE", 0x10_0cca),
    ("GFP_TRANSHUGE_LIGHT", 0x1c_20ca),
    ("GFP_TRANSHUGE", 0x1c_24ca),
    ("__GFP_DMA", 0x1),
    ("__GFP_HIGHMEM", 0x2),
    ("__GFP_DMA32", 0x4),
    ("__GFP_MOVABLE", 0x8),
    ("__GFP_RECLAIMABLE", 0x10),
    ("__GFP_HIGH", 0x20),
    ("__GFP_IO", 0x40),
    ("__GFP_FS", 0x80),
    ("__GFP_ZERO", 0x100),
    ("__GFP_DIRECT_RECLAIM", 0x400),
    ("__GFP_KSWAPD_RECLAIM", 0x800),
    ("__GFP_RECLAIM", 0xc00),
    ("__GFP_WRITE", 0x1000),
    ("__GFP_NOWARN", 0x2000),
    ("__GFP_RETRY_MAYFAIL", 0x4000),
    ("__GFP_NOFAIL", 0x8000),
    ("__GFP_NORETRY", 0x1_0000),
    ("__GFP_MEMALLOC", 0x2_0000),
    ("__GFP_COMP", 0x4_0000),
    ("__GFP_NOMEMALLOC", 0x8_0000),
    ("__GFP_HARDWALL", 0x10_0000),
    ("__GFP_THISNODE", 0x20_0000),
    ("__GFP_ACCOUNT", 0x40_0000),
  ]
}

extension GFPFlags {
  /// The `gfp_flags` names in the order the kernel's trace events print them
  /// (`__def_gfpflag_names` in `include/trace/events/mmflags.h`, Linux 6.18,
  /// as `kmem:mm_page_alloc`'s print fmt lists them): composite flags first.
  package static let traceOrder: [(String, UInt64)] = [
    ("GFP_TRANSHUGE", 0x1c_24ca), ("GFP_TRANSHUGE_LIGHT", 0x1c_20ca), ("GFP_HIGHUSER_MOVABLE", 0x10_0cca),
    ("GFP_HIGHUSER", 0x10_0cc2), ("GFP_USER", 0x10_0cc0), ("GFP_KERNEL_ACCOUNT", 0x40_0cc0), ("GFP_KERNEL", 0xcc0),
    ("GFP_NOFS", 0xc40), ("GFP_ATOMIC", 0x820), ("GFP_NOIO", 0xc00), ("GFP_NOWAIT", 0x2800), ("GFP_DMA", 0x1),
    ("GFP_DMA32", 0x4), ("__GFP_RECLAIM", 0xc00), ("__GFP_DMA", 0x1), ("__GFP_HIGHMEM", 0x2), ("__GFP_DMA32", 0x4),
    ("__GFP_MOVABLE", 0x8), ("__GFP_RECLAIMABLE", 0x10), ("__GFP_HIGH", 0x20), ("__GFP_IO", 0x40),
    ("__GFP_FS", 0x80), ("__GFP_ZERO", 0x100), ("__GFP_DIRECT_RECLAIM", 0x400), ("__GFP_KSWAPD_RECLAIM", 0x800),
    ("__GFP_WRITE", 0x1000), ("__GFP_NOWARN", 0x2000), ("__GFP_RETRY_MAYFAIL", 0x4000), ("__GFP_NOFAIL", 0x8000),
    ("__GFP_NORETRY", 0x1_0000), ("__GFP_MEMALLOC", 0x2_0000), ("__GFP_COMP", 0x4_0000),
    ("__GFP_NOMEMALLOC", 0x8_0000), ("__GFP_HARDWALL", 0x10_0000), ("__GFP_THISNODE", 0x20_0000),
    ("__GFP_ACCOUNT", 0x40_0000), ("__GFP_ZEROTAGS", 0x80_0000), ("__GFP_NO_OBJ_EXT", 0x100_0000),
  ]

  /// `mask` as a trace prints `gfp_flags=%s`: `none` for 0, else each flag of
  /// `table` wholly contained in what is left, joined by `|`, and any rest as
  /// `0x%llx` (`__print_flags`: the kernel's `trace_print_flags_seq()` and
  /// libtraceevent's `print_str_arg()`).
  package static func traceText(_ mask: UInt64, table: [(String, UInt64)] = traceOrder) -> String {
    if mask == 0 { return "none" }
    var rest = mask
    var out = ""
    for (name, bits) in table where bits != 0 && rest & bits == bits {
      if !out.isEmpty { out += "|" }
      out += name
      rest &= ~bits
    }
    if rest != 0 {
      if !out.isEmpty { out += "|" }
      out += "0x" + String(rest, radix: 16)
    }
    return out
  }
}
