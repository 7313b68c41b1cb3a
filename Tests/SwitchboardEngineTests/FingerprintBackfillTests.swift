import ConnectionLifecycle
import Foundation
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// Rows stored before fingerprints existed get one at start-up; two that point at the same
/// target keep none rather than one being lost.
struct FingerprintBackfillTests {
    @Test func oldRowsGetTheirFingerprint() async throws {
        try await EngineHarness.run { harness in
            let http = try #require(KindCatalog.builtIn["http"])
            let url = harness.target.reachableURL
            let alone = try await Seeding.connection(in: harness.store, kind: http, status: .registered, url: "\(url)/a")
            let twin = try await Seeding.connection(in: harness.store, kind: http, status: .registered, url: "\(url)/b")
            let otherTwin = try await Seeding.connection(in: harness.store, kind: http, status: .discovered, url: "\(url)/b/")
            let gone = try await Seeding.connection(in: harness.store, kind: http, status: .deleted, url: "\(url)/c")

            #expect(try await harness.engine.backfillFingerprints() == 2)
            #expect(try await harness.store.connection(id: alone.id)?.fingerprint == "http \(url)/a")
            let twins = [try await harness.store.connection(id: twin.id), try await harness.store.connection(id: otherTwin.id)]
            #expect(twins.compactMap { $0?.fingerprint } == ["http \(url)/b"])
            #expect(try await harness.store.connection(id: gone.id)?.fingerprint == nil)
            // Statuses and histories are untouched.
            #expect(try await harness.store.connection(id: alone.id)?.status == .registered)
            #expect(try await Seeding.history(of: alone.id, in: harness.store).count == 1)
            #expect(try await harness.engine.backfillFingerprints() == 0)
        }
    }
}
