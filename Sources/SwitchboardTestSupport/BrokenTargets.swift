import Crypto
import Foundation
import Hummingbird
import HummingbirdTLS
import NIOCore
import NIOPosix
import NIOSSL
import X509

/// Targets that are broken in the ways real ones break, each on its own loopback port:
/// one accepts and never answers, one answers a byte a second and never finishes, one
/// resets every connection, one presents a certificate that expired yesterday.
public final class BrokenTargets: @unchecked Sendable {
    // @unchecked: set once in `start`.
    public let silentPort: Int
    public let drippingPort: Int
    public let resettingPort: Int
    public let expiredPort: Int
    private let channels: [any Channel]
    private let expired: LiveServer

    public enum Kind: CaseIterable, Sendable {
        case silent, dripping, resetting, expiredCertificate
    }

    /// A URL of the `kind` target; `path` tells connections apart.
    public func url(_ kind: Kind, path: String) -> String {
        switch kind {
        case .silent: "http://127.0.0.1:\(silentPort)/\(path)"
        case .dripping: "http://127.0.0.1:\(drippingPort)/\(path)"
        case .resetting: "http://127.0.0.1:\(resettingPort)/\(path)"
        case .expiredCertificate: "https://127.0.0.1:\(expiredPort)/\(path)"
        }
    }

    public static func start() async throws -> BrokenTargets {
        let silent = try await listen { _ in [SilentHandler()] }
        let dripping = try await listen { _ in [DrippingHandler()] }
        let resetting = try await listen { _ in [ResettingHandler()] }
        let router = Router()
        router.get("**") { _, _ in "fine, but nobody should trust me" }
        let expired = try await LiveServer.start(router: router, server: try .tls(.http1(), tlsConfiguration: try expiredTLS()))
        return BrokenTargets(silent: silent, dripping: dripping, resetting: resetting, expired: expired)
    }

    private init(silent: any Channel, dripping: any Channel, resetting: any Channel, expired: LiveServer) {
        channels = [silent, dripping, resetting]
        silentPort = silent.localAddress?.port ?? 0
        drippingPort = dripping.localAddress?.port ?? 0
        resettingPort = resetting.localAddress?.port ?? 0
        expiredPort = expired.port
        self.expired = expired
    }

    public func stop() async {
        for channel in channels { try? await channel.close() }
        await expired.stop()
    }

    private static func listen(_ handlers: @escaping @Sendable (any Channel) -> [any ChannelHandler & Sendable]) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandlers(handlers(channel)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// A self-signed certificate whose validity ended a day ago.
    private static func expiredTLS() throws -> TLSConfiguration {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName { CommonName("expired.switchboard.test") }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3 * 86_400), notValidAfter: now.addingTimeInterval(-86_400),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: Certificate.Extensions(), issuerPrivateKey: .init(key))
        let pem = try certificate.serializeAsPEM().pemString
        return TLSConfiguration.makeServerConfiguration(
            certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem))],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(key.pemRepresentation.utf8), format: .pem)))
    }
}

/// Accepts, reads nothing, answers nothing.
private final class SilentHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Answers one byte a second, forever.
private final class DrippingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".utf8)
        for (index, byte) in bytes.enumerated() {
            channel.eventLoop.scheduleTask(in: .seconds(Int64(index))) {
                channel.writeAndFlush(ByteBuffer(bytes: [byte]), promise: nil)
            }
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

/// Resets every connection as soon as it is accepted.
private final class ResettingHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    func channelActive(context: ChannelHandlerContext) {
        let channel = context.channel
        // Lingering zero seconds makes close send RST instead of FIN.
        guard let provider = channel as? any SocketOptionProvider else { return channel.close(promise: nil) }
        provider.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in
            channel.close(promise: nil)
        }
    }
}
