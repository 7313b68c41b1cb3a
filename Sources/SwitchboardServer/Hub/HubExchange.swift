import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// One request to the hub and what its answer means for `HubLinkStateMachine`. Every
/// request is built from the configured hub URL and nothing else, and the client follows
/// no redirect, so the token in `Authorization` reaches that URL only.
struct HubExchange: Sendable {
    /// An answer, as the state machine's events.
    enum Answer: Sendable, Equatable {
        case registered(HubLinkStateMachine.Registration)
        case heartbeat(status: String)
        /// 410 to a heartbeat.
        case gone
        /// 404 to a heartbeat.
        case notFound
        case failed(HubLinkFailure)
    }

    let client: HTTPClient
    let configuration: HubConfiguration
    /// How long a registration or heartbeat may take.
    let timeout: Duration

    /// The hub's own client: redirects off, the extra CA trusted, connections not retried
    /// (a hub that is down should say so at once; the link backs off by itself).
    static func makeClient(_ configuration: HubConfiguration) -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if !configuration.trustRoots.isEmpty { tls.additionalTrustRoots = [.certificates(configuration.trustRoots)] }
        var settings = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        settings.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: settings)
    }

    func register(_ registration: HubWire.Registration) async -> Answer {
        let answer: Reply
        switch await post(HubWire.registerPath, registration, timeout: timeout) {
        case .failure(let failure): return .failed(failure)
        case .success(let reply): answer = reply
        }
        switch answer.status {
        case 200, 201:
            guard let connection = try? JSONDecoder().decode(HubWire.RegisteredConnection.self, from: answer.body) else {
                return .failed(.unexpectedAnswer(status: answer.status, detail: "the body is not a connection with an id and a status"))
            }
            return .registered(.init(connectionId: connection.id, status: connection.status, created: answer.status == 201))
        default:
            return .failed(answer.failure)
        }
    }

    func heartbeat(_ heartbeat: HubWire.Heartbeat, serverId: UUID) async -> Answer {
        let answer: Reply
        switch await post(HubWire.heartbeatPath(serverId), heartbeat, timeout: timeout) {
        case .failure(let failure): return .failed(failure)
        case .success(let reply): answer = reply
        }
        switch answer.status {
        case 200:
            guard let lease = try? JSONDecoder().decode(HubWire.HeartbeatAnswer.self, from: answer.body) else {
                return .failed(.unexpectedAnswer(status: 200, detail: "the body is not a heartbeat answer with a status"))
            }
            return .heartbeat(status: lease.status)
        case 410: return .gone
        case 404: return .notFound
        default: return .failed(answer.failure)
        }
    }

    /// The stop request: nil when the hub took it (any answer), else why not.
    func stop(serverId: UUID, timeout: Duration) async -> String? {
        switch await post(HubWire.stopPath(serverId), HubWire.Stop(serverId: serverId), timeout: timeout) {
        case .success: nil
        case .failure(let failure): failure.reason
        }
    }

    /// A status, its headers and (up to 1 MiB of) its body.
    private struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var body: Data

        /// What a status the caller does not take means.
        var failure: HubLinkFailure {
            switch status {
            case 300..<400:
                .redirected(status: status, location: headers.first(name: "Location") ?? "no Location header")
            case 401, 403: .unauthorized(status: status, detail: detail)
            case 400..<500: .rejected(status: status, detail: detail)
            case 500...: .unreachable("the hub answered HTTP \(status): \(detail)")
            default: .unexpectedAnswer(status: status, detail: detail)
            }
        }

        /// A problem's `detail` (or `title`), else the start of the body, else the reason phrase.
        var detail: String {
            struct ProblemText: Decodable {
                var detail: String?
                var title: String?
            }
            let problem = try? JSONDecoder().decode(ProblemText.self, from: body)
            let text = problem?.detail ?? problem?.title ?? String(decoding: body.prefix(200), as: UTF8.self)
            let line = HubExchange.oneLine(text)
            return line.isEmpty ? HTTPResponseStatus(statusCode: status).reasonPhrase : line
        }
    }

    private func post(_ path: String, _ body: some Encodable, timeout: Duration) async -> Result<Reply, HubLinkFailure> {
        let token: String
        do {
            token = try configuration.tokenFile.read()
        } catch {
            return .failure(.unreadableToken(error.description))
        }
        var request = HTTPClientRequest(url: configuration.url + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "switchboard/\(SwitchboardRelease.version)")
        do {
            request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(body)))
            let response = try await client.execute(request, timeout: TimeAmount(timeout))
            let bytes = try await response.body.collect(upTo: 1 << 20)
            return .success(Reply(status: Int(response.status.code), headers: response.headers,
                                  body: Data(bytes.readableBytesView)))
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            return .failure(.unreachable("no answer within \(timeout)"))
        } catch let error as NIOTooManyBytesError {
            return .failure(.unexpectedAnswer(status: 0, detail: "the answer is larger than \(error.maxBytes ?? 1 << 20) bytes"))
        } catch {
            return .failure(.unreachable(Self.oneLine(String(describing: error))))
        }
    }

    /// Text from the network, safe for one log line: control characters become spaces, and
    /// it is cut at 300 characters.
    static func oneLine(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) })
            .trimmingCharacters(in: .whitespaces)
        return cleaned.count > 300 ? String(cleaned.prefix(300)) + "…" : cleaned
    }
}
