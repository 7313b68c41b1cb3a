import Foundation
import Logging
import ServiceLifecycle
import SwitchboardDrivers
import SwitchboardEngine

/// Imports the operator's kubeconfigs (`$KUBECONFIG`, else `~/.kube/config`) once at
/// start-up, in the background so the server answers meanwhile. Several files are merged as
/// kubectl merges them (the first definition of a name wins; a context may use a user from
/// another file). Each context's outcome is logged; a missing or broken file is a warning,
/// never fatal.
struct StartupKubeconfigImport: Service {
    let paths: [String]
    let importer: KubeconfigImporter
    let logger: Logger

    func run() async throws {
        var configurations: [Kubeconfig] = []
        for path in paths {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                logger.warning("cannot read kubeconfig", metadata: ["file": "\(path)"])
                continue
            }
            do {
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
                configurations.append(try Kubeconfig.parse(text).resolvingFiles(in: directory))
            } catch {
                logger.warning("cannot import kubeconfig", metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
        guard !configurations.isEmpty else { return }
        let files = paths.joined(separator: ":")
        do {
            // Every file it names is spelled out in full, so no folder is needed to read them.
            let yaml = try Kubeconfig.merging(configurations).yaml()
            let importer = importer
            // One replica at a time: the second finds every context already imported (by fingerprint).
            let results = try await importer.engine.exclusively("startup-kubeconfig-import") {
                try await importer.importKubeconfig(yaml, origin: .operatorFile(directory: "/"), by: .system,
                                                    source: "kubeconfig \(files)")
            }
            for result in results {
                logger.info("kubeconfig context", metadata: [
                    "file": "\(files)", "context": "\(result.context)", "outcome": "\(result.outcome.rawValue)",
                    "status": "\(result.connection?.status.wireName ?? "-")", "detail": "\(result.detail ?? "-")",
                ])
            }
        } catch {
            logger.warning("cannot import kubeconfig", metadata: ["file": "\(files)", "error": "\(error)"])
        }
    }
}
