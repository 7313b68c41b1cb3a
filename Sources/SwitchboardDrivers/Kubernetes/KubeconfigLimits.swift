/// How much one kubeconfig may make the server store. Each context becomes a credential
/// holding its cluster and user, so a file can multiply its size without any alias: a large
/// token shared by many contexts' users or clusters is sealed once per context. These caps
/// are checked on the parsed file, before any credential is prepared.
enum KubeconfigLimits {
    /// Per value (token, client certificate or key data, password, server, exec settings).
    /// Real ones are far smaller: a service-account JWT is about 1 KB, an OIDC token a few KB,
    /// an RSA-4096 key with its certificate chain under 10 KB in base64.
    static let maxValueBytes = 64 << 10
    /// `certificate-authority-data` may be a bundle: 256 KiB holds about 90 certificates.
    static let maxCertificateAuthorityBytes = 256 << 10
    /// Contexts, clusters and users, each. Large fleets' files list a few hundred.
    static let maxEntries = 1_000
    /// All contexts' clusters and users added up, as they would be stored: 16 MiB is a
    /// thousand contexts at 16 KB each (a certificate, a key and a CA), far past any real file.
    static let maxImportBytes = 16 << 20

    static func check(_ config: Kubeconfig) throws {
        for (what, count) in [("contexts", config.contexts.count), ("clusters", config.clusters.count),
                              ("users", config.users.count)] where count > maxEntries {
            throw DriverError("the kubeconfig lists \(count) \(what); the limit is \(maxEntries) per file: split it into smaller files")
        }
        var clusterBytes: [String: Int] = [:]
        for named in config.clusters {
            let cluster = named.cluster
            let values = [("server", cluster.server), ("certificate-authority", cluster.certificateAuthority),
                          ("tls-server-name", cluster.tlsServerName)]
            var total = try measure(values, of: "cluster '\(named.name)'", limit: maxValueBytes)
            total += try measure([("certificate-authority-data", cluster.certificateAuthorityData)],
                                 of: "cluster '\(named.name)'", limit: maxCertificateAuthorityBytes)
            clusterBytes[named.name] = total
        }
        var userBytes: [String: Int] = [:]
        for named in config.users {
            let user = named.user
            let exec = user.exec.map { exec in
                ([exec.command, exec.apiVersion ?? "", exec.installHint ?? ""] + (exec.args ?? [])
                    + (exec.env ?? []).flatMap { [$0.name, $0.value] }).joined(separator: " ")
            }
            let values = [("token", user.token), ("tokenFile", user.tokenFile),
                          ("client-certificate", user.clientCertificate), ("client-certificate-data", user.clientCertificateData),
                          ("client-key", user.clientKey), ("client-key-data", user.clientKeyData),
                          ("username", user.username), ("password", user.password), ("exec", exec)]
            userBytes[named.name] = try measure(values, of: "user '\(named.name)'", limit: maxValueBytes)
        }
        var stored = 0
        for named in config.contexts {
            stored += (clusterBytes[named.context.cluster] ?? 0) + (named.context.user.flatMap { userBytes[$0] } ?? 0)
        }
        if stored > maxImportBytes {
            throw DriverError("the kubeconfig's \(config.contexts.count) contexts would store \(stored >> 20) MiB of credentials; the limit is \(maxImportBytes >> 20) MiB per import: split the file, or give each context only the users and clusters it needs")
        }
    }

    /// The values' total size in bytes; throws naming the first one over `limit`.
    private static func measure(_ values: [(String, String?)], of owner: String, limit: Int) throws -> Int {
        var total = 0
        for case let (field, value?) in values {
            let size = value.utf8.count
            if size > limit {
                throw DriverError("\(owner) has a \(field) of \(size) bytes; the limit is \(limit >> 10) KiB per value (real ones are a few KB)")
            }
            total += size
        }
        return total
    }
}
