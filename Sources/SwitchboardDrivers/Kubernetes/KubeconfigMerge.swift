import Foundation
import Yams

/// `$KUBECONFIG` with several files, read the way kubectl reads it: one configuration in
/// which, for each cluster, user and context name, the first file that defines it wins, as
/// does the first `current-context`. A context may name a user from another file.
extension Kubeconfig {
    /// The files this kubeconfig names (relative to `directory`, as kubectl reads them)
    /// spelled out in full, so that it still means the same beside another file's entries.
    public func resolvingFiles(in directory: String) -> Kubeconfig {
        func absolute(_ file: String?) -> String? {
            file.map { KubernetesAuthResolver.path($0, in: directory) }
        }
        var resolved = self
        for index in resolved.clusters.indices {
            resolved.clusters[index].cluster.certificateAuthority = absolute(resolved.clusters[index].cluster.certificateAuthority)
        }
        for index in resolved.users.indices {
            var user = resolved.users[index].user
            user.clientCertificate = absolute(user.clientCertificate)
            user.clientKey = absolute(user.clientKey)
            user.tokenFile = absolute(user.tokenFile)
            // A plugin named by a relative path (not just a name looked up on PATH).
            if let command = user.exec?.command, command.contains("/") {
                user.exec?.command = KubernetesAuthResolver.path(command, in: directory)
            }
            resolved.users[index].user = user
        }
        return resolved
    }

    /// `configurations` in `$KUBECONFIG` order, merged: the first definition of each name wins.
    public static func merging(_ configurations: [Kubeconfig]) -> Kubeconfig {
        func firstOfEach<Entry>(_ entries: [Entry], name: (Entry) -> String) -> [Entry] {
            var seen: Set<String> = []
            return entries.filter { seen.insert(name($0)).inserted }
        }
        return Kubeconfig(
            clusters: firstOfEach(configurations.flatMap(\.clusters), name: \.name),
            users: firstOfEach(configurations.flatMap(\.users), name: \.name),
            contexts: firstOfEach(configurations.flatMap(\.contexts), name: \.name),
            currentContext: configurations.lazy.compactMap(\.currentContext).first)
    }
}

extension Kubeconfig {
    /// The kubeconfig as YAML (what the importer reads).
    public func yaml() throws -> String {
        try YAMLEncoder().encode(self)
    }
}
