/// The kernel's taint flags that iommusan's reports leave (`include/linux/panic.h`
/// `TAINT_*`, `kernel/panic.c` `taint_flags[]`), as a set.
package struct Taint: OptionSet, Sendable, Hashable {
  package let rawValue: UInt32
  package init(rawValue: UInt32) { self.rawValue = rawValue }

  /// `TAINT_BAD_PAGE` (bit 5): `bad_page()`, KASAN's `end_report()`.
  package static let badPage = Taint(rawValue: 1 << 5)
  /// `TAINT_DIE` (bit 7): `oops_end()` after a `BUG()`.
  package static let die = Taint(rawValue: 1 << 7)
  /// `TAINT_WARN` (bit 9): `__warn()`.
  package static let warn = Taint(rawValue: 1 << 9)

  /// `taint_flags[]` in bit order: the character when set, and the name of
  /// the `Tainted: [B]=BAD_PAGE` line. Linux 7.0 has 20 flags (`TAINT_FLAGS_COUNT`),
  /// `P` (printed as `G` when clear) to `J` (`TAINT_FWCTL`).
  static let table: [(char: Character, name: String)] = [
    ("P", "PROPRIETARY_MODULE"), ("F", "FORCED_MODULE"), ("S", "CPU_OUT_OF_SPEC"), ("R", "FORCED_RMMOD"),
    ("M", "MACHINE_CHECK"), ("B", "BAD_PAGE"), ("U", "USER"), ("D", "DIE"), ("A", "OVERRIDDEN_ACPI_TABLE"),
    ("W", "WARN"), ("C", "CRAP"), ("I", "FIRMWARE_WORKAROUND"), ("O", "OOT_MODULE"), ("E", "UNSIGNED_MODULE"),
    ("L", "SOFTLOCKUP"), ("K", "LIVEPATCH"), ("X", "AUX"), ("T", "RANDSTRUCT"), ("N", "TEST"), ("J", "FWCTL"),
  ]

  /// What `print_tainted()` prints: `Not tainted`, or `Tainted: ` and one
  /// character per flag (`G` for a clear `P`, a space for any other clear flag).
  package var cpuLineText: String {
    guard !isEmpty else { return "Not tainted" }
    var s = "Tainted: "
    for (bit, flag) in Self.table.enumerated() {
      let set = rawValue & (1 << UInt32(bit)) != 0
      s.append(set ? flag.char : (bit == 0 ? "G" : " "))
    }
    return s
  }

  /// The `Tainted: [B]=BAD_PAGE, [W]=WARN` line `dump_stack_print_info()` adds (nil when not tainted).
  package var flagsLine: String? {
    guard !isEmpty else { return nil }
    var names: [String] = []
    for (bit, flag) in Self.table.enumerated() where rawValue & (1 << UInt32(bit)) != 0 {
      names.append("[\(flag.char)]=\(flag.name)")
    }
    return "Tainted: " + names.joined(separator: ", ")
  }
}
