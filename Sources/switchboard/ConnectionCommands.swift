import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import ConnectionLifecycle
import SwitchboardDrivers

struct ConnectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connection",
        abstract: "List, view, change and follow connections on a server.",
        subcommands: [List.self, View.self, Create.self, Transition.self, Delete.self, Ping.self, Events.self, Watch.self]
    )

    static let columns: [(title: String, key: String)] = [
        ("ID", "id"), ("NAME", "name"), ("KIND", "kind"), ("STATUS", "status"), ("HEALTH", "health.state"),
        ("ENVIRONMENTS", "environments.name"), ("UPDATED", "updatedAt"),
    ]

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Connections, with a status summary.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Option(help: "Only these kinds (repeatable).") var kind: [String] = []
        @Option(help: "Only these statuses (repeatable).") var status: [String] = []
        @Option(help: "Only members of these environments, by id or name (repeatable).") var environment: [String] = []
        @OptionGroup var paging: PageOptions
        @Flag(help: "Every page, not just one.") var all = false

        func path(_ paging: [(String, String?)], order: String? = nil, environments: [String]) -> String {
            "/api/integrations/connections" + URLText.query(
                paging + [("order", order)] + kind.map { ("kind", $0) } + status.map { ("status", $0) }
                    + environments.map { ("environment", $0) })
        }

        func run() async throws {
            let api = try APIClient(options: client)
            let environments = try await NameLookup.environment.ids(environment, api)
            let data = all ? try await everyPage(api, environments)
                : try await api.call(.GET, path(paging.items, environments: environments))
            try Output.print(data, as: output, rows: "connections", columns: ConnectionCommand.columns) { value in
                guard let page = value as? [String: Any], let summary = page["statusSummary"] as? [String: Any] else { return nil }
                let counts = summary.keys.sorted().map { "\($0) \(summary[$0] ?? 0)" }.joined(separator: ", ")
                return "\(Output.counted(page["totalCount"], "connection")): \(counts.isEmpty ? "none" : counts)"
            }
        }

        func everyPage(_ api: APIClient, _ environments: [String]) async throws -> Data {
            try await api.everyPage({ page in
                path([("page", "\(page)"), ("pageSize", "100"), ("search", paging.search)], order: "createdAt asc",
                     environments: environments)
            }, rows: "connections")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a connection; registered or connected are verified first.",
            discussion: """
                Secrets come from a file or standard input, never an argument: --secret-file creds.yaml, or --secret-key token --secret-file - to read one value.

                A Kubernetes cluster: --kubeconfig FILE (or - for standard input) with --context NAME (default: its current context); or --url https://API-SERVER:6443 --token-file FILE (a service account's token) and --cluster-ca-file FILE (the cluster's CA; default: the system's). Files the kubeconfig names are read here and sent embedded; exec plugins and auth-provider are refused by the server.

                Metadata values are read as JSON reads them: port=8080 is a number, tls=true a boolean, anything else text; quote a value to keep it text (--metadata 'port="8080"').
                """)
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Option(help: "Its kind (kubernetes, prometheus, grafana, helm, http, …).") var kind: String
        @Option(help: "Its name.") var name: String
        @Option(help: "Where it is (for kubernetes: the API server, with --token-file).") var url: String?
        @Option(help: "What it is for.") var description: String?
        @Option(help: "The status to start in (discovered, registered or connected).") var status: String?
        @Option(help: "A stored credential's id or name to use.") var credential: String?
        @Option(help: "A file (or - for standard input) with a secret of its own, kept as its credential.") var secretFile: String?
        @Option(help: "With --secret-file: the file's whole text is this one key's value.") var secretKey: String?
        @Option(help: "Metadata as key=value (repeatable); numbers and true/false are stored as such.") var metadata: [String] = []
        @Option(help: "Kubernetes: a kubeconfig file (- for standard input).") var kubeconfig: String?
        @Option(help: "Kubernetes: the kubeconfig's context (default: its current context).") var context: String?
        @Option(help: "Kubernetes: a file (- for standard input) holding a bearer token, with --url.") var tokenFile: String?
        @Option(help: "Kubernetes: the cluster's CA certificate (PEM), with --token-file. (--ca-file is the Switchboard server's own CA.)") var clusterCaFile: String?

        func validate() throws {
            if secretKey != nil && secretFile == nil { throw ValidationError("--secret-key needs --secret-file") }
            let sources = [secretFile != nil, credential != nil, kubeconfig != nil, tokenFile != nil].filter { $0 }.count
            if sources > 1 { throw ValidationError("give one of --credential, --secret-file, --kubeconfig or --token-file") }
            if context != nil && kubeconfig == nil { throw ValidationError("--context needs --kubeconfig") }
            if clusterCaFile != nil && tokenFile == nil { throw ValidationError("--cluster-ca-file goes with --token-file (a kubeconfig carries its own CA)") }
            if (kubeconfig != nil || tokenFile != nil) && kind != "kubernetes" {
                throw ValidationError("--kubeconfig and --token-file are for --kind kubernetes")
            }
            if tokenFile != nil && url == nil {
                throw ValidationError("--token-file needs --url, the cluster's API server (e.g. https://10.0.0.1:6443)")
            }
            for entry in metadata { _ = try MetadataValue.parse(entry) }
        }

        func run() async throws {
            struct Body: Encodable {
                var name: String, kind: String, url: String?, description: String?, status: String?
                var credentialId: String?, credentialSecret: [String: String]?, metadata: [String: JSONValue]?
            }
            var url = url
            var secret = try secretFile.map { try SecretInput.read($0, key: secretKey) }
            if let kubeconfig {
                let cluster = try KubernetesInput.fromKubeconfig(kubeconfig, context: context)
                secret = cluster.secret
                url = url ?? cluster.server
            } else if let tokenFile, let server = url {
                secret = try KubernetesInput.fromToken(server: server, tokenFile: tokenFile, caFile: clusterCaFile).secret
            }
            let api = try APIClient(options: client)
            var credentialId: String?
            if let credential { credentialId = try await NameLookup.credential.id(credential, api) }
            let body = Body(name: name, kind: kind, url: url, description: description, status: status,
                            credentialId: credentialId, credentialSecret: secret, metadata: try MetadataValue.dictionary(metadata))
            let data: Data
            do {
                data = try await Progress.whileWaiting("creating \(name)") {
                    try await api.call(.POST, "/api/integrations/connections", json: body)
                }
            } catch var failure as ClientFailure where kind == "kubernetes" && failure.message.contains("needs a kubeconfig") {
                // The server names the API's fields; a person here needs this command's flags.
                failure.message += "; with this command: --kubeconfig FILE [--context NAME], or --url https://API-SERVER:6443 --token-file FILE [--cluster-ca-file FILE]"
                throw failure
            }
            try Output.print(data, as: output, columns: ConnectionCommand.columns + [("URL", "url")])
        }
    }

    struct View: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One connection: its row, then its last check, last error and last move.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The connection's id, or its name when no other connection has it.") var id: String

        func run() async throws {
            let api = try APIClient(options: client)
            let id = try await NameLookup.connection.id(id, api)
            let path = "/api/integrations/connections/\(URLText.segment(id))"
            let data = try await api.call(.GET, path)
            try Output.print(data, as: output, columns: ConnectionCommand.columns + [("URL", "url")])
            guard output == .table else { return }
            // The history's newest event is the last move and why it was made.
            let events = try await api.call(.GET, path + "/events" + URLText.query([("page", "0"), ("pageSize", "1")]))
            let connection = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            let last = ((try JSONSerialization.jsonObject(with: events) as? [String: Any])?["events"] as? [[String: Any]])?.first
            for line in ConnectionDetails.lines(connection, lastEvent: last) { print(line) }
            guard connection["lease"] != nil else { return }
            let collected = try JSONSerialization.jsonObject(with: try await api.call(.GET, path + "/data")) as? [String: Any]
            let heartbeat = ((collected?["items"] as? [String: Any])?["heartbeat"] as? [String: Any])?["value"] as? [String: Any]
            for line in ConnectionDetails.peerLines(connection, heartbeat: heartbeat) { print(line) }
        }
    }

    struct Transition: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Move one or many connections; one line per id.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Connection ids (or unique names).") var ids: [String]
        @Option(help: "The status to move to.") var to: String
        @Option(help: "Why (kept in the history).") var reason: String?

        func validate() throws {
            guard !ids.isEmpty else { throw ValidationError("name at least one connection id") }
        }

        /// The server takes at most 1,000 ids per request; smaller batches also show progress.
        static let batchSize = 200

        func run() async throws {
            struct Body: Encodable { var ids: [String]; var status: String; var reason: String? }
            let api = try APIClient(options: client)
            let ids = try await NameLookup.connection.ids(ids, api)
            let progress = Progress(label: "moving to \(to)", total: ids.count)
            var failed = false
            var done = 0
            for batch in stride(from: 0, to: ids.count, by: Self.batchSize).map({ Array(ids[$0..<min($0 + Self.batchSize, ids.count)]) }) {
                progress.update(done)
                let data = try await api.call(.POST, "/api/integrations/connections/transitions",
                                              json: Body(ids: batch, status: to, reason: reason))
                let answer = try JSONDecoder().decode(Answer.self, from: data)
                progress.finish()
                for result in answer.results {
                    print(result.ok ? "\(result.id)  \(result.status ?? to)"
                          : "\(result.id)  failed: \(TerminalText.escaped(result.error?.detail ?? "refused"))")
                }
                failed = failed || answer.results.contains { !$0.ok }
                done += batch.count
            }
            if failed { throw ClientExit.rejected }
        }

        struct Answer: Decodable {
            var results: [Result]
            struct Result: Decodable {
                var id: String
                var ok: Bool
                var status: String?
                var error: APIClient.ProblemText?
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete connections (they stay as tombstones).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Connection ids (or unique names).") var ids: [String]

        func run() async throws {
            try await eachId(ids, label: "deleting") { text in
                let api = try APIClient(options: client)
                let id = try await NameLookup.connection.id(text, api)
                _ = try await api.call(.DELETE, "/api/integrations/connections/\(URLText.segment(id))")
                return "\(id)  deleted"
            }
        }
    }

    struct Ping: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Check a connection now (its status does not change).")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The connection's id, or its name when no other connection has it.") var id: String

        func run() async throws {
            let api = try APIClient(options: client)
            let id = try await NameLookup.connection.id(id, api)
            let data = try await api.call(.POST, "/api/integrations/connections/\(URLText.segment(id))/ping")
            try Output.print(data, as: output, columns: [("ID", "connectionId"), ("STATUS", "status"), ("HEALTH", "health"),
                                                        ("REACHABLE", "reachable"), ("LATENCY MS", "latencyMs"), ("ERROR", "error")])
        }
    }

    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A connection's history, newest first.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The connection's id, or its name when no other connection has it.") var id: String
        @Option(help: "Page, from 0.") var page: Int = 0
        @Option(help: "Events per page (1 to 100).") var pageSize: Int = 100

        func run() async throws {
            let api = try APIClient(options: client)
            let id = try await NameLookup.connection.id(id, api)
            let data = try await api.call(
                .GET, "/api/integrations/connections/\(URLText.segment(id))/events" + URLText.query([("page", "\(page)"), ("pageSize", "\(pageSize)")]))
            try Output.print(data, as: output, rows: "events", columns: [
                ("SEQUENCE", "sequence"), ("FROM", "from"), ("TO", "to"), ("ACTOR", "actor"), ("REASON", "reason"), ("AT", "createdAt"),
            ]) { value in
                guard let total = (value as? [String: Any])?["totalCount"] as? Int, total > (page + 1) * pageSize else { return nil }
                return "(\(Output.counted(total, "event")); more with --page \(page + 1))"
            }
        }
    }

    struct Watch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print changes as they happen, until interrupted.",
            discussion: "Follows the server's change stream; when it is lost, reconnects and resumes after the last event seen, so nothing is missed or printed twice.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table (a line per event) or json (an object per line).") var output: OutputFormat = .table
        @Option(help: "Only this connection, by id or unique name (repeatable).") var connection: [String] = []
        @Option(help: "Only connections of this kind (repeatable).") var kind: [String] = []
        @Option(help: "Only members of this environment, by id or name (repeatable).") var environment: [String] = []
        @Option(help: "Start after this event sequence (replays what came since).") var after: Int64?

        func validate() throws {
            if output == .yaml { throw ValidationError("watch prints table or json lines, not yaml") }
        }

        func run() async throws {
            // Ctrl-C ends a watch normally (_exit: the only safe call in a signal handler).
            signal(SIGINT) { _ in _exit(0) }
            let api = try APIClient(options: client)
            let connections = try await NameLookup.connection.ids(connection, api)
            let environments = try await NameLookup.environment.ids(environment, api)
            let path = "/api/events/stream" + URLText.query(
                connections.map { ("connection", $0) } + kind.map { ("kind", $0) } + environments.map { ("environment", $0) })
            var stream = EventStreamReader(lastEventId: after.map(String.init))
            var everConnected = false
            var backoff = 1.0
            while true {
                do {
                    try await stream.follow(api, path, onOpen: {
                        everConnected = true
                        backoff = 1
                    }) { event in
                        // Written at once, so a pipe sees each event as it comes.
                        FileHandle.standardOutput.write(Data((line(event) + "\n").utf8))
                    }
                } catch let failure as ClientFailure {
                    throw failure
                } catch {
                    // The first connection must work; later losses are retried with backoff.
                    guard everConnected else { throw api.unreachable(error) }
                    FileHandle.standardError.write(Data("switchboard: stream lost (\(OutboundHTTP.describe(error))); reconnecting in \(Int(backoff)) s\n".utf8))
                }
                try await Task.sleep(for: .seconds(backoff))
                backoff = min(backoff * 2, 30)
            }
        }

        func line(_ data: String) -> String {
            guard output == .table,
                  let event = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return data }
            let text = { (key: String) in Output.text(event, key) }
            let move = event["from"] is String ? "\(text("from")) -> \(text("to"))" : text("to")
            let reason = event["reason"] is String ? "  \(text("reason"))" : ""
            return "\(text("sequence"))  \(text("createdAt"))  \(text("connectionId"))  \(move)  by \(text("actor"))\(reason)"
        }
    }
}

