import Foundation
import Logging
import ServiceLifecycle
import SwitchboardDrivers
import SwitchboardEngine

/// Imports the operator's kubeconfigs (`$KUBECONFIG`, else `~/.kube/config`) once at
/// start-up, in the background so the server answers meanwhile. Each context's outcome is
/// logged; a missing or broken file is a warning, never fatal.
struct StartupKubeconfigImport: Service {
    let paths: [String]
    let importer: KubeconfigImporter
    let logger: Logger

    func run() async throws {
        for path in paths {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                logger.warning("cannot read kubeconfig", metadata: ["file": "\(path)"])
                continue
            }
            do {
                let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
                let results = try await importer.importKubeconfig(
                    text, origin: .operatorFile(directory: directory), by: .system, source: "kubeconfig \(path)")
                for result in results {
                    logger.info("kubeconfig context", metadata: [
                        "file": "\(path)", "context": "\(result.context)", "outcome": "\(result.outcome.rawValue)",
                        "status": "\(result.connection?.status.wireName ?? "-")", "detail": "\(result.detail ?? "-")",
                    ])
                }
            } catch {
                logger.warning("cannot import kubeconfig", metadata: ["file": "\(path)", "error": "\(error)"])
            }
        }
    }
}
