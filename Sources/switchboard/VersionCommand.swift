import ArgumentParser

/// `switchboard version` (and `switchboard --version`): which release this is and how it
/// was built.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version and build.")

    /// The release; the OpenAPI document's `info.version` is the same number.
    static let number = "0.1.0"

    /// SwiftPM cannot stamp the git commit into a binary without a build plugin, so the
    /// build says that it carries none rather than guess one.
    static let text = "switchboard \(number) (development build)"

    /// Whether `arguments` ask for the version: `--version` before any `--`.
    static func isAsked(in arguments: [String]) -> Bool {
        arguments.prefix { $0 != "--" }.contains("--version")
    }

    func run() {
        print(Self.text)
    }
}
