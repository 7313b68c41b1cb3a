import ArgumentParser
import Foundation

struct CredentialCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credential",
        abstract: "Stored credentials (secrets are write-only: they are never shown).",
        discussion: "Secrets come from a file or standard input, never an argument: --secret-file creds.yaml holds a mapping of keys to values; --secret-key token --secret-file - reads one value from standard input.",
        subcommands: [List.self, View.self, Create.self, Update.self, Delete.self]
    )

    static let columns: [(title: String, key: String)] = [
        ("ID", "id"), ("NAME", "name"), ("TYPE", "type"), ("SECRET KEYS", "secretKeys"), ("UPDATED", "updatedAt"),
    ]
    static let path = "/api/integrations/credentials"

    /// Where a credential's secret comes from.
    struct SecretOptions: ParsableArguments {
        @Option(help: "A file (or - for standard input) holding the secret.") var secretFile: String?
        @Option(help: "The file's whole text is this one key's value (e.g. token, kubeconfig).") var secretKey: String?

        func read() throws -> [String: String]? {
            if secretKey != nil && secretFile == nil { throw ValidationError("--secret-key needs --secret-file") }
            return try secretFile.map { try SecretInput.read($0, key: secretKey) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Credentials.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @OptionGroup var paging: PageOptions

        func run() async throws {
            let data = try await APIClient(options: client).call(.GET, path + URLText.query(paging.items))
            try Output.print(data, as: output, rows: "credentials", columns: columns) { value in
                Output.counted((value as? [String: Any])?["totalCount"], "credential")
            }
        }
    }

    struct View: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One credential (its secret's keys, not their values).")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The credential's id or name.") var id: String

        func run() async throws {
            let api = try APIClient(options: client)
            let id = try await NameLookup.credential.id(id, api)
            let data = try await api.call(.GET, "\(path)/\(URLText.segment(id))")
            try Output.print(data, as: output, columns: columns + [("KEY ID", "keyId")])
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Store a credential.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var secret: SecretOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Option(help: "Its name.") var name: String
        @Option(help: "Its type (e.g. kubernetes, prometheus, grafana, basic).") var type: String

        func validate() throws {
            if secret.secretFile == nil { throw ValidationError("a credential needs --secret-file (or - for standard input)") }
        }

        func run() async throws {
            struct Body: Encodable { var name: String; var type: String; var secret: [String: String]? }
            let data = try await APIClient(options: client).call(.POST, path, json: Body(name: name, type: type, secret: try secret.read()))
            try Output.print(data, as: output, columns: columns)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Rename a credential or replace its secret.")
        @OptionGroup var client: ClientOptions
        @OptionGroup var secret: SecretOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The credential's id or name.") var id: String
        @Option(help: "A new name.") var name: String?

        func validate() throws {
            if name == nil && secret.secretFile == nil { throw ValidationError("give --name, --secret-file or both") }
        }

        func run() async throws {
            struct Body: Encodable { var id: String; var name: String?; var secret: [String: String]? }
            let api = try APIClient(options: client)
            let id = try await NameLookup.credential.id(id, api)
            let data = try await api.call(.PUT, path, json: Body(id: id, name: name, secret: try secret.read()))
            try Output.print(data, as: output, columns: columns)
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete credentials no connection uses.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Credential ids or names.") var ids: [String]

        func run() async throws {
            try await eachId(ids, label: "deleting") { text in
                let api = try APIClient(options: client)
                let id = try await NameLookup.credential.id(text, api)
                _ = try await api.call(.DELETE, "\(path)" + URLText.query([("credentialId", id)]))
                return "\(id)  deleted"
            }
        }
    }
}
