import ArgumentParser
import SwitchboardServer

/// `switchboard version` (and `switchboard --version`): which release this is and how it
/// was built.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version and build.")

    /// The server module holds the numbers: `GET /api/system/server` and the hub link say them too.
    static let text = "switchboard \(SwitchboardRelease.version) (\(SwitchboardRelease.build))"

    /// Whether `arguments` ask for the version: `--version` before any `--`.
    static func isAsked(in arguments: [String]) -> Bool {
        arguments.prefix { $0 != "--" }.contains("--version")
    }

    func run() {
        print(Self.text)
    }
}
