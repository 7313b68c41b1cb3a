import ArgumentParser
import Foundation
import Logging
import NIOCore
import ConnectionLifecycle
import SwitchboardDrivers
import SwitchboardEngine
import SwitchboardServer
import SwitchboardStorage

@main
struct Switchboard: AsyncParsableCommand {
    /// Parses and runs, with the exit codes the client promises: 2 for a usage error
    /// (ArgumentParser's own is 64), 1 and 3 from the commands.
    static func main() async {
        do {
            var command: ParsableCommand
            do {
                command = try await asyncParseAsRoot(nil)
            } catch where VersionCommand.isAsked(in: Array(CommandLine.arguments.dropFirst())) {
                // ArgumentParser knows --version only right after the program's name; after a
                // subcommand (`switchboard serve --version`) it is an unknown option, though
                // the person asked the same thing.
                print(VersionCommand.text)
                Foundation.exit(0)
            }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let failure as ClientFailure {
            FileHandle.standardError.write(Data("switchboard: \(TerminalText.escaped(failure.message))\n".utf8))
            Foundation.exit(failure.exitCode.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(ClientExit.usage.rawValue)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        abstract: "Track and manage connections: Kubernetes clusters, Prometheus, Grafana, Helm repositories and peers.",
        version: VersionCommand.text,
        // No default subcommand: a bare `switchboard` prints this help instead of starting a
        // server in whatever folder it was typed in.
        subcommands: [Serve.self, ConnectionCommand.self, EnvironmentCommand.self, CredentialCommand.self,
                      KubeconfigCommand.self, Login.self, Logout.self, Token.self, Secrets.self, VersionCommand.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Switchboard server (embedded SQLite by default)."
    )

    @Option(help: "Address to listen on (env SWITCHBOARD_HOST).")
    var host: String = ProcessInfo.processInfo.environment["SWITCHBOARD_HOST"] ?? "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one (env SWITCHBOARD_PORT).")
    var port: Int = ProcessInfo.processInfo.environment["SWITCHBOARD_PORT"].flatMap(Int.init) ?? 9081

    @Option(name: .customLong("data-dir"), help: "Folder for the database (env SWITCHBOARD_DATA_DIR).")
    var dataDirectory: String = ProcessInfo.processInfo.environment["SWITCHBOARD_DATA_DIR"] ?? "./switchboard-data"

    @Option(help: "Seconds a verify step waits for its target.")
    var checkTimeout: Double = 5

    @Option(help: "Seconds between checks of connected and system-disconnected connections.")
    var probeInterval: Double = 15

    @Option(help: "Seconds between checks of registered connections.")
    var probeRegisteredInterval: Double = 60

    @Option(help: "Seconds one periodic check may take.")
    var probeTimeout: Double = 5

    @Option(help: "Consecutive failed checks before connected → disconnected or registered → not found.")
    var failureThreshold: Int = 3

    @Option(help: "Consecutive good checks before a system-disconnected connection reconnects.")
    var recoveryThreshold: Int = 2

    @Option(help: "Longest wait in seconds between checks of a target that stays down.")
    var maxBackoff: Double = 300

    @Option(help: "Checks in flight at once, at most.")
    var maxConcurrentProbes: Int = 256

    @Option(help: ArgumentHelp("A folder whose files connections may name as secrets (token, password, API key, kubeconfig files); repeat for several.", discussion: "Default: <data-dir>/secrets and ~/.kube."))
    var secretFilesUnder: [String] = []

    @Flag(help: "Allow targets on link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254).")
    var allowLinkLocalTargets = false

    @Flag(inversion: .prefixedNo, help: "Import $KUBECONFIG (or ~/.kube/config) at start-up (env SWITCHBOARD_IMPORT_KUBECONFIG=false turns it off).")
    var importKubeconfig: Bool = ProcessInfo.processInfo.environment["SWITCHBOARD_IMPORT_KUBECONFIG"].map { $0 != "false" && $0 != "0" } ?? true

    @Flag(inversion: .prefixedNo, help: "Move reachable discovered connections on to registered by themselves.")
    var autoRegister = true

    @Option(help: "Only these kinds auto-register (comma-separated, e.g. kubernetes,prometheus); default: every kind.")
    var autoRegisterKinds: String?

    @Option(name: .customLong("connections-file"), help: "A YAML file of declared connections, loaded at start and on SIGHUP (env SWITCHBOARD_CONNECTIONS_FILE).")
    var connectionsFileOption: String?

    var connectionsFile: String? { connectionsFileOption ?? ProcessInfo.processInfo.environment["SWITCHBOARD_CONNECTIONS_FILE"] }

    @Option(help: ArgumentHelp("A file holding the secrets key (32 random bytes, base64).", discussion: "Default: the environment variable SWITCHBOARD_SECRETS_KEY, else <data-dir>/secrets.key, generated on first start."))
    var secretsKeyFile: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (env SWITCHBOARD_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["SWITCHBOARD_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, not \(port)") }
        for (name, value) in [("--check-timeout", checkTimeout), ("--probe-interval", probeInterval),
                              ("--probe-registered-interval", probeRegisteredInterval), ("--probe-timeout", probeTimeout),
                              ("--max-backoff", maxBackoff)] where value <= 0 {
            throw ValidationError("\(name) must be a positive number of seconds, not \(value)")
        }
        for (name, value) in [("--failure-threshold", failureThreshold), ("--recovery-threshold", recoveryThreshold),
                              ("--max-concurrent-probes", maxConcurrentProbes)] where value < 1 {
            throw ValidationError("\(name) must be at least 1, not \(value)")
        }
        if let autoRegisterKinds {
            let known = Set(KindCatalog.builtIn.names)
            for kind in autoRegisterKinds.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) })
            where !known.contains(kind) {
                throw ValidationError("--auto-register-kinds: unknown kind '\(kind)'; known kinds: \(known.sorted().joined(separator: ", "))")
            }
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        let policy = HealthPolicy(
            interval: .seconds(probeInterval), registeredInterval: .seconds(probeRegisteredInterval),
            timeout: .seconds(probeTimeout), failureThreshold: failureThreshold,
            recoveryThreshold: recoveryThreshold, maxBackoff: .seconds(maxBackoff))
        let configuration = ServerConfiguration(
            host: host, port: port, dataDirectory: dataDirectory,
            checkTimeout: .seconds(checkTimeout),
            monitor: HealthMonitorConfiguration(policy: policy, maxConcurrentProbes: maxConcurrentProbes),
            outbound: OutboundPolicy(allowLinkLocal: allowLinkLocalTargets),
            secretFileDirectories: secretFilesUnder.isEmpty
                ? [URL(fileURLWithPath: dataDirectory).appendingPathComponent("secrets").path,
                   FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".kube").path]
                : secretFilesUnder,
            autoRegister: autoRegister,
            autoRegisterKinds: autoRegisterKinds.map { Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }) },
            startupKubeconfigs: importKubeconfig ? Self.operatorKubeconfigs() : [],
            connectionsFile: connectionsFile,
            secretsKey: secretsKeyFile.map(SecretsKeySource.file)
                ?? ProcessInfo.processInfo.environment["SWITCHBOARD_SECRETS_KEY"].map(SecretsKeySource.base64)
                ?? .dataDirectory
        )
        if let connectionsFile, !FileManager.default.isReadableFile(atPath: connectionsFile) {
            throw ValidationError("--connections-file \(connectionsFile) cannot be read")
        }
        do {
            try await SwitchboardApp.run(configuration, logger: logger, onAdminToken: { token, file in
                let text = "First start: created the user admin and this API token (shown once; also saved in \(file), mode 0600):\n  \(token)\n"
                FileHandle.standardOutput.write(Data(text.utf8))
            }, onNoAdminToken: { [dataDirectory] in
                // Said where the first-start token would be: the person starting the server reads it.
                // The folder is quoted for a shell when it needs to be, so the line can be pasted.
                let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "/._-+,:@%="))
                let folder = dataDirectory.unicodeScalars.allSatisfy(safe.contains) ? dataDirectory
                    : "'" + dataDirectory.replacingOccurrences(of: "'", with: "'\\''") + "'"
                let text = "No admin has a token that is not revoked, and none is made by itself (that would undo the revocation). Make one, on this machine, while the server runs or not:\n  switchboard token create --data-dir \(TerminalText.escaped(folder)) --user admin --role admin --name recovery\n"
                FileHandle.standardOutput.write(Data(text.utf8))
            }) { address in
                // The one line a person starting the server needs; logs go to standard error.
                let line = "Switchboard is running: web page and API at \(address)/ (API under \(address)/api, OpenAPI at \(address)/api/openapi.yaml)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            }
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            // NIO's own words ("bind(descriptor:ptr:bytes:): Address already in use") name neither
            // the address nor a way out.
            let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            throw ClientFailure(exitCode: .failure, message: "cannot listen on \(address): another program is using it (an earlier switchboard serve?); stop it, or start with another --port (--port 0 picks a free one)")
        }
    }

    /// The kubeconfigs kubectl would read: every existing file in `$KUBECONFIG`, else
    /// `~/.kube/config` when it exists.
    static func operatorKubeconfigs() -> [String] {
        let existing = { (path: String) in FileManager.default.isReadableFile(atPath: path) }
        if let list = ProcessInfo.processInfo.environment["KUBECONFIG"], !list.isEmpty {
            return list.split(separator: ":").map(String.init).filter(existing)
        }
        let home = FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".kube/config").path
        return existing(home) ? [home] : []
    }
}

