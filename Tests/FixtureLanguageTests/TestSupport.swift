import FixtureLanguage
/// The shared test support (`Tests/IOMMUSanTestSupport`), for every file of this target.
@_exported import IOMMUSanTestSupport

/// The lines most tests start from: an IOMMU, a device, a domain and a page block.
let preamble = """
  iommu mmu0 model=vtd
  device nic iommu=mmu0 ats=on pasid=on
  d = domain mmu0
  buf = alloc_pages order=1

  """

/// Parses `text` as `t.fixture`.
func parse(_ text: String, preamble usePreamble: Bool = false) -> ParsedFixture {
  FixtureParser.parse(text: (usePreamble ? preamble : "") + text, file: "t.fixture")
}

/// Every diagnostic as `LINE:COLUMN: SEVERITY: MESSAGE` (the file name dropped).
func diagnostics(_ text: String, preamble usePreamble: Bool = false) -> [String] {
  parse(text, preamble: usePreamble).diagnostics.map { String($0.description.dropFirst("t.fixture:".count)) }
}

/// The operation of the only statement after the preamble, or nil on any diagnostic.
func operation(_ text: String, preamble usePreamble: Bool = true) -> StatementOperation? {
  let parsed = parse(text, preamble: usePreamble)
  guard parsed.diagnostics.isEmpty, let last = parsed.statements.last else { return nil }
  return last.operation
}

/// The location a test expects.
func at(_ line: Int, _ column: Int) -> SourceLocation { SourceLocation(line: line, column: column) }
