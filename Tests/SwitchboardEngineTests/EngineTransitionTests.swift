import ConnectionLifecycle
import Foundation
import SwitchboardEngine
import StoreContract
import SwitchboardTestSupport
import Testing

/// Every status change goes through the engine: these tests walk the whole design table
/// through it, with a real SQLite file and real HTTP checks against a stand-in target.
@Suite struct EngineTransitionTests {
    /// Every (kind, from, to, actor) combination, and for the system actor both kinds of
    /// previous change: allowed moves commit with the right event, all others are rejected
    /// and leave the row and the log untouched.
    @Test func everyCombinationFollowsTheDesignTable() async throws {
        try await EngineHarness.run { harness in
            var checked = 0
            for kindName in KindCatalog.builtIn.names {
                let kind = try #require(KindCatalog.builtIn[kindName])
                for from in ConnectionStatus.allCases {
                    for to in ConnectionStatus.allCases {
                        for (actor, lastChangedBy) in [(ActorRole.user, ActorRole.user), (.system, .user), (.system, .system)] {
                            let seeded = try await Seeding.connection(
                                in: harness.store, kind: kind, status: from, lastChangedBy: lastChangedBy,
                                url: harness.target.reachableURL)
                            let principal = actor == .user ? Principal.user("alice") : Principal.system
                            let correlation = UUID()
                            let context = "\(kindName): \(from.wireName) → \(to.wireName) by \(actor) after \(lastChangedBy)"
                            if DesignTable.permits(kind: kindName, from: from, to: to, actor: actor, lastChangedBy: lastChangedBy) {
                                let moved = try await harness.engine.transition(
                                    seeded.id, to: to, by: principal, reason: "because", correlationId: correlation)
                                #expect(moved.status == to, "\(context)")
                                #expect(moved.version == seeded.version + 1, "\(context)")
                                #expect(moved.statusChangedBy == actor, "\(context)")
                                #expect((moved.deletedAt != nil) == (to == .deleted), "\(context)")
                                let history = try await Seeding.history(of: seeded.id, in: harness.store)
                                #expect(history.count == 2, "\(context)")
                                let event = try #require(history.last)
                                #expect(event.from == from && event.to == to, "\(context)")
                                #expect(event.actor == principal.name && event.actorRole == actor, "\(context)")
                                #expect(event.reason == "because" && event.correlationId == correlation, "\(context)")
                                #expect(LifecycleEvent.replay(history) == to, "\(context)")
                            } else {
                                await #expect(throws: EngineError.self, "\(context)") {
                                    try await harness.engine.transition(seeded.id, to: to, by: principal)
                                }
                                do {
                                    try await harness.engine.transition(seeded.id, to: to, by: principal)
                                } catch EngineError.rejected(_, let requested, let rejection) {
                                    #expect(requested == to)
                                    #expect(!rejection.allowed.contains(to) || from == to || actor == .system, "\(context)")
                                } catch {
                                    Issue.record("\(context): expected a rejection, got \(error)")
                                }
                                #expect(try await harness.store.connection(id: seeded.id) == seeded, "row untouched: \(context)")
                                let history = try await Seeding.history(of: seeded.id, in: harness.store)
                                #expect(history.count == 1, "log untouched: \(context)")
                            }
                            checked += 1
                        }
                    }
                }
            }
            #expect(checked == KindCatalog.builtIn.names.count * 64 * 3)
        }
    }

    /// When the check fails, a user's request goes where the design says (or stays), with the
    /// failure as the event's reason; the system's never moves anything.
    @Test func failedChecksSendConnectionsWhereTheDesignSays() async throws {
        try await EngineHarness.run { harness in
            for kindName in KindCatalog.builtIn.names {
                let kind = try #require(KindCatalog.builtIn[kindName])
                for rule in DesignTable.rules(kind: kindName) where rule.verifies {
                    for actor in [ActorRole.user, .system] where actor == .user ? rule.user : rule.system {
                        let seeded = try await Seeding.connection(
                            in: harness.store, kind: kind, status: rule.from, lastChangedBy: .system,
                            url: harness.target.failingURL)
                        let principal = actor == .user ? Principal.user("bob") : Principal.system
                        let context = "\(kindName): \(rule.from.wireName) → \(rule.to.wireName) by \(actor)"
                        do {
                            try await harness.engine.transition(seeded.id, to: rule.to, by: principal)
                            Issue.record("\(context): succeeded against a failing target")
                        } catch EngineError.verifyFailed(let connection, let requested, let reason) {
                            #expect(requested == rule.to)
                            #expect(reason.contains("503"), "\(context): \(reason)")
                            let expected = actor == .user ? (rule.userFailure ?? rule.from) : rule.from
                            #expect(connection.status == expected, "\(context)")
                            let stored = try await harness.store.connection(id: seeded.id)
                            #expect(stored?.status == expected, "\(context)")
                            let history = try await Seeding.history(of: seeded.id, in: harness.store)
                            if expected == rule.from {
                                #expect(history.count == 1, "\(context): a failed check that moves nothing logs nothing")
                            } else {
                                #expect(history.last?.to == expected, "\(context)")
                                #expect(history.last?.reason?.contains("verification failed") == true, "\(context)")
                                #expect(LifecycleEvent.replay(history) == expected)
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func creatingVerifiesOnlyWhenAskedToStartRegisteredOrConnected() async throws {
        try await EngineHarness.run { harness in
            let before = harness.target.requestCount
            let discovered = try await harness.engine.create(
                NewConnection(name: "d", url: harness.target.reachableURL, kind: "prometheus"), by: .user("carol"))
            #expect(discovered.status == .discovered)
            #expect(discovered.type == "telemetry" && discovered.subType == "metrics")
            #expect(harness.target.requestCount == before, "discovered needs no check")

            let registered = try await harness.engine.create(
                NewConnection(name: "r", url: harness.target.reachableURL, kind: "grafana", status: .registered),
                by: .user("carol"))
            #expect(registered.status == .registered)
            #expect(harness.target.requestCount == before + 1)

            do {
                try await harness.engine.create(
                    NewConnection(name: "c", url: StandInHTTPServer.refusedURL, kind: "helm", status: .connected),
                    by: .user("carol"))
                Issue.record("created a connected connection to a refused port")
            } catch EngineError.verifyFailed(let connection, let requested, let reason) {
                #expect(requested == .connected)
                #expect(connection.status == .notFound)
                #expect(reason.contains("refused"), "\(reason)")
                #expect(try await harness.store.connection(id: connection.id)?.status == .notFound)
                let history = try await Seeding.history(of: connection.id, in: harness.store)
                #expect(history.map(\.to) == [.notFound])
            }

            await #expect(throws: EngineError.self) {
                try await harness.engine.create(NewConnection(name: "x", kind: "prometheus", status: .maintenance),
                                                by: .user("carol"))
            }
            await #expect(throws: EngineError.self) {
                try await harness.engine.create(NewConnection(name: "x", kind: "mongodb"), by: .user("carol"))
            }
            await #expect(throws: EngineError.self) {
                try await harness.engine.create(NewConnection(name: String(repeating: "n", count: 256), kind: "helm"),
                                                by: .user("carol"))
            }
            await #expect(throws: EngineError.self) {
                try await harness.engine.create(NewConnection(name: "t", kind: "helm", type: "telemetry"), by: .user("carol"))
            }
            let listing = try await harness.store.list(ConnectionQuery())
            #expect(listing.totalCount == 3, "rejected creations store nothing")
        }
    }

    @Test func aRejectedTransitionKeepsTheFieldsOfTheSameRequest() async throws {
        try await EngineHarness.run { harness in
            let kind = try #require(KindCatalog.builtIn["http"])
            let seeded = try await Seeding.connection(in: harness.store, kind: kind, status: .discovered,
                                                      name: "before", url: harness.target.reachableURL)
            await #expect(throws: EngineError.self) {
                try await harness.engine.change(seeded.id, to: .connected, patch: ConnectionPatch(name: "after"),
                                                by: .user("dan"))
            }
            #expect(try await harness.store.connection(id: seeded.id) == seeded)

            let renamed = try await harness.engine.change(seeded.id, to: .registered, patch: ConnectionPatch(name: "after"),
                                                          by: .user("dan"))
            #expect(renamed.name == "after" && renamed.status == .registered)
            let history = try await Seeding.history(of: seeded.id, in: harness.store)
            #expect(history.count == 2, "fields and status change as one event")

            let edited = try await harness.engine.change(seeded.id, to: nil, patch: ConnectionPatch(url: harness.target.flakyURL),
                                                         by: .user("dan"))
            #expect(edited.url == harness.target.flakyURL && edited.status == .registered)
            let afterEdit = try await Seeding.history(of: seeded.id, in: harness.store)
            #expect(afterEdit.last?.from == .registered && afterEdit.last?.to == .registered)
            #expect(afterEdit.last?.reason == "updated url")

            let deleted = try await harness.engine.transition(seeded.id, to: .deleted, by: .user("dan"))
            await #expect(throws: EngineError.self) {
                try await harness.engine.change(seeded.id, to: nil, patch: ConnectionPatch(name: "ghost"), by: .user("dan"))
            }
            #expect(try await harness.store.connection(id: seeded.id) == deleted, "tombstones never change")
        }
    }

    /// A bulk move: moves that need no check commit together, the rest take the single path,
    /// and each gets the answer (row, event, effects) a request of its own would.
    @Test func manyMovesAnswerEachAsASingleMoveWould() async throws {
        try await EngineHarness.run { harness in
            let kind = try #require(KindCatalog.builtIn["prometheus"])
            var quiet: [Connection] = []
            for index in 0..<5 {
                quiet.append(try await Seeding.connection(in: harness.store, kind: kind, status: .discovered, name: "quiet-\(index)"))
            }
            let live = try await Seeding.connection(in: harness.store, kind: kind, status: .registered,
                                                    url: harness.target.reachableURL)
            try await harness.engine.transition(live.id, to: .connected, by: .user("erin"))
            let tombstone = try await Seeding.connection(in: harness.store, kind: kind, status: .deleted)
            let hidden = try await Seeding.connection(in: harness.store, kind: kind, status: .discovered, name: "hidden")
            let missing = UUID()
            let ids = quiet.map(\.id) + [live.id, tombstone.id, hidden.id, missing]
            let correlation = UUID()

            let results = await harness.engine.transitionMany(ids, to: .ignored, by: .user("erin"), reason: "tidy",
                                                              correlationId: correlation) { connection in
                if connection.id == hidden.id { throw EngineError.notFound(connection.id) }
            }
            for connection in quiet {
                #expect(try results[connection.id]?.get().status == .ignored)
                let history = try await Seeding.history(of: connection.id, in: harness.store)
                #expect(history.count == 2 && history.last?.to == .ignored && history.last?.correlationId == correlation)
                #expect(history.last?.reason == "tidy" && history.last?.actor == "erin")
                #expect(try await harness.store.connection(id: connection.id)?.version == 2)
            }
            // connected → ignored stops the session, as a move of its own would.
            #expect(try results[live.id]?.get().status == .ignored)
            await harness.engine.drainSideEffects()
            #expect(await harness.recorder.effects(of: live.id) == ["start", "stop"])
            func failure(_ id: UUID) -> EngineError? {
                guard case .failure(let error)? = results[id] else { return nil }
                return error as? EngineError
            }
            guard case .rejected? = failure(tombstone.id) else {
                Issue.record("a tombstone cannot move: \(String(describing: results[tombstone.id]))")
                return
            }
            guard case .notFound? = failure(hidden.id), case .notFound? = failure(missing) else {
                Issue.record("hidden and missing ids are not found")
                return
            }
            #expect(try await harness.store.connection(id: hidden.id)?.status == .discovered, "not permitted: untouched")
            #expect(try await Seeding.history(of: tombstone.id, in: harness.store).count == 1)
        }
    }

    /// Kinds with nothing to collect (generic `http`) are in use while connected, and out of
    /// use after, without a session of their own.
    @Test func kindsWithoutASessionAreStillMarkedInUse() async throws {
        let target = try await StandInHTTPServer.start()
        try await MonitorHarness.run { harness in
            let plain = try await harness.connection("plain", url: target.reachableURL, path: [.registered, .connected])
            await harness.engine.drainSideEffects()
            #expect(await harness.engine.activeSessionIds() == [plain.id])
            try await harness.engine.transition(plain.id, to: .maintenance, by: .user("erin"))
            await harness.engine.drainSideEffects()
            #expect(await harness.engine.activeSessionIds().isEmpty)
        }
        await target.stop()
    }

    @Test func sessionsFollowCommitsAndDeletionPurges() async throws {
        try await EngineHarness.run { harness in
            let kind = try #require(KindCatalog.builtIn["prometheus"])
            let seeded = try await Seeding.connection(in: harness.store, kind: kind, status: .registered,
                                                      url: harness.target.reachableURL)
            try await harness.engine.transition(seeded.id, to: .connected, by: .user("erin"))
            try await harness.engine.transition(seeded.id, to: .maintenance, by: .user("erin"))
            try await harness.engine.transition(seeded.id, to: .connected, by: .user("erin"))
            await harness.engine.drainSideEffects()
            try await waitUntil { await harness.recorder.effects(of: seeded.id).count == 3 }
            #expect(await harness.engine.activeSessionIds() == [seeded.id])
            #expect(try await harness.store.collectedData(connectionId: seeded.id)["seen"] != nil)

            try await harness.engine.transition(seeded.id, to: .ignored, by: .user("erin"))
            await harness.engine.drainSideEffects()
            #expect(await harness.recorder.effects(of: seeded.id) == ["start", "stop", "start", "stop"])
            #expect(await harness.engine.activeSessionIds().isEmpty)
            #expect(try await harness.store.collectedData(connectionId: seeded.id)["seen"] != nil, "ignoring keeps data")

            try await harness.engine.transition(seeded.id, to: .deleted, by: .user("erin"))
            await harness.engine.drainSideEffects()
            #expect(try await harness.store.collectedData(connectionId: seeded.id).isEmpty, "deleting purges data")
        }
    }
}

