import ConnectionLifecycle
import Crypto
import Foundation
import X509
import Yams

/// Where a kubeconfig being imported came from, which decides what it may do.
public enum KubeconfigOrigin: Sendable, Hashable {
    /// Sent through the API: it may not name files on this server or run exec plugins.
    case uploaded
    /// A file the operator placed on this server (`$KUBECONFIG`, `~/.kube/config`, a
    /// declared-connections file): files it names (relative to `directory`) are read and
    /// embedded, and exec plugins may run.
    case operatorFile(directory: String)
}

/// One context of a kubeconfig, made ready to become a connection: a self-contained
/// kubeconfig holding only that context (files embedded), and the fingerprint of the
/// cluster and user it points at. `problem` says why a context cannot be imported.
public struct KubeconfigContextImport: Sendable, Hashable {
    public var context: String
    public var cluster: String?
    public var user: String?
    public var server: String?
    public var namespace: String?
    /// Secret values for the connection's credential (`kubeconfig`, `context`, and
    /// `execAllowed` for operator files); `nil` when `problem` is set.
    public var secret: SecretValues?
    public var fingerprint: String?
    public var problem: String?
}

public enum KubeconfigImport {
    /// The one context of a stored kubeconfig credential.
    static let contextName = "switchboard"

    /// Every context of the kubeconfig, in file order, each either ready or with a problem.
    /// Throws only when the text is not a kubeconfig at all.
    public static func contexts(in text: String, origin: KubeconfigOrigin) throws -> [KubeconfigContextImport] {
        // Before Yams expands anything: an alias is copied wherever it is used.
        if case .uploaded = origin, let (line, column) = YAMLAliases.first(in: text) {
            throw DriverError("the kubeconfig is not valid: line \(line), column \(column) is an alias (*name); uploaded kubeconfigs may not use YAML aliases (kubectl config view --flatten writes none), so write the value out")
        }
        let config = try Kubeconfig.parse(text)
        guard !config.contexts.isEmpty else { throw DriverError("the kubeconfig defines no contexts") }
        try KubeconfigLimits.check(config)
        return config.contexts.map { named in prepare(named, in: config, origin: origin) }
    }

    private static func prepare(_ named: Kubeconfig.NamedContext, in config: Kubeconfig,
                                origin: KubeconfigOrigin) -> KubeconfigContextImport {
        var result = KubeconfigContextImport(context: named.name, cluster: named.context.cluster, user: named.context.user,
                                             namespace: named.context.namespace)
        do {
            let (_, resolvedCluster, resolvedUser) = try config.resolve(context: named.name)
            result.server = resolvedCluster.server
            var cluster = resolvedCluster
            var user = resolvedUser
            guard let url = URL(string: cluster.server), let scheme = url.scheme?.lowercased(),
                  scheme == "https" || scheme == "http", url.host != nil else {
                throw DriverError("cluster '\(named.context.cluster)' has server '\(cluster.server)', which is not an http(s) URL")
            }
            if let provider = user.authProvider {
                throw DriverError("user '\(named.context.user ?? "")' uses auth-provider '\(provider.name)', which Switchboard does not support (use a token, a client certificate or an exec plugin)")
            }
            switch origin {
            case .uploaded:
                let files = [cluster.certificateAuthority, user.clientCertificate, user.clientKey, user.tokenFile].compactMap { $0 }
                if let file = files.first {
                    throw DriverError("it names the file \(file), which an uploaded kubeconfig cannot refer to; upload one with the data embedded (kubectl config view --flatten --minify --context \(named.name))")
                }
                if let exec = user.exec {
                    throw DriverError("user '\(named.context.user ?? "")' runs the exec plugin '\(exec.command)'; plugins from uploaded kubeconfigs are never run here (use a token or client certificate, or place the kubeconfig on the server)")
                }
            case .operatorFile(let directory):
                cluster.certificateAuthorityData = try embed(cluster.certificateAuthority, cluster.certificateAuthorityData, directory)
                cluster.certificateAuthority = nil
                user.clientCertificateData = try embed(user.clientCertificate, user.clientCertificateData, directory)
                user.clientCertificate = nil
                user.clientKeyData = try embed(user.clientKey, user.clientKeyData, directory)
                user.clientKey = nil
                if let file = user.tokenFile {
                    user.token = try KubernetesAuthResolver.readText(KubernetesAuthResolver.path(file, in: directory), what: "tokenFile")
                    user.tokenFile = nil
                }
            }
            let userName = named.context.user ?? ""
            // Canonical cluster and context names and no namespace: the credential holds the
            // cluster and the user and nothing else, so two contexts for them (or two files)
            // store the same secret. The user keeps the file's name: a user with neither a
            // client certificate nor a service-account token is known by it, and the
            // fingerprint read back from this kubeconfig must be the one computed here.
            let single = Kubeconfig(
                clusters: [Kubeconfig.NamedCluster(name: "cluster", cluster: cluster)],
                users: named.context.user.map { [Kubeconfig.NamedUser(name: $0, user: user)] } ?? [],
                contexts: [Kubeconfig.NamedContext(name: Self.contextName,
                                                   context: Kubeconfig.Context(cluster: "cluster", user: named.context.user))],
                currentContext: Self.contextName)
            var secret: SecretValues = ["kubeconfig": try YAMLEncoder().encode(single), "context": Self.contextName]
            if case .operatorFile = origin { secret[SecretKey.execAllowed] = "true" }
            // Both or neither: the fingerprint reads the CA data, which may not be base64.
            let fingerprint = try KubernetesIdentity.fingerprint(cluster: cluster, user: user, userName: userName,
                                                                directory: nil)
            result.secret = secret
            result.fingerprint = fingerprint
        } catch {
            result.problem = "\(error)"
        }
        return result
    }

