/// Sizes given on the command line (`--max-ram 64G`), with the fixture
/// language's size syntax: `4096`, `0x1000`, `4K`, `2M`, `1G`, `1T`.
package enum SizeArgument {
  /// What is wrong with a size argument.
  package struct Failure: Error, Sendable, Hashable {
    package var message: String
  }

  /// The size in bytes, or why the text is not a size. Never traps.
  package static func parse(_ text: String) -> Result<UInt64, Failure> {
    switch NumberSyntax.size(ArraySlice(text.utf8)) {
    case .value(let v): return .success(v)
    case .failure(let message): return .failure(Failure(message: message))
    }
  }
}
