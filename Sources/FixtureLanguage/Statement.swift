import KernelTypes

/// One statement of a fixture, with the `expect` lines that follow it.
package struct Statement: Sendable, Hashable {
  /// Where the statement starts (its first token: `@TASK`, the binding name or the verb).
  package var location: SourceLocation
  /// Where the statement word is.
  package var verbLocation: SourceLocation
  /// The line, trimmed and without its comment.
  package var text: String
  /// The `@TASK` the statement runs as (the name without `@`), or nil for the main task.
  package var task: NameReference?
  /// The `NAME =` of the statement, or nil. `iommu` and `device` name their
  /// unit in `operation` instead.
  package var binding: NameReference?
  /// What the statement does.
  package var operation: StatementOperation
  /// The `expect` lines that check this statement, in order.
  package var expectations: [FixtureExpectation]
  /// Whether a name of the statement or of its expectations is indexed by a
  /// loop variable (`rx[i]`), so that each iteration names other elements.
  package var usesLoopVariables = false
  /// The `task NAME {` block the statement is in, or nil.
  package var block: TaskBlock?

  package init(
    location: SourceLocation, verbLocation: SourceLocation, text: String, task: NameReference?,
    binding: NameReference?, operation: StatementOperation, expectations: [FixtureExpectation] = []
  ) {
    self.location = location
    self.verbLocation = verbLocation
    self.text = text
    self.task = task
    self.binding = binding
    self.operation = operation
    self.expectations = expectations
  }

  /// The 1-based line.
  package var line: Int { location.line }
  /// The statement word.
  package var verb: Verb { operation.verb }

  /// The name this statement defines: the binding, or the unit name of `iommu` and `device`.
  package var definedName: NameReference? {
    switch operation {
    case .iommu(let configuration): return configuration.name
    case .device(let configuration): return configuration.name
    default: return binding
    }
  }

  /// The errno that an `expect error` says the statement fails with, if any.
  package var expectedError: Errno? {
    for expectation in expectations {
      if case .error(let errno) = expectation.kind { return errno }
    }
    return nil
  }
}