    /// A file's content as base64 `-data`, or the data already there.
    private static func embed(_ file: String?, _ data: String?, _ directory: String) throws -> String? {
        guard let file else { return data }
        let path = KubernetesAuthResolver.path(file, in: directory)
        guard let bytes = FileManager.default.contents(atPath: path) else { throw DriverError("cannot read \(path)") }
        return bytes.base64EncodedString()
    }
}

/// What makes two Kubernetes connections the same: the API server, the CA that vouches for
/// it, and who the user is: the client certificate's subject, a service-account token's
/// subject, else the name the kubeconfig gives the user. A renewed token or certificate
/// keeps the identity.
public enum KubernetesIdentity {
    static func fingerprint(cluster: Kubeconfig.Cluster, user: Kubeconfig.User, userName: String,
                            directory: String?) throws -> String {
        let folder = directory ?? FileManager.default.currentDirectoryPath
        let trust: String
        if cluster.insecureSkipTLSVerify == true {
            trust = "ca=insecure"
        } else if let ca = try KubernetesAuthResolver.material(inline: cluster.certificateAuthorityData,
                                                              file: cluster.certificateAuthority,
                                                              directory: folder, what: "certificate-authority") {
            trust = "ca=sha256:" + SHA256.hash(data: ca).prefix(16).hexadecimal
        } else {
            trust = "ca=system"
        }
        return Fingerprint.make(kind: "kubernetes", target: Fingerprint.normalizedURL(cluster.server),
                                parts: [trust, identity(of: user, named: userName, directory: folder)])
    }

    static func identity(of user: Kubeconfig.User, named name: String, directory: String) -> String {
        if let pem = try? KubernetesAuthResolver.material(inline: user.clientCertificateData, file: user.clientCertificate,
                                                          directory: directory, what: "client-certificate"),
           let certificate = try? Certificate(pemEncoded: String(decoding: pem, as: UTF8.self)) {
            return "subject=\(certificate.subject)"
        }
        let token = user.token ?? user.tokenFile.flatMap {
            try? KubernetesAuthResolver.readText(KubernetesAuthResolver.path($0, in: directory), what: "tokenFile")
        }
        if let token, let subject = jwtSubject(token) { return "sub=\(subject)" }
        return "user=\(name)"
    }

    /// The `sub` claim of a JWT (service-account tokens are JWTs); not verified, only read.
    static func jwtSubject(_ token: String) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var payload = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        payload += String(repeating: "=", count: (4 - payload.count % 4) % 4)
        struct Claims: Decodable { var sub: String? }
        guard let data = Data(base64Encoded: payload) else { return nil }
        return (try? JSONDecoder().decode(Claims.self, from: data))?.sub
    }

    /// The fingerprint of a stored connection, read from its kubeconfig; `nil` when the
    /// kubeconfig cannot be read (then the url stands in).
    static func fingerprint(from secrets: SecretValues) -> String? {
        guard let text = secrets["kubeconfig"], let config = try? Kubeconfig.parse(text),
              let contextName = secrets["context"] ?? config.currentContext,
              let context = config.contexts.first(where: { $0.name == contextName })?.context,
              let (_, cluster, user) = try? config.resolve(context: contextName) else { return nil }
        return try? fingerprint(cluster: cluster, user: user, userName: context.user ?? "",
                                directory: secrets["kubeconfigDirectory"])
    }
}

extension KubeconfigContextImport: CustomStringConvertible {
    /// Without the secret's values.
    public var description: String {
        "KubeconfigContextImport(\(context), server: \(server ?? "-"), fingerprint: \(fingerprint ?? "-"), problem: \(problem ?? "-"))"
    }
}
