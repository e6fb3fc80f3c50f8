import Foundation

/// `iommusan`: the entry point. Exit status 0: nothing reported; 1: reports
/// (or failing fixtures); 2: usage, input or internal errors.
func main(_ argv: [String]) -> Int32 {
  let args = Array(argv.dropFirst())
  guard let sub = args.first else {
    write(Commands.mainHelp, to: .standardOutput)
    return 0
  }
  let rest = Array(args.dropFirst())
  do throws(UsageError) {
    switch sub {
    case "-h", "--help":
      write(Commands.mainHelp, to: .standardOutput)
      return 0
    case "--version":
      write("iommusan 0.1.0 (fixture language v1)\n", to: .standardOutput)
      return 0
    case "run": return try Commands.runCommand(rest)
    case "check": return try Commands.checkCommand(rest)
    case "explain": return try Commands.explainCommand(rest)
    case "replay": return try Commands.replayCommand(rest)
    case "bench": return try Commands.benchCommand(rest)
    case "bench-worker": return try Commands.benchWorkerCommand(rest)
    case "help":
      guard let name = rest.first else {
        write(Commands.mainHelp, to: .standardOutput)
        return 0
      }
      guard let c = Commands.all.first(where: { $0.name == name }) else {
        throw UsageError(message: "Unknown subcommand '\(name)'")
      }
      return Commands.printHelp(c)
    default:
      let names = Commands.all.map(\.name) + ["help"]
      let hint =
        names.min { editDistance($0, sub) < editDistance($1, sub) }.flatMap {
          editDistance($0, sub) <= 2 ? " (did you mean '\($0)'?)" : nil
        } ?? ""
      throw UsageError(message: "Unknown subcommand '\(sub)'\(hint)")
    }
  } catch {
    write("Error: \(error.message)\nSee 'iommusan --help'.\n", to: .standardError)
    return 2
  }
}

exit(main(CommandLine.arguments))
