import Foundation
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The PEM files the server's own listener serves TLS with (`--tls-cert`, `--tls-key`).
public struct TLSFiles: Sendable, Hashable {
    /// The certificate, followed by any intermediates (a chain).
    public var certificate: String
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }
}

/// The listener's certificate chain and key, replaced whole on reload.
///
/// Every TLS handshake asks NIOSSL's context callback for the current pair, so a renewed
/// certificate is served from the next connection on while the listener stays open;
/// connections already open keep what they negotiated. A pair that fails to load (missing
/// file, no certificate, a key of another certificate) never replaces a good one.
public final class ListenerCertificate: Sendable {
    struct Pair: Sendable {
        let chain: [NIOSSLCertificate]
        let key: NIOSSLPrivateKey
    }

    public let files: TLSFiles
    private let current: Mutex<Pair>

    /// Loads the files; throws a `ListenerCertificateError` saying what is wrong with them.
    public init(files: TLSFiles) throws {
        self.files = files
        current = Mutex(try Self.load(files))
    }

    /// Reads the files again and serves them to new connections.
    public func reload() throws {
        let pair = try Self.load(files)
        current.withLock { $0 = pair }
    }

    /// The server configuration: the pair loaded now, and the callback that hands each
    /// handshake the pair current then.
    public var tlsConfiguration: TLSConfiguration {
        let pair = current.withLock { $0 }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        configuration.sslContextCallback = { [self] _, promise in
            let pair = self.current.withLock { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    /// The leaf certificate's subject, for the log.
    var subject: String {
        current.withLock { $0.chain.first.map { "\($0)" } ?? "-" }
    }

    /// When the served certificate stops being valid.
    var expires: Date {
        current.withLock { Date(timeIntervalSince1970: TimeInterval($0.chain.first?.notValidAfter ?? 0)) }
    }

    /// Logs what is served now, and a warning when clients will refuse it for its dates.
    func logServed(_ message: Logger.Message, logger: Logger) {
        let expires = expires
        logger.info(message, metadata: ["file": "\(files.certificate)", "subject": "\(subject)",
                                        "expires": "\(expires.formatted(.iso8601))"])
        if expires < Date() {
            logger.warning("the TLS certificate has expired; clients refuse it: renew the files and send SIGHUP",
                           metadata: ["file": "\(files.certificate)", "expired": "\(expires.formatted(.iso8601))"])
        }
    }

    static func load(_ files: TLSFiles) throws -> Pair {
        let certificateBytes = try read(files.certificate, what: "--tls-cert")
        let keyBytes = try read(files.key, what: "--tls-key")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(certificateBytes)
        } catch {
            throw ListenerCertificateError("--tls-cert \(files.certificate) is not a PEM certificate (it must begin with -----BEGIN CERTIFICATE-----)")
        }
        guard !chain.isEmpty else {
            throw ListenerCertificateError("--tls-cert \(files.certificate) holds no PEM certificate (it must begin with -----BEGIN CERTIFICATE-----)")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw ListenerCertificateError("--tls-key \(files.key) is not an unencrypted PEM private key (openssl pkey -in KEY -out KEY.plain removes a passphrase)")
        }
        // BoringSSL refuses a key that does not belong to the leaf certificate here, so a
        // mismatched pair fails now and not at every handshake.
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw ListenerCertificateError("the key in \(files.key) does not belong to the certificate in \(files.certificate) (the first certificate in the file must be the server's own); \(error)")
        }
        return Pair(chain: chain, key: key)
    }

    private static func read(_ path: String, what: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ListenerCertificateError("\(what) \(path) cannot be read (it must exist and be readable by the server)")
        }
        return [UInt8](data)
    }
}

/// The listener's certificate or key cannot be used: which file and why.
public struct ListenerCertificateError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Reloads the listener's certificate on every SIGHUP; a failed reload keeps the
/// certificate served now and says so in the log.
struct ListenerCertificateReloader: Service {
    let certificate: ListenerCertificate
    let logger: Logger

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            do {
                try certificate.reload()
                certificate.logServed("SIGHUP: reloaded the TLS certificate; new connections get it", logger: logger)
            } catch {
                logger.error("SIGHUP: kept the TLS certificate served until now; fix the files and send SIGHUP again",
                             metadata: ["error": "\(error)"])
            }
        }
    }
}
