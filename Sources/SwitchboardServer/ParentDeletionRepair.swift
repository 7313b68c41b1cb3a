import Logging
import ServiceLifecycle
import SwitchboardEngine

/// Once at start-up, in the background: children whose parent was deleted just before a
/// crash get the `parentDeleted` mark that deletion would have given them.
struct ParentDeletionRepair: Service {
    let engine: ConnectionEngine
    let logger: Logger

    func run() async throws {
        do {
            let engine = engine
            // One replica at a time (the marks are idempotent: a second run finds nothing).
            let parents = try await engine.exclusively("parent-deletion-repair") { try await engine.finishParentDeletions() }
            if parents > 0 {
                logger.notice("marked the children of deleted connections", metadata: ["parents": "\(parents)"])
            }
        } catch {
            logger.warning("could not look for children of deleted connections", metadata: ["error": "\(error)"])
        }
    }
}
