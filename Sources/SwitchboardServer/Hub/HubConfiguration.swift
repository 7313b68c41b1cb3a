import Foundation
import NIOSSL

/// `switchboard serve --hub URL --hub-token-file FILE`: the hub this server registers with
/// and heartbeats to, checked when made so that a bad setting stops the start.
public struct HubConfiguration: Sendable {
    /// The hub's base URL (`ServerURL.parse`d, no trailing slash); every request is built
    /// from it and nothing else.
    public let url: String
    public let tokenFile: HubTokenFile
    /// Time between heartbeats.
    public let heartbeat: Duration
    /// Extra CA certificates trusted for the hub's HTTPS (`--hub-ca-file`).
    public let trustRoots: [NIOSSLCertificate]

    /// Throws `HubConfigurationError` naming the setting to fix: a URL that is not absolute
    /// http(s); plain http to a host that is not loopback without `allowHTTP` (the token
    /// would cross the network in clear); a token file that cannot be read or is empty; a CA
    /// file that holds no PEM certificate; a heartbeat that is not positive.
    public init(url: String, tokenFile: String, heartbeat: Duration = .seconds(10), allowHTTP: Bool = false,
                caFile: String? = nil) throws(HubConfigurationError) {
        let parsed: String
        do {
            parsed = try ServerURL.parse(url, setting: "hub")
        } catch {
            throw HubConfigurationError(setting: "hub", error.description)
        }
        if ServerURL.isPlainHTTP(parsed), !allowHTTP, !ServerURL.isLoopback(host: ServerURL.host(of: parsed) ?? "") {
            throw HubConfigurationError(setting: "hub", "hub \(parsed) is plain HTTP to another machine: this server's token would cross the network unencrypted; use https:// (with --hub-ca-file for a private CA), or --hub-allow-http on a network you trust")
        }
        guard heartbeat > .zero else {
            throw HubConfigurationError(setting: "hub-heartbeat", "hub-heartbeat must be a positive number of seconds")
        }
        let file = HubTokenFile(path: tokenFile)
        do {
            _ = try file.read()
        } catch {
            throw HubConfigurationError(setting: "hub-token-file", error.description)
        }
        var roots: [NIOSSLCertificate] = []
        if let caFile {
            do {
                roots = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw HubConfigurationError(setting: "hub-ca-file", "hub-ca-file \(caFile) cannot be read as PEM certificates (\(error)); give the PEM file of the CA that signed the hub's certificate")
            }
            guard !roots.isEmpty else {
                throw HubConfigurationError(setting: "hub-ca-file", "hub-ca-file \(caFile) holds no PEM certificate; give the PEM file of the CA that signed the hub's certificate")
            }
        }
        self.url = parsed
        self.tokenFile = file
        self.heartbeat = heartbeat
        self.trustRoots = roots
    }
}

/// A hub setting is not usable. `setting` is its key (`hub`, `hub-token-file`, ...), so the
/// caller can say where the value came from.
public struct HubConfigurationError: Error, CustomStringConvertible, Sendable {
    public let setting: String
    public let description: String

    public init(setting: String, _ description: String) {
        self.setting = setting
        self.description = description
    }
}
