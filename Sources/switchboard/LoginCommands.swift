import ArgumentParser
import Foundation

/// Saves a server and a token so later commands need neither flag.
struct Login: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a token against a server and save both for the other commands.",
        discussion: "The token is read from --token-file, SWITCHBOARD_TOKEN, or standard input (asked for on a terminal, not echoed). It is saved, readable only by you, in $SWITCHBOARD_CONFIG, else $XDG_CONFIG_HOME/switchboard/config.yaml, else $HOME/.config/switchboard/config.yaml, and sent only to the server it was saved with.")
    @Option(help: "The server (env SWITCHBOARD_SERVER).") var server: String?
    @Option(help: "A file holding the token (- for standard input).") var tokenFile: String?
    @Option(help: "A PEM file of the certificate authority that signed the server's certificate, when it is a private one (env SWITCHBOARD_CA_FILE); saved with the login.")
    var caFile: String?

    func run() async throws {
        let token = try readToken()
        guard token.hasPrefix("sbt_") else { throw ValidationError("that is not a Switchboard token (they start with sbt_)") }
        var options = ClientOptions()
        options.server = server ?? ProcessInfo.processInfo.environment["SWITCHBOARD_SERVER"] ?? ClientOptions.defaultServer
        options.token = token
        // Saved as an absolute path: later commands run from other folders.
        options.caFile = (caFile ?? ProcessInfo.processInfo.environment["SWITCHBOARD_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 })
            .map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        let api = try APIClient(options: options)
        let server = api.server
        // Any signed-in request proves the token; the smallest list will do.
        _ = try await api.call(.GET, "/api/integrations/connections?pageSize=1")
        try ClientConfig(server: server, token: token, caFile: options.caFile).save()
        print("Signed in to \(server); saved in \(ClientConfig.path)")
    }

    func readToken() throws -> String {
        let text: String
        if let tokenFile, tokenFile != "-" {
            text = try InputFile.read(tokenFile)
        } else if tokenFile == nil, let token = ProcessInfo.processInfo.environment["SWITCHBOARD_TOKEN"], !token.isEmpty {
            text = token
        } else if isatty(STDIN_FILENO) == 1, let typed = getpass("Token: ") {
            text = String(cString: typed)
        } else {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Forgets the saved server and token.
struct Logout: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Forget the token `switchboard login` saved.")

    func run() throws {
        let path = ClientConfig.path
        guard FileManager.default.fileExists(atPath: path) else { return print("Not signed in.") }
        try FileManager.default.removeItem(atPath: path)
        print("Signed out; removed \(path). `switchboard login` signs in again.")
    }
}
