#if DEBUG  // `@testable import` needs a debug build (see FuzzTarget.run).
import ConnectionLifecycle
import Foundation
import Hummingbird
@testable import SwitchboardEngine
@testable import SwitchboardServer
import StoreContract

/// Bytes as a request body, decoded through `JSONBody` (what every route does) as each body
/// the API reads, then through the checks the routes and the engine run before storing
/// anything; and the same bytes as a query string through `QueryValue`.
///
/// What must hold: a body that does not decode is a 400 problem the server can send (never
/// another error, which would be a 500), and metadata the API accepts is stored and shown
/// back unchanged.
enum JSONBodyTarget {
    typealias Context = BasicRequestContext

    static func run(_ data: Data) {
        if let payload = decode(ConnectionPayload.self, data) {
            _ = try? payload.status.map { try QueryValue.status($0, field: "status") }
            _ = try? ConnectionRules.check(name: payload.name, description: payload.description, url: payload.url)
            _ = try? ConnectionRules.check(reason: payload.reason)
            _ = Fingerprint.of(kind: payload.kind ?? "prometheus", url: payload.url)
            _ = try? Visibility.checkMetadata(payload.metadata)
            if let metadata = payload.metadata { checkRoundTrip(metadata) }
            if let secret = SecretText.values(payload.credentialSecret) { _ = try? CredentialService.check(secret: secret) }
        }
        if let body = decode(TransitionBody.self, data) {
            _ = try? QueryValue.status(body.status, field: "status")
            _ = try? ConnectionRules.check(reason: body.reason)
        }
        if let body = decode(BulkTransitionBody.self, data) {
            _ = try? QueryValue.status(body.status, field: "status")
        }
        if let payload = decode(CredentialRoutes<Context>.Payload.self, data) {
            if let name = payload.name, let type = payload.type { _ = try? CredentialService.check(name: name, type: type) }
            if let secret = SecretText.values(payload.secret) { _ = try? CredentialService.check(secret: secret) }
        }
        if let payload = decode(EnvironmentRoutes<Context>.Payload.self, data) {
            if let metadata = payload.metadata { checkRoundTrip(metadata) }
        }
        query(String(decoding: data, as: UTF8.self))
    }

    private static func decode<T: Decodable>(_ type: T.Type, _ data: Data) -> T? {
        do {
            return try JSONBody.decode(T.self, from: data)
        } catch let problem as Problem {
            requireThat(problem.status == 400, "decoding \(T.self) gave a \(problem.status), not a 400")
            requireThat((try? problem.response()) != nil, "decoding \(T.self) gave a problem the server cannot send")
            return nil
        } catch {
            requireThat(false, "decoding \(T.self) threw \(error), not a problem: the client would get a 500")
            return nil
        }
    }

    /// Metadata is kept as JSON text in every store and shown through the API's encoder.
    private static func checkRoundTrip(_ metadata: [String: JSONValue]) {
        let stored = JSONText.encode(metadata)
        requireThat(JSONText.decode(stored) == metadata, "metadata changes on its way through the store: \(stored)")
        requireThat((try? JSONBody.encoder.encode(metadata)) != nil, "metadata the API accepts but cannot show")
    }

    /// The query string as the listing routes read it.
    private static func query(_ text: String) {
        let parameters: Parameters
        do {
            parameters = try QueryValue.parameters(query: text)
        } catch let problem as Problem {
            return requireThat(problem.status == 400, "a query string gave a \(problem.status), not a 400")
        } catch {
            return requireThat(false, "a query string threw \(error), not a problem")
        }
        _ = try? QueryValue.paging(parameters)
        _ = try? QueryValue.paging(parameters, defaultSize: 25)
        _ = try? QueryValue.search(parameters)
        _ = try? QueryValue.uuid(QueryValue.one(parameters, "credentialId"), name: "credentialId")
        _ = try? QueryValue.list(parameters, name: "kind", limit: 255)
        if let order = try? QueryValue.one(parameters, "order") { _ = ConnectionOrder(parsing: order) }
        for value in (try? QueryValue.filter(parameters, "status")) ?? [] {
            _ = try? QueryValue.status(value, field: "status")
        }
        for value in (try? QueryValue.filter(parameters, "environment")) ?? [] {
            _ = try? QueryValue.uuid(value, name: "environment")
        }
    }
}
#endif
