import ArgumentParser
import Foundation
import MultipartKit

struct KubeconfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kubeconfig",
        abstract: "Import clusters from a kubeconfig file.",
        subcommands: [Import.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upload a kubeconfig: one connection per context (cluster and user); one result line per context.",
            discussion: "The server verifies each context. Uploaded files may not name files on the server, run exec plugins or use auth-provider; such contexts fail with the reason.")
        @OptionGroup var client: ClientOptions
        @Option(name: .shortAndLong, help: "table, json or yaml.") var output: OutputFormat = .table
        @Argument(help: "The kubeconfig file (- for standard input).") var file: String
        @Option(help: "Only this context (repeatable; default every context).") var context: [String] = []
        @Flag(help: "Connect the contexts that answer (else they are registered or discovered).") var connect = false
        @Flag(help: "Show what an import would do; store nothing (exit code 1 when a context would fail).") var dryRun = false

        struct Form: Encodable {
            var k8sfile: String
            var selectedContexts: String?
            var connectReachable: String
        }

        func run() async throws {
            let text = try InputFile.read(file)
            let selection = try context.isEmpty ? nil : String(decoding: JSONEncoder().encode(context), as: UTF8.self)
            let boundary = "switchboard-\(UUID().uuidString)"
            let body: String = try FormDataEncoder().encode(
                Form(k8sfile: text, selectedContexts: selection, connectReachable: connect ? "true" : "false"), boundary: boundary)
            let path = dryRun ? "/api/system/kubernetes/contexts" : "/api/system/kubernetes"
            let data = try await Progress.whileWaiting(dryRun ? "reading contexts" : "importing") {
                try await APIClient(options: client).call(.POST, path, body: Data(body.utf8),
                                                          contentType: "multipart/form-data; boundary=\(boundary)")
            }
            try Output.print(data, as: output, rows: "contexts", columns: [
                ("CONTEXT", "name"), ("OUTCOME", "outcome"), ("STATUS", "status"), ("CONNECTION", "connectionId"), ("DETAIL", "detail"),
            ]) { value in
                guard let summary = (value as? [String: Any])?["summary"] as? [String: Any] else { return nil }
                return summary.keys.sorted().map { "\($0) \(summary[$0] ?? 0)" }.joined(separator: ", ")
            }
            let failed = ((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["contexts"] as? [[String: Any]] ?? [])
                .contains { $0["outcome"] as? String == "failed" }
            // A dry run too: a context it reports failed would fail the real import.
            if failed { throw ClientExit.rejected }
        }
    }
}
