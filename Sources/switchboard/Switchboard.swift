import ArgumentParser
import Foundation
import StoreBackends
import Logging
import NIOCore
import ConnectionLifecycle
import SwitchboardDrivers
import SwitchboardEngine
import SwitchboardServer
import StoreContract

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
                      KubeconfigCommand.self, Login.self, Logout.self, Token.self, Secrets.self, Backup.self, Store.self,
                      VersionCommand.self]
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Switchboard server (embedded SQLite by default).",
        discussion: "Every setting comes from its flag, else the environment variable SWITCHBOARD_<NAME> (e.g. SWITCHBOARD_PROBE_INTERVAL), else the --config file (YAML, the flags' names as keys), else its default."
    )

    @Option(help: "A YAML file of serve settings, read under the flags and environment variables (env SWITCHBOARD_SERVE_CONFIG).")
    var config: String?

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "Port to listen on; 0 picks a free one (default 9081).")
    var port: Int?

    @Option(name: .customLong("data-dir"), help: "Folder for the SQLite database, the secrets key and the admin token (default ./switchboard-data).")
    var dataDirectory: String?

    @Option(name: [.customLong("database"), .customLong("database-url")],
            help: ArgumentHelp("Keep connections in this PostgreSQL database instead of SQLite (env SWITCHBOARD_DATABASE_URL).",
                               discussion: "postgres://user:password@host:5432/database?sslmode=verify-full (sslmode as libpq's: disable, prefer, require, verify-ca, verify-full; default disable on loopback, else prefer)."))
    var database: String?

    @Option(help: "Serve HTTPS with this PEM certificate (a chain: the server's first); reloaded on SIGHUP. Needs --tls-key.")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert (unencrypted); reloaded on SIGHUP.")
    var tlsKey: String?

    @Option(help: "Seconds a verify step waits for its target (default 5).")
    var checkTimeout: Double?

    @Option(help: "Seconds between checks of connected and system-disconnected connections (default 15).")
    var probeInterval: Double?

    @Option(help: "Seconds between checks of registered connections (default 60).")
    var probeRegisteredInterval: Double?

    @Option(help: "Seconds one periodic check may take (default 5).")
    var probeTimeout: Double?

    @Option(help: "Consecutive failed checks before connected → disconnected or registered → not found (default 3).")
    var failureThreshold: Int?

    @Option(help: "Consecutive good checks before a system-disconnected connection reconnects (default 2).")
    var recoveryThreshold: Int?

    @Option(help: "Longest wait in seconds between checks of a target that stays down (default 300).")
    var maxBackoff: Double?

    @Option(help: "Checks in flight at once, at most (default 256).")
    var maxConcurrentProbes: Int?

    @Option(help: ArgumentHelp("A folder whose files connections may name as secrets (token, password, API key, kubeconfig files); repeat for several.", discussion: "Default: <data-dir>/secrets and ~/.kube."))
    var secretFilesUnder: [String] = []

    @Flag(help: "Allow targets on link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10, fd00:ec2::254).")
    var allowLinkLocalTargets = false

    @Flag(inversion: .prefixedNo, help: "Import $KUBECONFIG (or ~/.kube/config) at start-up (default on).")
    var importKubeconfig: Bool?

    @Flag(inversion: .prefixedNo, help: "Move reachable discovered connections on to registered by themselves (default on).")
    var autoRegister: Bool?

    @Option(help: "Only these kinds auto-register (comma-separated, e.g. kubernetes,prometheus); default: every kind.")
    var autoRegisterKinds: String?

    @Option(name: .customLong("connections-file"), help: "A YAML file of declared connections, loaded at start and on SIGHUP.")
    var connectionsFile: String?

    @Option(help: ArgumentHelp("A file holding the secrets key (32 random bytes, base64).", discussion: "Default: the environment variable SWITCHBOARD_SECRETS_KEY, else <data-dir>/secrets.key, generated on first start."))
    var secretsKeyFile: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(help: "Seconds a spoke server's heartbeat keeps it connected on this hub; then it becomes disconnected (default 40).")
    var hubLease: Double?

    @Option(help: "This replica's id among those serving one PostgreSQL database (default: host name and port).")
    var replicaId: String?

    @Option(help: "Seconds a replica's last heartbeat keeps it a member; then the others take over its connections (default 15).")
    var memberTtl: Double?
    @Option(help: "The URL other servers and people reach this server at, told to the hub (default: the address it listens on).")
    var advertiseUrl: String?

    @Option(help: "Register with this Switchboard hub (its base URL) and heartbeat to it; needs --hub-token-file.")
    var hub: String?

    @Option(help: "A file holding the token the hub issued for this server; read again before each request.")
    var hubTokenFile: String?

    @Option(help: "Seconds between heartbeats to the hub (default 10).")
    var hubHeartbeat: Double?

    @Flag(help: "Allow a plain http:// hub on another machine (the token then crosses the network unencrypted).")
    var hubAllowHttp = false

    @Option(help: "A PEM file of CA certificates to trust for the hub's HTTPS, besides the system's.")
    var hubCaFile: String?

    /// The settings after flags, environment, file and defaults, checked.
    struct Resolved {
        var server: ServerConfiguration
        var logLevel: Logger.Level
        /// Each setting's value and where it came from, for the start-up log.
        var sources: [(key: String, value: String, source: String)]
    }

    func resolve() async throws -> Resolved {
        let environment = ProcessInfo.processInfo.environment
        let settings = try await ServeSettings.load(
            configFile: config ?? environment["SWITCHBOARD_SERVE_CONFIG"].flatMap { $0.isEmpty ? nil : $0 })
        var sources: [(key: String, value: String, source: String)] = []
        func note<Value>(_ key: String, _ setting: ServeSettings.Setting<Value>) -> Value {
            sources.append((key, "\(setting.value)", setting.source))
            return setting.value
        }
        let host = note("host", try await settings.string("host", flag: host, default: "127.0.0.1"))
        let portSetting = try await settings.int("port", flag: port, default: 9081)
        guard (0...65535).contains(portSetting.value) else {
            throw ValidationError("port must be from 0 to 65535, not \(portSetting.value) (from \(portSetting.source))")
        }
        let port = note("port", portSetting)
        let dataDirectory = note("data-dir", try await settings.path("data-dir", flag: dataDirectory)
            ?? .init(value: "./switchboard-data", source: "default"))
        // Noted without its password.
        let databaseURL = try await settings.string("database-url", flag: database)
        if let databaseURL { sources.append(("database-url", StoreLocation.postgres(url: databaseURL.value).description, databaseURL.source)) }
        // Each default is written once, here.
        func seconds(_ key: String, _ flag: Double?, default value: Double) async throws -> Duration {
            let setting = try await settings.seconds(key, flag: flag, default: value)
            // A bound far above any sensible value: Duration traps on seconds beyond Int64.
            guard setting.value > 0, setting.value <= 1_000_000_000 else {
                throw ValidationError("\(key) must be a number of seconds above 0 and at most 1000000000, not \(setting.value) (from \(setting.source))")
            }
            return .seconds(note(key, setting))
        }
        func count(_ key: String, _ flag: Int?, default value: Int) async throws -> Int {
            let setting = try await settings.int(key, flag: flag, default: value)
            guard setting.value >= 1 else {
                throw ValidationError("\(key) must be at least 1, not \(setting.value) (from \(setting.source))")
            }
            return note(key, setting)
        }
        let checkTimeout = try await seconds("check-timeout", checkTimeout, default: 5)
        let policy = HealthPolicy(
            interval: try await seconds("probe-interval", probeInterval, default: 15),
            registeredInterval: try await seconds("probe-registered-interval", probeRegisteredInterval, default: 60),
            timeout: try await seconds("probe-timeout", probeTimeout, default: 5),
            failureThreshold: try await count("failure-threshold", failureThreshold, default: 3),
            recoveryThreshold: try await count("recovery-threshold", recoveryThreshold, default: 2),
            maxBackoff: try await seconds("max-backoff", maxBackoff, default: 300))
        let maxConcurrentProbes = try await count("max-concurrent-probes", maxConcurrentProbes, default: 256)
        let memberTTL = try await seconds("member-ttl", memberTtl, default: 15)
        guard memberTTL >= .seconds(1), memberTTL <= .seconds(3600) else {
            throw ValidationError("member-ttl must be between 1 and 3600 seconds, not \(memberTTL)")
        }
        let replicaId = try await settings.string("replica-id", flag: replicaId)
        if let replicaId, let problem = ReplicaIdentity.check(replicaId.value) {
            throw ValidationError("\(problem) (\(replicaId.source))")
        }
        let hubLease = try await seconds("hub-lease", hubLease, default: 40)
        guard hubLease <= .seconds(86_400) else {
            throw ValidationError("hub-lease must be at most 86400 seconds (a day), not \(hubLease.components.seconds)")
        }
        let secretFiles = try await settings.paths("secret-files-under", flag: secretFilesUnder.isEmpty ? nil : secretFilesUnder)
            .map { note("secret-files-under", $0) }
        let allowLinkLocal = note("allow-link-local-targets",
                                  try await settings.bool("allow-link-local-targets", flag: allowLinkLocalTargets ? true : nil, default: false))
        let importKubeconfig = note("import-kubeconfig", try await settings.bool("import-kubeconfig", flag: importKubeconfig, default: true))
        let autoRegister = note("auto-register", try await settings.bool("auto-register", flag: autoRegister, default: true))
        let kindsFlag = autoRegisterKinds.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        let kindsSetting = try await settings.strings("auto-register-kinds", flag: kindsFlag)
        if let kindsSetting {
            let known = Set(KindCatalog.builtIn.names)
            for kind in kindsSetting.value where !known.contains(kind) {
                throw ValidationError("auto-register-kinds: unknown kind '\(kind)' (from \(kindsSetting.source)); known kinds: \(known.sorted().joined(separator: ", "))")
            }
        }
        let kinds = kindsSetting.map { note("auto-register-kinds", $0) }
        let connectionsFile = try await settings.path("connections-file", flag: connectionsFile)
        if let connectionsFile, !FileManager.default.isReadableFile(atPath: connectionsFile.value) {
            throw ValidationError("connections-file \(connectionsFile.value) cannot be read (from \(connectionsFile.source))")
        }
        let keyFile = try await settings.path("secrets-key-file", flag: secretsKeyFile)
        let levelSetting = try await settings.string("log-level", flag: logLevel, default: "info")
        guard let level = Logger.Level(rawValue: levelSetting.value) else {
            throw ValidationError("log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")), not '\(levelSetting.value)' (from \(levelSetting.source))")
        }
        _ = note("log-level", levelSetting)
        let certificate = try await settings.path("tls-cert", flag: tlsCert)
        let key = try await settings.path("tls-key", flag: tlsKey)
        switch (certificate, key) {
        case (let certificate?, nil):
            throw ValidationError("tls-cert is set (from \(certificate.source)) but tls-key is not: HTTPS needs both (--tls-key FILE)")
        case (nil, let key?):
            throw ValidationError("tls-key is set (from \(key.source)) but tls-cert is not: HTTPS needs both (--tls-cert FILE)")
        default: break
        }
        for (name, setting) in [("connections-file", connectionsFile), ("secrets-key-file", keyFile),
                                ("tls-cert", certificate), ("tls-key", key)] {
            if let setting { _ = note(name, setting) }
        }
        let (advertiseURL, hub) = try await resolveHub(settings, sources: &sources)

        // A key file named anywhere wins over the key itself in SWITCHBOARD_SECRETS_KEY.
        let secretsKey = keyFile.map { SecretsKeySource.file($0.value) }
            ?? environment["SWITCHBOARD_SECRETS_KEY"].map(SecretsKeySource.base64)
            ?? .dataDirectory
        var server = ServerConfiguration(
            host: host, port: port, dataDirectory: dataDirectory,
            checkTimeout: checkTimeout,
            monitor: HealthMonitorConfiguration(policy: policy, maxConcurrentProbes: maxConcurrentProbes),
            outbound: OutboundPolicy(allowLinkLocal: allowLinkLocal),
            secretFileDirectories: secretFiles
                ?? [URL(fileURLWithPath: dataDirectory).appendingPathComponent("secrets").path,
                    FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".kube").path],
            autoRegister: autoRegister,
            autoRegisterKinds: kinds.map(Set.init),
            startupKubeconfigs: importKubeconfig ? Self.operatorKubeconfigs() : [],
            connectionsFile: connectionsFile?.value,
            secretsKey: secretsKey,
            tls: certificate.flatMap { certificate in key.map { TLSFiles(certificate: certificate.value, key: $0.value) } },
            advertiseURL: advertiseURL,
            hub: hub
        )
        server.hubLease = hubLease
        server.memberTTL = memberTTL
        server.replicaId = replicaId?.value
        server.databaseURL = databaseURL?.value
        return Resolved(server: server, logLevel: level, sources: sources)
    }

    func run() async throws {
        let resolved: Resolved
        do {
            resolved = try await resolve()
        } catch let error as ValidationError {
            // The setting and its source say it all; a usage summary of every command would not help.
            throw ClientFailure(exitCode: ClientExit.usage, message: error.message)
        }
        let level = resolved.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "switchboard")
        // Where each setting came from: the first thing to look at when one seems ignored.
        logger.info("settings", metadata: Logger.Metadata(uniqueKeysWithValues: resolved.sources.map {
            ($0.key, .string("\($0.value) (\($0.source))"))
        }))
        let configuration = resolved.server
        do {
            try await SwitchboardApp.run(configuration, logger: logger, onAdminToken: { token, file in
                let text = "First start: created the user admin and this API token (shown once; also saved in \(file), mode 0600):\n  \(token)\n"
                FileHandle.standardOutput.write(Data(text.utf8))
            }, onNoAdminToken: { [dataDirectory = configuration.dataDirectory] in
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
            let host = configuration.host, port = configuration.port
            let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            throw ClientFailure(exitCode: .failure, message: "cannot listen on \(address): another program is using it (an earlier switchboard serve?); stop it, or start with another --port (--port 0 picks a free one)")
        } catch let error as ListenerCertificateError {
            throw ClientFailure(exitCode: .failure, message: "cannot serve HTTPS: \(error)")
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

struct Store: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Move the store between backends.",
        subcommands: [Copy.self]
    )

    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a SQLite data folder's database into an empty PostgreSQL database (stop the server first).",
            discussion: "Connections and their history, credentials (still sealed: keep the data folder's secrets key), environments, users, tokens and the server id. Refuses a database that already holds data; checks every table's count. Then start the server with --database."
        )

        @Option(help: "The data folder whose SQLite database is copied.")
        var from: String

        @Option(help: "The PostgreSQL database to copy into: postgres://user:password@host:5432/database?sslmode=…")
        var to: String

        func run() async throws {
            let copied = try await StoreMove.copy(dataDirectory: from, to: to, logger: Logger(label: "switchboard"))
            for (table, rows) in copied { print("\(table)\t\(rows)") }
            print("copied \(Output.counted(copied.first { $0.table == "connections" }?.rows ?? 0, "connection")) into \(StoreLocation.postgres(url: to)); start the server with --database")
        }
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

        @Option(name: [.customLong("database"), .customLong("database-url")],
                help: "The server's PostgreSQL database, when it runs on one (env SWITCHBOARD_DATABASE_URL).")
        var database: String? = ProcessInfo.processInfo.environment["SWITCHBOARD_DATABASE_URL"]

        @Flag(help: "Then drop the old keys from the key file (after every credential is re-sealed).")
        var retireOldKeys = false

        func run() async throws {
            if secretsKeyFile == nil, ProcessInfo.processInfo.environment["SWITCHBOARD_SECRETS_KEY"] != nil {
                throw ValidationError("SWITCHBOARD_SECRETS_KEY holds the key itself; rotation needs a key file (--secrets-key-file)")
            }
            let data = URL(fileURLWithPath: dataDirectory)
            let keyFile = secretsKeyFile ?? data.appendingPathComponent("secrets.key").path
            let report = try await SecretsRotation.run(
                keyFile: keyFile,
                store: database.map { .postgres(url: $0) } ?? .sqlite(path: data.appendingPathComponent("switchboard.sqlite").path),
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

        @Option(name: [.customLong("database"), .customLong("database-url")],
                help: "The server's PostgreSQL database, when it runs on one (env SWITCHBOARD_DATABASE_URL).")
        var database: String? = ProcessInfo.processInfo.environment["SWITCHBOARD_DATABASE_URL"]

        func tokens() throws -> TokenService {
            let store: any ConnectionStore
            if let database {
                store = try StoreBackends.open(.postgres(url: database))
            } else {
                let path = URL(fileURLWithPath: dataDirectory).appendingPathComponent("switchboard.sqlite").path
                guard FileManager.default.fileExists(atPath: path) else {
                    throw ValidationError("no database at \(path); name the server's --data-dir (or --database)")
                }
                store = try StoreBackends.open(.sqlite(path: path))
            }
            // Revocations are also marked in the data folder, for the servers that use it.
            return TokenService(store: store, revocations: RevocationMarker(dataDirectory: dataDirectory))
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token for a user (created when new); prints it once.")
        @OptionGroup var folder: DataFolder
        @Option(help: "The user the token acts as.") var user: String
        @Option(help: "admin, member, or server (a spoke server registering with this hub: may only register and heartbeat).") var role: String = "member"
        @Option(help: "How long it is valid, e.g. 30d, 12h, 90m (default: until revoked).") var expires: String?
        @Option(help: "A name to tell tokens apart.") var name: String?

        func validate() throws {
            guard User.Role(rawValue: role) != nil else { throw ValidationError("--role must be admin, member or server, not \(role)") }
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
