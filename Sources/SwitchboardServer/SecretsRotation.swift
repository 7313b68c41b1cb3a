import Foundation
import Logging
import StoreBackends
import StoreContract
import SwitchboardEngine

/// `switchboard secrets rotate-key`: a new key goes in front of the key file (the old ones
/// stay, so nothing becomes unreadable), every credential is re-sealed with it, and a running
/// server follows the file, so it keeps working throughout.
public enum SecretsRotation {
    public struct Report: Sendable {
        public var newKeyId: String
        public var resealed: Int
        public var retired: Bool
    }

    public static func run(keyFile: String, store location: StoreLocation, retireOldKeys: Bool,
                           settle: Duration = .seconds(2)) async throws -> Report {
        if case .sqlite(let path) = location, !FileManager.default.fileExists(atPath: path) {
            throw VaultError("no database at \(path); name the server's --data-dir (or --database)")
        }
        let newKeyId = try SecretsVault.rotate(keyFile: keyFile)
        let store = try StoreBackends.open(location)
        let credentials = SealedCredentials(store: store, vault: try SecretsVault.load(keyFile: keyFile))
        // One re-seal at a time per database (two operators rotating beside two replicas wait
        // for each other; each pass is safe to repeat).
        return try await store.exclusively("secrets-reseal") {
            var resealed = try await credentials.resealAll()
            // A server that sealed a credential just before it noticed the new key: catch that too.
            try await Task.sleep(for: settle)
            resealed += try await credentials.resealAll()
            if retireOldKeys {
                try SecretsVault.retireOldKeys(keyFile: keyFile)
                // This vault still holds the old keys: anything a server sealed with one at the
                // last moment is re-sealed now rather than lost.
                resealed += try await credentials.resealAll()
            }
            return Report(newKeyId: newKeyId, resealed: resealed, retired: retireOldKeys)
        }
    }
}
