import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardDrivers
import Yams

/// How the client commands end: 0 success, 1 the server refused the request, 2 a usage
/// error, 3 the server could not be reached.
enum ClientExit {
    static let rejected = ExitCode(1)
    static let usage = ExitCode(2)
    static let unreachable = ExitCode(3)
}

/// Where the server is and who asks, shared by every client command.
struct ClientOptions: ParsableArguments {
    @Option(help: "The server (env SWITCHBOARD_SERVER).")
    var server: String = ProcessInfo.processInfo.environment["SWITCHBOARD_SERVER"] ?? "http://127.0.0.1:9081"

    @Option(help: "An API token (env SWITCHBOARD_TOKEN).")
    var token: String? = ProcessInfo.processInfo.environment["SWITCHBOARD_TOKEN"]
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

/// One request to the server; problems are printed as their detail and end the command
/// with the right exit code.
struct APIClient {
    let options: ClientOptions

    func call(_ method: HTTPMethod, _ path: String, body: String? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: options.server.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)
        request.method = method
        if let token = options.token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        // A refused connection fails at once instead of being retried until the deadline.
        let client = OutboundHTTP.makeClient()
        let response: HTTPClientResponse
        let data: Data
        do {
            response = try await client.execute(request, timeout: .seconds(60))
            data = Data(try await response.body.collect(upTo: 32 << 20).readableBytesView)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            FileHandle.standardError.write(Data("switchboard: cannot reach \(options.server): \(OutboundHTTP.describe(error))\n".utf8))
            throw ClientExit.unreachable
        }
        guard (200..<300).contains(response.status.code) else {
            let problem = try? JSONDecoder().decode(ProblemText.self, from: data)
            FileHandle.standardError.write(Data("switchboard: \(problem?.detail ?? "HTTP \(response.status.code)")\n".utf8))
            throw ClientExit.rejected
        }
        return data
    }

    struct ProblemText: Decodable { var detail: String }
}

/// Prints an API answer as JSON, YAML or a table of `columns` (key paths into each row).
enum Output {
    static func print(_ data: Data, as format: OutputFormat, rows: String? = nil,
                      columns: [(title: String, key: String)] = [], footer: ((Any) -> String?)? = nil) throws {
        let value = try JSONSerialization.jsonObject(with: data)
        switch format {
        case .json:
            let pretty = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
            Swift.print(String(decoding: pretty, as: UTF8.self))
        case .yaml:
            Swift.print(try Yams.dump(object: plain(value)), terminator: "")
        case .table:
            let items: [[String: Any]] = rows.flatMap { (value as? [String: Any])?[$0] as? [[String: Any]] }
                ?? [(value as? [String: Any]) ?? [:]]
            let cells = items.map { item in columns.map { text(item, $0.key) } }
            let widths = columns.indices.map { index in
                max(columns[index].title.count, cells.map { $0[index].count }.max() ?? 0)
            }
            func line(_ values: [String]) -> String {
                zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            }
            Swift.print(line(columns.map(\.title)))
            for row in cells { Swift.print(line(row)) }
            if let footer, let text = footer(value) { Swift.print(text) }
        }
    }

    /// JSON numbers as YAML should show them: whole numbers as integers, flags as booleans.
    static func plain(_ value: Any) -> Any {
        switch value {
        case let object as [String: Any]: return object.mapValues(plain)
        case let array as [Any]: return array.map(plain)
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": return number.boolValue
            case "d", "f": return number.doubleValue
            default: return number.int64Value
            }
        default: return value
        }
    }

    /// The value at a dotted key path, as text.
    static func text(_ item: [String: Any], _ path: String) -> String {
        var current: Any? = item
        for key in path.split(separator: ".") { current = (current as? [String: Any])?[String(key)] }
        switch current {
        case let array as [Any]: return array.map { "\($0)" }.joined(separator: ",")
        case let string as String: return string
        case let number as NSNumber: return number.stringValue
        case nil, is NSNull: return "-"
        case let other?: return "\(other)"
        }
    }
}

