import Foundation

/// Runs exec credential plugins (client.authentication.k8s.io/v1 and v1beta1) and keeps
/// each ExecCredential until it expires, as kubectl does.
actor ExecCredentialCache {
    /// One cache for every driver, so a cluster and the services reached through its proxy
    /// share a plugin's credential instead of each running the plugin.
    static let shared = ExecCredentialCache()

    struct Credential: Sendable {
        var token: String?
        var clientCertificateData: String?
        var clientKeyData: String?
        var expires: Date?
    }

    private var cache: [String: Credential] = [:]
    /// How long a plugin may run before it is killed (kubectl waits for a person; a server cannot).
    static let pluginTimeout: DispatchTimeInterval = .seconds(30)

    /// The cached credential for `exec`, or a fresh one from running the plugin.
    func credential(for exec: Kubeconfig.ExecConfig, directory: String, cluster: Kubeconfig.Cluster) async throws -> Credential {
        // Per cluster too: one plugin command may serve several clusters with different tokens.
        let key = "\(cluster.server)|\(directory)|\(exec.command)|\((exec.args ?? []).joined(separator: " "))|\((exec.env ?? []).map { "\($0.name)=\($0.value)" }.joined(separator: ","))"
        if let cached = cache[key], cached.expires.map({ $0 > Date().addingTimeInterval(10) }) ?? true {
            return cached
        }
        let credential = try await Self.run(exec, directory: directory, cluster: cluster)
        cache[key] = credential
        return credential
    }

    /// Forgets cached credentials, so the next request runs the plugin again (after a 401).
    func invalidateAll() { cache.removeAll() }

    private static func run(_ exec: Kubeconfig.ExecConfig, directory: String, cluster: Kubeconfig.Cluster) async throws -> Credential {
        let apiVersion = exec.apiVersion ?? "client.authentication.k8s.io/v1"
        guard apiVersion == "client.authentication.k8s.io/v1" || apiVersion == "client.authentication.k8s.io/v1beta1" else {
            throw DriverError("exec plugin apiVersion \(apiVersion) is not supported (use client.authentication.k8s.io/v1 or v1beta1)")
        }
        let process = Process()
        let command = exec.command.contains("/") ? KubernetesAuthResolver.path(exec.command, in: directory) : exec.command
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [command] + (exec.args ?? [])
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        var environment = ProcessInfo.processInfo.environment
        for variable in exec.env ?? [] { environment[variable.name] = variable.value }
        let info = #"{"apiVersion":"\#(apiVersion)","kind":"ExecCredential","spec":{"interactive":false}}"#
        environment["KUBERNETES_EXEC_INFO"] = info
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw DriverError("cannot run exec plugin \(exec.command): \(error.localizedDescription)\(exec.installHint.map { " (\($0))" } ?? "")")
        }
        // Read both pipes at once, off the cooperative pool (a plugin that fills one pipe while
        // the other is read would wait forever), and stop a plugin that hangs.
        let (stdout, stderr) = await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                let group = DispatchGroup()
                nonisolated(unsafe) var stdout = Data()
                nonisolated(unsafe) var stderr = Data()
                group.enter()
                DispatchQueue.global().async {
                    stdout = output.fileHandleForReading.readDataToEndOfFile()
                    group.leave()
                }
                group.enter()
                DispatchQueue.global().async {
                    stderr = errors.fileHandleForReading.readDataToEndOfFile()
                    group.leave()
                }
                if group.wait(timeout: .now() + Self.pluginTimeout) == .timedOut {
                    kill(process.processIdentifier, SIGKILL)
                    group.wait()
                }
                process.waitUntilExit()
                continuation.resume(returning: (stdout, stderr))
            }
        }
        guard process.terminationStatus == 0 else {
            let message = String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw DriverError("exec plugin \(exec.command) exited with \(process.terminationStatus): \(message.prefix(300))")
        }
        struct ExecCredential: Decodable {
            var apiVersion: String?
            var kind: String?
            var status: Status?
            struct Status: Decodable {
                var token: String?
                var clientCertificateData: String?
                var clientKeyData: String?
                var expirationTimestamp: String?
            }
        }
        guard let decoded = try? JSONDecoder().decode(ExecCredential.self, from: stdout), decoded.kind == "ExecCredential",
              let status = decoded.status else {
            throw DriverError("exec plugin \(exec.command) did not print an ExecCredential")
        }
        guard status.token != nil || (status.clientCertificateData != nil && status.clientKeyData != nil) else {
            throw DriverError("exec plugin \(exec.command) returned neither a token nor a client certificate and key")
        }
        let expires = status.expirationTimestamp.flatMap { try? Date($0, strategy: .iso8601) }
        return Credential(token: status.token, clientCertificateData: status.clientCertificateData,
                          clientKeyData: status.clientKeyData, expires: expires)
    }
}
