import ArgumentParser
import Foundation
import Logging
import SwitchboardServer

@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Track and manage connections: Kubernetes clusters, Prometheus, Grafana, Helm repositories and peers.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self
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

    @Option(help: "trace, debug, info, notice, warning, error or critical (env SWITCHBOARD_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["SWITCHBOARD_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, not \(port)") }
        guard checkTimeout > 0 else { throw ValidationError("--check-timeout must be positive") }
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
        let configuration = ServerConfiguration(
            host: host, port: port, dataDirectory: dataDirectory,
            checkTimeout: .milliseconds(Int64(checkTimeout * 1000))
        )
        try await SwitchboardApp.run(configuration, logger: logger) { address in
            // The one line a person starting the server needs; logs go to standard error.
            let line = "Switchboard is running: web page and API at \(address)/ (API under \(address)/api, OpenAPI at \(address)/api/openapi.yaml)\n"
            FileHandle.standardOutput.write(Data(line.utf8))
        }
    }
}
