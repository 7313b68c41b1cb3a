import ArgumentParser
import Foundation
import SwitchboardDrivers
import Yams

/// A cluster added by hand (`connection create --kind kubernetes`) becomes what a
/// kubeconfig import stores: one self-contained kubeconfig with a single context, the
/// files it names read here and embedded. The import's own preparation does that work
/// (`KubeconfigImport.contexts`), so both ways store the same secret and fingerprint.
enum KubernetesInput {
    struct Prepared {
        var server: String
        var secret: [String: String]
    }

    /// `--kubeconfig FILE` (or `-`) and `--context NAME` (default: the file's current
    /// context, or its only one).
    static func fromKubeconfig(_ file: String, context: String?) throws -> Prepared {
        let text = try InputFile.read(file)
        let folder = file == "-" ? FileManager.default.currentDirectoryPath
            : URL(fileURLWithPath: file).deletingLastPathComponent().path
        let config: Kubeconfig
        do { config = try Kubeconfig.parse(text) } catch { throw ValidationError("\(file): \(error)") }
        let names = config.contexts.map(\.name)
        guard let chosen = context ?? config.currentContext ?? (names.count == 1 ? names.first : nil) else {
            throw ValidationError("\(file) has no current context; name one with --context (\(names.joined(separator: ", ")))")
        }
        guard names.contains(chosen) else {
            throw ValidationError("\(file) has no context '\(chosen)'; it has \(names.isEmpty ? "none" : names.joined(separator: ", "))")
        }
        return try prepare(text, context: chosen, folder: folder, source: file)
    }

    /// `--url URL --token-file FILE [--cluster-ca-file FILE]`: a service account's token and the
    /// cluster's CA (without one, the system's trusted CAs).
    static func fromToken(server: String, tokenFile: String, caFile: String?) throws -> Prepared {
        let folder = FileManager.default.currentDirectoryPath
        var user: [String: Any] = [:]
        // Standard input cannot be named in a kubeconfig: its text goes in as the token.
        if tokenFile == "-" {
            user["token"] = try InputFile.read("-").trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            user["tokenFile"] = absolute(tokenFile, in: folder)
        }
        var cluster: [String: Any] = ["server": server]
        if let caFile { cluster["certificate-authority"] = absolute(caFile, in: folder) }
        let config: [String: Any] = [
            "apiVersion": "v1", "kind": "Config",
            "clusters": [["name": "cluster", "cluster": cluster]],
            "users": [["name": "token", "user": user]],
            "contexts": [["name": "token", "context": ["cluster": "cluster", "user": "token"]]],
            "current-context": "token",
        ]
        return try prepare(try Yams.dump(object: config), context: "token", folder: folder, source: "--url and --token-file")
    }

    private static func prepare(_ text: String, context: String, folder: String, source: String) throws -> Prepared {
        let contexts: [KubeconfigContextImport]
        do {
            contexts = try KubeconfigImport.contexts(in: text, origin: .operatorFile(directory: folder))
        } catch {
            throw ValidationError("\(source): \(error)")
        }
        guard let prepared = contexts.first(where: { $0.context == context }) else {
            throw ValidationError("\(source) has no context '\(context)'")
        }
        guard var secret = prepared.secret, let server = prepared.server else {
            throw ValidationError("\(source), context '\(context)': \(prepared.problem ?? "it cannot be used")")
        }
        // The server decides what may run there; a kubeconfig sent to it is an upload.
        secret[SecretKey.execAllowed] = nil
        return Prepared(server: server, secret: secret)
    }

    private static func absolute(_ path: String, in folder: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: folder).appendingPathComponent(path).path
    }
}
