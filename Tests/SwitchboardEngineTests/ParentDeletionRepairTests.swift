import ConnectionLifecycle
import Foundation
import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// A parent deleted just before a crash leaves its children unmarked (the marks are
/// committed after the deletion); the start-up repair gives them the marks, once.
struct ParentDeletionRepairTests {
    @Test func childrenOfADeletedParentGetTheirMarkAtStartUp() async throws {
        try await EngineHarness.run { harness in
            let kubernetes = try #require(KindCatalog.builtIn["kubernetes"])
            let prometheus = try #require(KindCatalog.builtIn["prometheus"])
            // As the crash left them: the parent deleted, its children live and unmarked.
            let parent = try await Seeding.connection(in: harness.store, kind: kubernetes, status: .deleted, name: "prod")
            let child = try await Seeding.connection(
                in: harness.store, kind: prometheus, status: .discovered, name: "prod monitoring/prometheus",
                parent: parent.id)
            let goneChild = try await Seeding.connection(
                in: harness.store, kind: prometheus, status: .deleted,
                parent: parent.id)
            let liveParent = try await Seeding.connection(in: harness.store, kind: kubernetes, status: .connected)
            let otherChild = try await Seeding.connection(
                in: harness.store, kind: prometheus, status: .discovered,
                parent: liveParent.id)

            #expect(try await harness.engine.finishParentDeletions() == 1)
            let marked = try #require(try await harness.store.connection(id: child.id))
            #expect(marked.metadata["parentDeleted"] == .bool(true))
            #expect(marked.metadata["parentDeletedAt"] != nil)
            #expect(marked.status == .discovered)
            let history = try await Seeding.history(of: child.id, in: harness.store)
            #expect(history.count == 2)
            #expect(history.last?.actorRole == .system)
            #expect(history.last?.reason?.contains(parent.id.lowercasedString) == true)
            // A deleted child and the child of a live parent are left as they are.
            #expect(try await harness.store.connection(id: goneChild.id)?.metadata["parentDeleted"] == nil)
            #expect(try await harness.store.connection(id: otherChild.id)?.metadata["parentDeleted"] == nil)
            // Nothing left to do the second time.
            #expect(try await harness.engine.finishParentDeletions() == 0)
            #expect(try await Seeding.history(of: child.id, in: harness.store).count == 2)
        }
    }
}
