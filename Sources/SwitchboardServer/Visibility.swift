import Foundation
import SwitchboardEngine
import SwitchboardStorage

/// What the signed-in user may see: admins everything, members what they own. Anything
/// else answers as if it did not exist (404), so ids cannot be probed.
enum Visibility {
    /// Refuses a credential id the user may not use (as not found).
    static func checkCredential(_ id: UUID?, store: any ConnectionStore) async throws {
        guard let id else { return }
        let principal = RequestPrincipal.current
        guard let summary = try await store.credentialSummary(id: id), principal.sees(owner: summary.owner) else {
            throw EngineError.credentialNotFound(id)
        }
    }
}
