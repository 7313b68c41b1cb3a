import ArgumentParser
import Foundation

struct EnvironmentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "environment",
        abstract: "Group connections into environments.",
        subcommands: [List.self, View.self, Create.self, Update.self, Delete.self, Add.self, Remove.self]
    )

    static let columns: [(title: String, key: String)] = [
        ("ID", "id"), ("NAME", "name"), ("DESCRIPTION", "description"), ("OWNER", "ownerName"), ("UPDATED", "updatedAt"),
    ]
    static let path = "/api/environments"

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Environments.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @OptionGroup var paging: PageOptions

        func run() async throws {
            let data = try await APIClient(options: client).call(.GET, path + URLText.query(paging.items))
            try Output.print(data, as: output, rows: "environments", columns: columns) { value in
                Output.counted((value as? [String: Any])?["totalCount"], "environment")
            }
        }
    }

    struct View: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One environment and its connections.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The environment's id or name.") var id: String

        func run() async throws {
            let api = try APIClient(options: client)
            let id = try await NameLookup.environment.id(id, api)
            let environment = try await api.call(.GET, "\(path)/\(URLText.segment(id))")
            let members = try await everyMember(api, id)
            guard output == .table else {
                // One document: the environment with its connections.
                var object = try JSONSerialization.jsonObject(with: environment) as? [String: Any] ?? [:]
                object["connections"] = (try JSONSerialization.jsonObject(with: members) as? [String: Any])?["connections"] ?? []
                return try Output.print(try JSONSerialization.data(withJSONObject: object), as: output)
            }
            try Output.print(environment, as: .table, columns: columns)
            print("")
            try Output.print(members, as: .table, rows: "connections",
                             columns: [("CONNECTION", "id"), ("NAME", "name"), ("KIND", "kind"), ("STATUS", "status")]) { value in
                Output.counted((value as? [String: Any])?["totalCount"], "connection")
            }
        }

        /// Every member, a page of 100 at a time, as one page.
        func everyMember(_ api: APIClient, _ id: String) async throws -> Data {
            try await api.everyPage({ page in
                "\(path)/\(URLText.segment(id))/connections" + URLText.query([
                    ("page", "\(page)"), ("pageSize", "100"), ("order", "createdAt asc")])
            }, rows: "connections")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A new environment, optionally with connections.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Option(help: "Its name.") var name: String
        @Option(help: "What it is for.") var description: String?
        @Option(help: "A connection (id or unique name) to put in it (repeatable; all or none are added).") var connection: [String] = []

        func run() async throws {
            struct Body: Encodable { var name: String; var description: String?; var connections: [String]? }
            let api = try APIClient(options: client)
            let connections = try await NameLookup.connection.ids(connection, api)
            let data = try await api.call(
                .POST, path, json: Body(name: name, description: description, connections: connections.isEmpty ? nil : connections))
            try Output.print(data, as: output, columns: columns)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename or describe an environment.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The environment's id or name.") var id: String
        @Option(help: "A new name.") var name: String?
        @Option(help: "A new description.") var description: String?

        func validate() throws {
            if name == nil && description == nil { throw ValidationError("give --name, --description or both") }
        }

        func run() async throws {
            struct Body: Encodable { var name: String?; var description: String? }
            let api = try APIClient(options: client)
            let id = try await NameLookup.environment.id(id, api)
            let data = try await api.call(.PUT, "\(path)/\(URLText.segment(id))", json: Body(name: name, description: description))
            try Output.print(data, as: output, columns: columns)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete environments (their connections stay).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Environment ids or names.") var ids: [String]

        func run() async throws {
            try await eachId(ids, label: "deleting") { text in
                let api = try APIClient(options: client)
                let id = try await NameLookup.environment.id(text, api)
                _ = try await api.call(.DELETE, "\(path)/\(URLText.segment(id))")
                return "\(id)  deleted"
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put connections into an environment.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The environment's id or name.") var environment: String
        @Argument(help: "Connection ids (or unique names).") var connections: [String]

        func run() async throws {
            let api = try APIClient(options: client)
            let environment = try await NameLookup.environment.id(environment, api)
            try await eachId(connections, label: "adding") { text in
                let id = try await NameLookup.connection.id(text, api)
                _ = try await api.call(.POST, "\(path)/\(URLText.segment(environment))/connections/\(URLText.segment(id))")
                return "\(id)  added"
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take connections out of an environment.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "The environment's id or name.") var environment: String
        @Argument(help: "Connection ids (or unique names).") var connections: [String]

        func run() async throws {
            let api = try APIClient(options: client)
            let environment = try await NameLookup.environment.id(environment, api)
            try await eachId(connections, label: "removing") { text in
                let id = try await NameLookup.connection.id(text, api)
                _ = try await api.call(.DELETE, "\(path)/\(URLText.segment(environment))/connections/\(URLText.segment(id))")
                return "\(id)  removed"
            }
        }
    }
}

/// Runs one request per id, printing a line for each (with the refusal's detail for a
/// refused one); ends with exit code 1 when any was refused.
func eachId(_ ids: [String], label: String, _ work: (String) async throws -> String) async throws {
    guard !ids.isEmpty else { throw ValidationError("name at least one id") }
    let progress = Progress(label: label, total: ids.count)
    var failed = false
    for (done, id) in ids.enumerated() {
        if ids.count > 1 { progress.update(done) }
        do {
            let line = try await work(id)
            progress.finish()
            print(TerminalText.escaped(line))
        } catch let failure as ClientFailure where failure.exitCode == ClientExit.rejected {
            progress.finish()
            print("\(id)  failed: \(TerminalText.escaped(failure.message))")
            failed = true
        }
    }
    if failed { throw ClientExit.rejected }
}