struct Secrets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the key credentials are encrypted with.",
        subcommands: [RotateKey.self]
    )

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Put a new key in front of the key file and re-seal every credential with it; a running server follows."
        )

        @Option(name: .customLong("data-dir"), help: "The server's data folder (env SWITCHBOARD_DATA_DIR).")
        var dataDirectory: String = ProcessInfo.processInfo.environment["SWITCHBOARD_DATA_DIR"] ?? "./switchboard-data"

        @Option(help: "The key file, when the server runs with --secrets-key-file. Default: <data-dir>/secrets.key.")
        var secretsKeyFile: String?

        @Flag(help: "Then drop the old keys from the key file (after every credential is re-sealed).")
        var retireOldKeys = false

        func run() async throws {
            if secretsKeyFile == nil, ProcessInfo.processInfo.environment["SWITCHBOARD_SECRETS_KEY"] != nil {
                throw ValidationError("SWITCHBOARD_SECRETS_KEY holds the key itself; rotation needs a key file (--secrets-key-file)")
            }
            let data = URL(fileURLWithPath: dataDirectory)
            let keyFile = secretsKeyFile ?? data.appendingPathComponent("secrets.key").path
            let report = try await SecretsRotation.run(
                keyFile: keyFile, databasePath: data.appendingPathComponent("switchboard.sqlite").path,
                retireOldKeys: retireOldKeys)
            let retired = report.retired ? "old keys retired" : "old keys kept in \(keyFile) (--retire-old-keys drops them)"
            print("new key \(report.newKeyId); re-sealed \(Output.counted(report.resealed, "credential")); \(retired)")
        }
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API tokens (run on the server's machine, against its data folder).",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct DataFolder: ParsableArguments {
        @Option(name: .customLong("data-dir"), help: "The server's data folder (env SWITCHBOARD_DATA_DIR).")
        var dataDirectory: String = ProcessInfo.processInfo.environment["SWITCHBOARD_DATA_DIR"] ?? "./switchboard-data"

        func tokens() throws -> TokenService {
            let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent("switchboard.sqlite").path
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("no database at \(path); name the server's --data-dir")
            }
            return TokenService(store: try SQLiteConnectionStore(path: path),
                                revocations: RevocationMarker(dataDirectory: dataDirectory))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token for a user (created when new); prints it once.")
        @OptionGroup var folder: DataFolder
        @Option(help: "The user the token acts as.") var user: String
        @Option(help: "admin or member.") var role: String = "member"
        @Option(help: "How long it is valid, e.g. 30d, 12h, 90m (default: until revoked).") var expires: String?
        @Option(help: "A name to tell tokens apart.") var name: String?

        func validate() throws {
            guard User.Role(rawValue: role) != nil else { throw ValidationError("--role must be admin or member, not \(role)") }
            if let expires, Token.duration(expires) == nil {
                throw ValidationError("--expires must be a number and a unit (d, h, m or s), e.g. 30d, not \(expires)")
            }
        }

        func run() async throws {
            let issued = try await folder.tokens().issue(
                for: user, role: User.Role(rawValue: role) ?? .member, expiresIn: expires.flatMap(Token.duration), name: name)
            print(issued.token)
            let until = issued.record.expiresAt.map { "until \($0.formatted(.iso8601))" } ?? "until revoked"
            FileHandle.standardError.write(Data("token \(issued.record.id.lowercasedString) for \(issued.user.name) (\(issued.user.role.rawValue)), valid \(until); it is shown only now\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every token: id, user, role, created, expires, revoked.")
        @OptionGroup var folder: DataFolder

        func run() async throws {
            print(["ID", "USER", "ROLE", "NAME", "CREATED", "EXPIRES", "REVOKED"].joined(separator: "\t"))
            for (token, user) in try await folder.tokens().list() {
                print([token.id.lowercasedString, TerminalText.escaped(user.name), user.role.rawValue,
                       TerminalText.escaped(token.name ?? "-"),
                       token.createdAt.formatted(.iso8601), token.expiresAt?.formatted(.iso8601) ?? "-",
                       token.revokedAt?.formatted(.iso8601) ?? "-"].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token at once.")
        @OptionGroup var folder: DataFolder
        @Argument(help: "The token's id (from token list).") var id: String

        func run() async throws {
            guard let uuid = UUID(uuidString: id) else { throw ValidationError("\(id) is not a token id") }
            let warning = try await folder.tokens().revoke(uuid)
            print("revoked \(uuid.lowercasedString)")
            if let warning { FileHandle.standardError.write(Data("switchboard: warning: \(warning)\n".utf8)) }
        }
    }

    /// `30d`, `12h`, `90m`, `45s`.
    static func duration(_ text: String) -> Duration? {
        guard let unit = text.last, let number = Int(text.dropLast()), number > 0 else { return nil }
        let scale: Int
        switch unit {
        case "d": scale = 86_400
        case "h": scale = 3_600
        case "m": scale = 60
        case "s": scale = 1
        default: return nil
        }
        let (seconds, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow || seconds > 100 * 365 * 86_400 ? nil : .seconds(seconds)
    }
}
