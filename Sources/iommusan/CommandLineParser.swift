import FixtureLanguage
import KernelTypes

/// A small argument parser in the shape of swift-argument-parser: options
/// with values (`--format json`, `--format=json`), flags and positionals.
struct ParsedArguments {
  var options: [String: String] = [:]
  var flags: Set<String> = []
  var positionals: [String] = []
}

struct UsageError: Error {
  var message: String
}

struct CommandSpec {
  var name: String
  var abstract: String
  var usage: String
  var discussion: String = ""
  /// Options taking a value: name (without dashes), value name, help.
  var options: [(name: String, value: String, help: String)] = []
  var flags: [(name: String, help: String)] = []
  var arguments: [(name: String, help: String)] = []

  /// An option as the usage line spells it: `-t` for a one-letter name, `--format` otherwise.
  static func spelled(_ name: String) -> String { (name.count == 1 ? "-" : "--") + name }

  func parse(_ args: [String]) throws(UsageError) -> ParsedArguments {
    var out = ParsedArguments()
    var i = 0
    var onlyPositionals = false
    while i < args.count {
      let a = args[i]
      i += 1
      if onlyPositionals || !a.hasPrefix("-") || a == "-" {
        out.positionals.append(a)
        continue
      }
      if a == "--" {
        onlyPositionals = true
        continue
      }
      if a == "-h" || a == "--help" {
        out.flags.insert("help")
        continue
      }
      var name = String(a.drop { $0 == "-" })
      var value: String?
      if let eq = name.firstIndex(of: "=") {
        value = String(name[name.index(after: eq)...])
        name = String(name[..<eq])
      }
      if options.contains(where: { $0.name == name }) {
        if value == nil {
          guard i < args.count else {
            throw UsageError(
              message: "Missing value for '\(Self.spelled(name)) <\(options.first { $0.name == name }!.value)>'")
          }
          value = args[i]
          i += 1
        }
        out.options[name] = value
      } else if flags.contains(where: { $0.name == name }) {
        if value != nil { throw UsageError(message: "The flag '\(Self.spelled(name))' takes no value") }
        out.flags.insert(name)
      } else {
        let all = options.map(\.name) + flags.map(\.name) + ["help"]
        let hint =
          all.min { editDistance($0, name) < editDistance($1, name) }.flatMap {
            editDistance($0, name) <= 3 ? " (did you mean '\(Self.spelled($0))'?)" : nil
          } ?? ""
        throw UsageError(message: "Unknown option '\(a)'\(hint)")
      }
    }
    return out
  }

  var help: String {
    var s = "OVERVIEW: \(abstract)\n"
    if !discussion.isEmpty { s += "\n" + discussion + "\n" }
    s += "\nUSAGE: \(usage)\n"
    if !arguments.isEmpty {
      s += "\nARGUMENTS:\n"
      for a in arguments { s += row("<\(a.name)>", a.help) }
    }
    s += "\nOPTIONS:\n"
    for o in options { s += row("\(Self.spelled(o.name)) <\(o.value)>", o.help) }
    for f in flags { s += row(Self.spelled(f.name), f.help) }
    s += row("-h, --help", "Show help information.")
    return s
  }

  private func row(_ left: String, _ right: String) -> String {
    let pad =
      left.count < 24 ? String(repeating: " ", count: 24 - left.count) : "\n" + String(repeating: " ", count: 26)
    return "  " + left + pad + right + "\n"
  }
}

/// The Levenshtein distance of two names' UTF-8 bytes, for the command line's "did you mean".
func editDistance(_ a: String, _ b: String) -> Int {
  EditDistance.distance(Array(a.utf8), Array(b.utf8), transpositions: false)
}
