import AsyncHTTPClient
import Foundation
import Synchronization

/// HTTP clients that connect a host name to one checked address, keeping the name for the
/// Host header, SNI and certificate verification (AsyncHTTPClient's `dnsOverride`). The
/// override is fixed per client, so there is one client per (host, address), reused across
/// requests: a client per request would cost a new pool and connection for every probe.
///
/// Process-wide, like `HTTPClient.shared`: the clients outlive any one `OutboundHTTP`, and a
/// client must be shut down before it is released, which a cache that lives as long as the
/// process guarantees without a shutdown step every owner would have to remember.
final class PinnedClients: Sendable {
    static let shared = PinnedClients(capacity: 1_024)

    /// Distinct (host, address) pairs kept. Each costs a few kilobytes plus its idle
    /// connections (closed after the pool's idle timeout); 1,024 names cover an installation's
    /// hosts several times over. Past it, the least recently used is shut down once no request
    /// holds it; reaching that host again costs one new connection, as a new host would.
    let capacity: Int
    private let state = Mutex(State())

    private struct Key: Hashable {
        var host: String
        var address: IPAddress
    }

    private struct Entry {
        var client: HTTPClient
        var key: Key
        var leases: Int
        var lastUse: UInt64
        var retired: Bool
    }

    private struct State {
        var current: [Key: ObjectIdentifier] = [:]
        var entries: [ObjectIdentifier: Entry] = [:]
        var clock: UInt64 = 0
    }

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// How many clients are open (current and retiring): for tests.
    var openCount: Int { state.withLock { $0.entries.count } }

    /// Runs `body` with the client for `host` pinned to `address`; the client stays open at
    /// least until `body` returns, even if the cache evicts it meanwhile.
    func withClient<T: Sendable>(host: String, address: IPAddress, isolation: isolated (any Actor)? = #isolation,
                                 _ body: (HTTPClient) async throws -> T) async throws -> T {
        let (client, id) = acquire(Key(host: host, address: address))
        defer { release(id) }
        return try await body(client)
    }

    private func acquire(_ key: Key) -> (HTTPClient, ObjectIdentifier) {
        var evicted: [HTTPClient] = []
        let result = state.withLock { state -> (HTTPClient, ObjectIdentifier) in
            state.clock += 1
            if let id = state.current[key], var entry = state.entries[id] {
                entry.leases += 1
                entry.lastUse = state.clock
                state.entries[id] = entry
                return (entry.client, id)
            }
            let client = OutboundHTTP.makeClient(dnsOverride: [key.host: key.address.description])
            let id = ObjectIdentifier(client)
            state.entries[id] = Entry(client: client, key: key, leases: 1, lastUse: state.clock, retired: false)
            state.current[key] = id
            while state.current.count > capacity,
                  let oldest = state.current.values.min(by: { (state.entries[$0]?.lastUse ?? 0) < (state.entries[$1]?.lastUse ?? 0) }),
                  var entry = state.entries[oldest] {
                state.current[entry.key] = nil
                if entry.leases == 0 {
                    state.entries[oldest] = nil
                    evicted.append(entry.client)
                } else {
                    entry.retired = true
                    state.entries[oldest] = entry
                }
            }
            return (client, id)
        }
        evicted.forEach(Self.shutDown)
        return result
    }

    private func release(_ id: ObjectIdentifier) {
        let finished = state.withLock { state -> HTTPClient? in
            guard var entry = state.entries[id] else { return nil }
            entry.leases -= 1
            if entry.retired && entry.leases == 0 {
                state.entries[id] = nil
                return entry.client
            }
            state.entries[id] = entry
            return nil
        }
        finished.map(Self.shutDown)
    }

    /// Shuts every client down, held or not: for caches that end before the process (tests).
    func shutdown() async throws {
        let clients = state.withLock { state in
            defer { state = State() }
            return state.entries.values.map(\.client)
        }
        for client in clients { try await client.shutdown() }
    }

    /// Shuts a client down without waiting: nothing holds it any more.
    private static func shutDown(_ client: HTTPClient) {
        client.shutdown { _ in }
    }
}