/// Reads Server-Sent Events: `data` of each event goes to the handler, `id` is remembered
/// and sent as `Last-Event-ID` on the next connection.
struct EventStreamReader {
    var lastEventId: String?

    /// The server sends a keep-alive every 15 s; this long without a byte means the
    /// connection is dead (a laptop slept, a NAT forgot it), so reconnect.
    static let silence: TimeAmount = .seconds(45)

    mutating func follow(_ api: APIClient, _ path: String, onOpen: () -> Void,
                         onEvent: (String) -> Void) async throws {
        var request = api.request(.GET, path)
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let lastEventId { request.headers.add(name: "Last-Event-ID", value: lastEventId) }
        let client = OutboundHTTP.makeClient(readTimeout: Self.silence)
        defer { Task { try? await client.shutdown() } }
        let response = try await client.execute(request, timeout: .hours(24 * 365))
        guard response.status == .ok else {
            let data = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            try api.check(response.status, data)
            return
        }
        onOpen()
        // Bytes until a whole line is in: a character split across reads stays whole.
        var pending: [UInt8] = []
        var data: [String] = []
        var id: String?
        var kind: String?
        for try await chunk in response.body {
            pending += chunk.readableBytesView
            while let end = pending.firstIndex(of: UInt8(ascii: "\n")) {
                var lineBytes = pending[..<end]
                if lineBytes.last == UInt8(ascii: "\r") { lineBytes = lineBytes.dropLast() }
                let line = String(decoding: lineBytes, as: UTF8.self)
                pending.removeSubrange(...end)
                if line.isEmpty {
                    // The server ends a stream whose token was revoked or expired with the
                    // 401 problem: stop, as a new request would be refused too.
                    if kind == "unauthorized" {
                        try api.check(.unauthorized, Data(data.joined(separator: "\n").utf8))
                    }
                    // A blank line ends an event; its id counts only now.
                    if !data.isEmpty { onEvent(data.joined(separator: "\n")) }
                    if let id { lastEventId = id }
                    data = []
                    id = nil
                    kind = nil
                } else if line.hasPrefix("event:") {
                    kind = String(line.dropFirst(6)).trimmingCharacters(in: .whitespaces)
                } else if line.hasPrefix("data:") {
                    var value = line.dropFirst(5)
                    if value.first == " " { value = value.dropFirst() }
                    data.append(String(value))
                } else if line.hasPrefix("id:") {
                    id = String(line.dropFirst(3)).trimmingCharacters(in: .whitespaces)
                }
            }
        }
        throw StreamEnded()
    }

    struct StreamEnded: Error, CustomStringConvertible {
        var description: String { "the server ended the stream" }
    }
}
