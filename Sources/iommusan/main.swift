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
    case "explore": return try Commands.exploreCommand(rest)
    case "merge": return try Commands.mergeCommand(rest)
    case "conformance": return try Commands.conformanceCommand(rest)
    case "bench": return try Commands.benchCommand(rest)
    case "bench-worker": return try Commands.benchWorkerCommand(rest)
    case "help":
      guard let name = rest.first else {
        write(Commands.mainHelp, to: .standardOutput)
        return 0
      }
      guard rest.count == 1 else { throw UsageError(message: "Unexpected argument '\(rest[1])'") }
      guard let c = (Commands.all + [Commands.help]).first(where: { $0.name == name }) else {
        throw UsageError(message: "Unknown subcommand '\(name)'\(Commands.didYouMean(name))")
      }
      return Commands.printHelp(c)
    default:
      throw UsageError(message: "Unknown subcommand '\(sub)'\(Commands.didYouMean(sub))")
    }
  } catch {
    write("Error: \(error.message)\nSee 'iommusan --help'.\n", to: .standardError)
    return 2
  }
}

exit(main(CommandLine.arguments))
