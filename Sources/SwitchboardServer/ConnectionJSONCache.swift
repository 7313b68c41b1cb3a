import ConnectionLifecycle
import Foundation
import NIOCore
import StoreContract
import Synchronization

/// The JSON of recently read connections, reused while what it was written from is equal:
/// comparing the row, its health and its environments costs less than writing them again
/// (`GET /connections/{id}` is the API's most frequent call). Nothing is trusted but the
/// equality, so a stale entry can only miss, never answer.
final class ConnectionJSONCache: Sendable {
    private struct Entry {
        var details: ConnectionDetails
        var json: ByteBuffer
    }

    private let entries = Mutex<[UUID: Entry]>([:])
    /// Bounded: a few megabytes at most, for the connections people are looking at.
    private let capacity: Int

    init(capacity: Int = 1024) {
        self.capacity = capacity
    }

    /// The JSON of `details`: remembered, or written by `write` and remembered.
    func json(for details: ConnectionDetails, write: () -> ByteBuffer) -> ByteBuffer {
        let id = details.connection.id
        if let entry = entries.withLock({ $0[id] }), entry.details == details { return entry.json }
        let json = write()
        entries.withLock { entries in
            if entries.count >= capacity, entries[id] == nil { entries.removeAll(keepingCapacity: true) }
            entries[id] = Entry(details: details, json: json)
        }
        return json
    }
}
