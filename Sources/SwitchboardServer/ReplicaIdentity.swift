import Foundation

/// The id a replica goes by when `--replica-id` is not given: the host name and the port,
/// so a replica restarted on the same machine and port takes back its own share at once
/// (a new id would leave that share unprobed until the old one's TTL ran out).
public enum ReplicaIdentity {
    public static func `default`(port: Int) -> String {
        let host = ProcessInfo.processInfo.hostName
        // Port 0 picks a free port only once bound: the id must be known before that.
        return port == 0 ? "\(host)-\(UUID().uuidString.prefix(8).lowercased())" : "\(host):\(port)"
    }

    /// Ids are shown and logged: letters, digits and `.-_:` only, at most 100 characters.
    public static func check(_ id: String) -> String? {
        guard !id.isEmpty, id.count <= 100 else { return "replica-id must be 1 to 100 characters long" }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: ".-_:"))
        guard id.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            return "replica-id may hold only letters, digits and . - _ :, not '\(id)'"
        }
        return nil
    }
}