struct ConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connection",
        abstract: "List, view, change and follow connections on a server.",
        subcommands: [List.self, View.self, Transition.self, Delete.self, Ping.self, Events.self]
    )

    static let columns: [(title: String, key: String)] = [
        ("ID", "id"), ("NAME", "name"), ("KIND", "kind"), ("STATUS", "status"), ("HEALTH", "health.state"),
        ("ENVIRONMENTS", "environments"), ("UPDATED", "updatedAt"),
    ]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connections, with a status summary.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Option(help: "Only these kinds (repeatable).") var kind: [String] = []
        @Option(help: "Only these statuses (repeatable).") var status: [String] = []
        @Option(help: "Only members of these environments (repeatable).") var environment: [String] = []
        @Option(help: "Name or URL contains.") var search: String?
        @Option(help: "Page, from 0.") var page: Int = 0
        @Option(help: "Rows per page (1 to 100).") var pageSize: Int = 25

        func run() async throws {
            var query = URLComponents()
            query.queryItems = [URLQueryItem(name: "page", value: "\(page)"), URLQueryItem(name: "pageSize", value: "\(pageSize)")]
                + kind.map { URLQueryItem(name: "kind", value: $0) } + status.map { URLQueryItem(name: "status", value: $0) }
                + environment.map { URLQueryItem(name: "environment", value: $0) }
                + (search.map { [URLQueryItem(name: "search", value: $0)] } ?? [])
            let data = try await APIClient(options: client).call(.GET, "/api/integrations/connections?\(query.percentEncodedQuery ?? "")")
            try Output.print(data, as: output, rows: "connections", columns: ConnectionCommand.columns) { value in
                guard let page = value as? [String: Any], let summary = page["statusSummary"] as? [String: Any] else { return nil }
                let counts = summary.keys.sorted().map { "\($0) \(summary[$0] ?? 0)" }.joined(separator: ", ")
                return "\(page["totalCount"] ?? 0) connections: \(counts.isEmpty ? "none" : counts)"
            }
        }
    }

    struct View: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One connection.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The connection's id.") var id: String

        func run() async throws {
            let data = try await APIClient(options: client).call(.GET, "/api/integrations/connections/\(id)")
            try Output.print(data, as: output, columns: ConnectionCommand.columns + [("URL", "url")])
        }
    }

    struct Transition: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move one or many connections; one line per id.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Connection ids.") var ids: [String]
        @Option(help: "The status to move to.") var to: String
        @Option(help: "Why (kept in the history).") var reason: String?

        func validate() throws {
            guard !ids.isEmpty else { throw ValidationError("name at least one connection id") }
        }

        func run() async throws {
            struct Body: Encodable { var ids: [String]; var status: String; var reason: String? }
            let body = String(decoding: try JSONEncoder().encode(Body(ids: ids, status: to, reason: reason)), as: UTF8.self)
            let data = try await APIClient(options: client).call(.POST, "/api/integrations/connections/transitions", body: body)
            struct Answer: Decodable {
                var results: [Result]
                struct Result: Decodable {
                    var id: String
                    var ok: Bool
                    var status: String?
                    var error: APIClient.ProblemText?
                }
            }
            let answer = try JSONDecoder().decode(Answer.self, from: data)
            for result in answer.results {
                print(result.ok ? "\(result.id)  \(result.status ?? to)" : "\(result.id)  failed: \(result.error?.detail ?? "refused")")
            }
            if answer.results.contains(where: { !$0.ok }) { throw ClientExit.rejected }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete connections (they stay as tombstones).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Connection ids.") var ids: [String]

        func run() async throws {
            var failed = false
            for id in ids {
                do {
                    _ = try await APIClient(options: client).call(.DELETE, "/api/integrations/connections/\(id)")
                    print("\(id)  deleted")
                } catch let code as ExitCode where code == ClientExit.rejected {
                    failed = true
                }
            }
            if failed { throw ClientExit.rejected }
        }
    }

    struct Ping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a connection now (its status does not change).")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The connection's id.") var id: String

        func run() async throws {
            let data = try await APIClient(options: client).call(.POST, "/api/integrations/connections/\(id)/ping")
            try Output.print(data, as: output, columns: [("ID", "connectionId"), ("STATUS", "status"), ("HEALTH", "health"),
                                                        ("REACHABLE", "reachable"), ("LATENCY MS", "latencyMs"), ("ERROR", "error")])
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A connection's history, newest first.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The connection's id.") var id: String

        func run() async throws {
            let data = try await APIClient(options: client).call(.GET, "/api/integrations/connections/\(id)/events?pageSize=100")
            try Output.print(data, as: output, rows: "events", columns: [
                ("SEQUENCE", "sequence"), ("FROM", "from"), ("TO", "to"), ("ACTOR", "actor"), ("REASON", "reason"), ("AT", "createdAt"),
            ])
        }
    }
}
