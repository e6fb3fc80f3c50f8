import Conformance
import KernelTypes

extension Commands {
  static let conformance = CommandSpec(
    name: "conformance", abstract: "Check the checker: map counts against the page tables, per kernel.",
    usage: "iommusan conformance [--depth <n>] [--format <format>] [--iommu <names>] [--kernel <versions>]",
    discussion: """
      Runs every sequence of up to n operations (maps, unmaps larger than asked and partial, a map
      failing half-way, free, alloc) on a small domain of each page-table format and granule, under
      exact accounting and under kernel accounting as each release of the emu.kernel= table counts,
      and compares the map counts with the page tables after each operation (docs/Conformance.md).
      Prints each class of divergence with its explanation and one shortest example fixture.
      Exit status: 0 when every class is explained; 1 when one is not; 2 on usage errors.
      """,
    options: [
      ("depth", "n", "The longest sequence (default: 3)."),
      ("format", "format", "text (default) or markdown (the table of docs/Conformance.md)."),
      ("iommu", "names", "Formats, comma-separated: vtd, amd, smmuv3-4K, smmuv3-16K, smmuv3-64K (default: all)."),
      (
        "kernel", "versions",
        "Kernel accounting at these releases only, comma-separated (exact accounting always runs)."
      ),
    ],
    flags: [],
    arguments: [])

  static func conformanceCommand(_ args: [String]) throws(UsageError) -> Int32 {
    let p = try conformance.parse(args)
    if p.flags.contains("help") { return printHelp(conformance) }
    guard p.positionals.isEmpty else { throw UsageError(message: "Unexpected argument '\(p.positionals[0])'") }
    var options = ConformanceOptions(depth: try whole(p, "depth", 1...6) ?? 3)
    if let text = p.options["iommu"] {
      options.formats = try text.split(separator: ",").map { (name) throws(UsageError) -> ConformanceFormat in
        guard let f = ConformanceFormat.all.first(where: { $0.name == name }) else {
          throw UsageError(
            message: "The value '\(name)' is invalid for '--iommu': expected one of "
              + ConformanceFormat.all.map(\.name).joined(separator: ", "))
        }
        return f
      }
    }
    if let text = p.options["kernel"] {
      let kernels = try text.split(separator: ",").map { (v) throws(UsageError) -> KernelVersion in
        guard let k = KernelVersion(parsing: String(v)) else {
          throw UsageError(message: "The value '\(v)' is invalid for '--kernel': expected a release such as 7.0.0")
        }
        return k
      }
      options.accountings = [ConformanceAccounting(.exact)] + kernels.map { ConformanceAccounting(.kernel, kernel: $0) }
    }
    let markdown: Bool
    switch p.options["format"] ?? "text" {
    case "text": markdown = false
    case "markdown": markdown = true
    case let other:
      throw UsageError(message: "The value '\(other)' is invalid for '--format': expected text or markdown")
    }
    let command = (["iommusan", "conformance"] + args).joined(separator: " ")
    let result = Conformance.check(options)
    write(
      markdown ? result.renderedMarkdown(command: command) : result.renderedText(command: command),
      to: .standardOutput)
    return result.unexplained.isEmpty ? 0 : 1
  }
}
