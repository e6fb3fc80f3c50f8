import KernelTypes

/// The result of parsing one fixture: its statements and every diagnostic.
package struct ParsedFixture: Sendable {
  /// The file name given to the parser, used in diagnostics.
  package var file: String
  /// The statements that parsed, in file order. A statement with an error is left out.
  package var statements: [Statement]
  /// Every diagnostic, sorted by line then column.
  package var diagnostics: [Diagnostic]
  /// The defaults overridden by every `cmdline` line, in order.
  package var cmdline: Cmdline
  /// The `memory` line, or `memory 1G` when there is none.
  package var memory: MemoryConfiguration
  /// The statements a run executes, each `repeat` iteration counting its
  /// body again (`repeat` and `end` not counted); `statements.count` when
  /// there are no loops.
  package var executedStatements: Int

  /// The `expect schedules=...` lines, in order.
  package var scheduleExpectations: [ScheduleExpectation] = []

  /// Whether the fixture has `task NAME {` blocks (something to explore).
  package var hasTaskBlocks: Bool { statements.contains { $0.block != nil } }

  package init(
    file: String, statements: [Statement] = [], diagnostics: [Diagnostic] = [], cmdline: Cmdline = .defaults,
    memory: MemoryConfiguration = .defaults, executedStatements: Int? = nil
  ) {
    self.file = file
    self.statements = statements
    self.diagnostics = diagnostics
    self.cmdline = cmdline
    self.memory = memory
    self.executedStatements = executedStatements ?? statements.count
  }

  /// Whether any diagnostic is an error; such a fixture must not run.
  package var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

  /// The errors only.
  package var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }

  /// The main task's comm: the file name without directories and extension,
  /// cut to 15 bytes (TASK_COMM_LEN - 1) on a character boundary.
  package var mainTaskComm: String {
    var name = Substring(file)
    if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
    if let dot = name.lastIndex(of: "."), dot != name.startIndex { name = name[..<dot] }
    var result = ""
    var bytes = 0
    for character in name {
      let count = character.utf8.count
      if bytes + count > 15 { break }
      result.append(character)
      bytes += count
    }
    return result
  }
}
