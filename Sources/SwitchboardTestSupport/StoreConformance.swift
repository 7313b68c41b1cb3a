import ConnectionLifecycle
import Foundation
import StoreContract

/// The store contract, written once and run against every backend (SQLite always, PostgreSQL
/// where a server is at hand): each check gets a new, empty store and throws
/// `ConformanceFailure` naming what the backend got wrong. Only the `ConnectionStore`
/// protocols are used, so a check cannot lean on one backend's quirks.
public enum StoreConformance {
    public struct Check: Sendable, CustomStringConvertible {
        public let name: String
        public let run: @Sendable (any ConnectionStore) async throws -> Void
        public var description: String { name }
    }

    public static let checks: [Check] = [
        Check(name: "create, read and compare-and-set", run: createReadAndCompareAndSet),
        Check(name: "one of two racing writers wins", run: oneOfTwoRacingWritersWins),
        Check(name: "a change and its event are stored together or not at all", run: changeAndEventTogether),
        Check(name: "a batch stores the moves whose version held", run: batchStoresTheMovesThatHeld),
        Check(name: "lists filter, sort, page and count", run: listsFilterSortPageAndCount),
        Check(name: "tombstones are hidden, free their fingerprint and are found last", run: tombstones),
        Check(name: "lookups for the services (children, candidates, counts)", run: lookupsForTheServices),
        Check(name: "the change log in order, resumable, filtered", run: changeLogOrderAndResume),
        Check(name: "health and collected data", run: observations),
        Check(name: "credentials (sealed bytes, audited, compare-and-set)", run: credentials),
        Check(name: "environments, members and sharing", run: environments),
        Check(name: "users and tokens", run: usersAndTokens),
        Check(name: "readiness and a stable server id", run: housekeeping),
        Check(name: "replica members by heartbeat; jobs of one name one at a time", run: replicas),
    ]

    // MARK: Connections

    static func createReadAndCompareAndSet(_ store: any ConnectionStore) async throws {
        let made = connection("alpha", kind: "prometheus", status: .connected, fingerprint: "prometheus http://a")
        try await store.insert(made, event: created(made))
        try expect(try await store.connection(id: made.id) == made, "a connection reads back as inserted")
        try expect(try await store.connection(id: UUID()) == nil, "an unknown id reads as nil")
        try expect(try await store.connections(ids: [made.id, UUID()]) == [made.id: made], "connections(ids:) answers those that exist")
        try await expectError(StoreError.duplicate(made.id), "a second insert with the same id") {
            try await store.insert(made, event: created(made))
        }

        var renamed = made
        renamed.name = "alpha 2"
        renamed.updatedAt = made.updatedAt.addingTimeInterval(1)
        let stored = try await store.update(renamed, expectedVersion: 1, event: nil)
        try expect(stored.version == 2 && stored.name == "alpha 2", "an update bumps the version: \(stored)")
        try expect(try await store.connection(id: made.id) == stored, "the update is what reads back")
        try await expectError(StoreError.versionConflict(made.id, expected: 1), "an update with a stale version") {
            _ = try await store.update(renamed, expectedVersion: 1, event: nil)
        }
        let ghost = connection("ghost", kind: "http", status: .registered)
        try await expectError(StoreError.notFound(ghost.id), "an update of a row that does not exist") {
            _ = try await store.update(ghost, expectedVersion: 1, event: nil)
        }
        let details = try await store.connectionDetails(id: made.id)
        try expect(details?.connection == stored && details?.health == nil && details?.environments == [],
                   "details of a connection never checked, in no environment: \(String(describing: details))")
    }

    static func oneOfTwoRacingWritersWins(_ store: any ConnectionStore) async throws {
        for round in 0..<20 {
            let made = connection("race \(round)", kind: "http", status: .registered)
            try await store.insert(made, event: created(made))
            async let first = attempt(store, made, to: .connected)
            async let second = attempt(store, made, to: .ignored)
            let outcomes = await [first, second]
            try expect(outcomes.filter { $0 }.count == 1, "round \(round): exactly one writer wins, got \(outcomes)")
            let history = try await store.events(connectionId: made.id, page: 0, pageSize: 10)
            try expect(history.totalCount == 2, "round \(round): the winner's event and no other, got \(history.events)")
            let now = try await store.connection(id: made.id)
            try expect(now?.version == 2 && now?.status == history.events.first?.to,
                       "round \(round): the row is the winner's: \(String(describing: now))")
        }
    }

    private static func attempt(_ store: any ConnectionStore, _ current: Connection, to status: ConnectionStatus) async -> Bool {
        var next = current
        next.status = status
        do {
            _ = try await store.update(next, expectedVersion: current.version, event: moved(current, to: status))
            return true
        } catch {
            return false
        }
    }

    static func changeAndEventTogether(_ store: any ConnectionStore) async throws {
        let made = connection("atomic", kind: "http", status: .registered, fingerprint: "http http://one")
        try await store.insert(made, event: created(made))
        let before = try await store.latestEventSequence()
        var stale = made
        stale.status = .connected
        _ = try? await store.update(stale, expectedVersion: 7, event: moved(made, to: .connected))
        try await expectError(StoreError.duplicate(made.id), "inserting a taken id") {
            try await store.insert(made, event: created(made))
        }
        let other = connection("other", kind: "http", status: .registered, fingerprint: "http http://one")
        try await expectError(StoreError.duplicateFingerprint("http http://one", existing: made.id), "a live duplicate fingerprint") {
            try await store.insert(other, event: created(other))
        }
        try expect(try await store.connection(id: other.id) == nil, "a refused insert stores no row")
        try expect(try await store.latestEventSequence() == before, "refused changes append no event")
        let credential = sealedCredential("cluster")
        var clash = connection("clash", kind: "http", status: .registered, fingerprint: "http http://one")
        clash.credentialId = credential.id
        _ = try? await store.insert(clash, event: created(clash), credential: CredentialWrite(credential: credential, audit: nil))
        try expect(try await store.sealedCredential(id: credential.id) == nil, "a refused insert stores its credential neither")

        let owning = connection("owning", kind: "kubernetes", status: .discovered, fingerprint: "kubernetes https://k")
        var withCredential = owning
        withCredential.credentialId = credential.id
        let event = created(withCredential)
        try await store.insert(withCredential, event: event, credential: CredentialWrite(credential: credential, audit: audit(credential.id, .created)))
        try expect(try await store.sealedCredential(id: credential.id) == credential, "an insert stores the credential it carries")
        try expect(try await store.auditEvents(subjectId: credential.id).count == 1, "and its audit record")
        try expect(try await store.latestEventSequence() > before, "and its event")
    }

    static func batchStoresTheMovesThatHeld(_ store: any ConnectionStore) async throws {
        let one = connection("one", kind: "http", status: .registered)
        let two = connection("two", kind: "http", status: .registered)
        try await store.insert(contentsOf: [(one, created(one)), (two, created(two))])
        var twoMoved = two
        twoMoved.name = "moved meanwhile"
        _ = try await store.update(twoMoved, expectedVersion: 1, event: nil)
        let moves = [one, two].map { current in
            var next = current
            next.status = .connected
            return StoredMove(connection: next, expectedVersion: 1, event: moved(current, to: .connected))
        }
        let stored = try await store.updateMany(moves)
        try expect(Set(stored.keys) == [one.id], "only the move whose version held is stored: \(stored.keys)")
        try expect(try await store.connection(id: two.id)?.status == .registered, "the other is left as it was")
        try expect(try await store.events(connectionId: two.id, page: 0, pageSize: 10).totalCount == 1, "with no event")
        try expect(try await store.events(connectionId: one.id, page: 0, pageSize: 10).totalCount == 2, "the stored one has its event")
    }

    static func listsFilterSortPageAndCount(_ store: any ConnectionStore) async throws {
        let owner = UUID()
        var rows: [Connection] = []
        for (index, (kind, status)) in [("prometheus", ConnectionStatus.connected), ("prometheus", .registered),
                                        ("grafana", .connected), ("grafana", .disconnected), ("http", .deleted),
                                        ("http", .ignored)].enumerated() {
            var row = connection("conn \(index)", kind: kind, status: status, url: "http://host-\(index).example")
            row.updatedAt = row.updatedAt.addingTimeInterval(Double(index))
            if index.isMultiple(of: 2) { row.owner = owner }
            rows.append(row)
        }
        try await store.insert(contentsOf: rows.map { ($0, created($0)) })

        let all = try await store.list(ConnectionQuery(pageSize: 100))
        try expect(all.totalCount == 5 && !all.connections.contains { $0.status == .deleted },
                   "tombstones are left out unless asked for: \(all.totalCount)")
        try expect(all.statusSummary == [.connected: 2, .registered: 1, .disconnected: 1, .ignored: 1],
                   "counts by status: \(all.statusSummary)")
        try expect(all.connections.map(\.name) == ["conn 5", "conn 3", "conn 2", "conn 1", "conn 0"],
                   "newest update first by default: \(all.connections.map(\.name))")

        let prometheus = try await store.list(ConnectionQuery(kinds: ["prometheus"], pageSize: 100))
        try expect(prometheus.totalCount == 2, "a kind filter: \(prometheus.totalCount)")
        let either = try await store.list(ConnectionQuery(kinds: ["prometheus", "grafana"], statuses: [.connected], pageSize: 100))
        try expect(Set(either.connections.map(\.name)) == ["conn 0", "conn 2"], "alternatives of one field, all of the fields")
        let tombstones = try await store.list(ConnectionQuery(statuses: [.deleted], pageSize: 100))
        try expect(tombstones.connections.map(\.name) == ["conn 4"], "tombstones when asked for")
        let owned = try await store.list(ConnectionQuery(owner: owner, pageSize: 100))
        try expect(Set(owned.connections.map(\.name)) == ["conn 0", "conn 2"], "an owner's: \(owned.connections.map(\.name))")
        let searched = try await store.list(ConnectionQuery(search: "HOST-3", pageSize: 100))
        try expect(searched.connections.map(\.name) == ["conn 3"], "search matches the url, in any case")
        let named = try await store.list(ConnectionQuery(name: "N 1", pageSize: 100))
        try expect(named.connections.map(\.name) == ["conn 1"], "a partial name, in any case")
        let wild = try await store.list(ConnectionQuery(search: "%", pageSize: 100))
        try expect(wild.totalCount == 0, "search text is matched literally (no wildcards): \(wild.totalCount)")

        let byName = try await store.list(ConnectionQuery(order: ConnectionOrder(field: .name, descending: false), page: 1, pageSize: 2))
        try expect(byName.connections.map(\.name) == ["conn 2", "conn 3"] && byName.totalCount == 5,
                   "the second page of two, by name: \(byName.connections.map(\.name))")
        let past = try await store.list(ConnectionQuery(page: 10, pageSize: 2))
        try expect(past.connections.isEmpty && past.totalCount == 5, "a page past the end is empty and still counts")
    }

    static func tombstones(_ store: any ConnectionStore) async throws {
        let made = connection("t", kind: "http", status: .connected, fingerprint: "http http://t")
        try await store.insert(made, event: created(made))
        var gone = made
        gone.status = .deleted
        gone.deletedAt = made.createdAt
        gone = try await store.update(gone, expectedVersion: 1, event: moved(made, to: .deleted))
        try expect(try await store.connection(id: made.id)?.status == .deleted, "a tombstone stays readable by id")
        try expect(try await store.liveConnection(owner: nil, fingerprint: "http http://t") == nil, "a tombstone is not live")
        try expect(try await store.latestConnection(owner: nil, fingerprint: "http http://t")?.id == made.id,
                   "the latest by fingerprint is the tombstone while nothing live has it")
        let again = connection("t again", kind: "http", status: .registered, fingerprint: "http http://t")
        try await store.insert(again, event: created(again))
        try expect(try await store.liveConnection(owner: nil, fingerprint: "http http://t")?.id == again.id, "its fingerprint is free again")
        try expect(try await store.latestConnection(owner: nil, fingerprint: "http http://t")?.id == again.id, "a live one comes first")
        var otherOwner = connection("theirs", kind: "http", status: .registered, fingerprint: "http http://t")
        otherOwner.owner = UUID()
        try await store.insert(otherOwner, event: created(otherOwner))
        try expect(try await store.liveConnection(owner: otherOwner.owner, fingerprint: "http http://t")?.id == otherOwner.id,
                   "fingerprints are unique per owner")
    }

    static func lookupsForTheServices(_ store: any ConnectionStore) async throws {
        let parent = connection("cluster", kind: "kubernetes", status: .connected)
        var child = connection("its prometheus", kind: "prometheus", status: .discovered)
        child.parentId = parent.id
        var deadChild = connection("gone", kind: "prometheus", status: .deleted)
        deadChild.parentId = parent.id
        let bare = connection("no fingerprint", kind: "http", status: .disconnected)
        let ignored = connection("ignored", kind: "http", status: .ignored, fingerprint: "http http://i")
        try await store.insert(contentsOf: [parent, child, deadChild, bare, ignored].map { ($0, created($0)) })

        try expect(try await store.children(of: parent.id).map(\.id) == [child.id], "live children by parent")
        try expect(try await store.connection(id: child.id)?.parentId == parent.id, "the parent reads back")
        try expect(try await store.deletedParentsWithLiveChildren() == [], "no deleted parent yet")
        var deletedParent = parent
        deletedParent.status = .deleted
        _ = try await store.update(deletedParent, expectedVersion: 1, event: moved(parent, to: .deleted))
        try expect(try await store.deletedParentsWithLiveChildren() == [parent.id], "a deleted parent with a live child")

        let candidates = try await allPages { after in try await store.probeCandidates(after: after, limit: 1) }
        try expect(Set(candidates.map(\.id)) == [bare.id], "registered, connected and disconnected only: \(candidates.map(\.name))")
        let unfingerprinted = try await allPages { after in try await store.connectionsWithoutFingerprint(after: after, limit: 1) }
        try expect(Set(unfingerprinted.map(\.id)) == [child.id, bare.id], "live rows without a fingerprint: \(unfingerprinted.map(\.name))")
        let counts = Set(try await store.countsByKindAndStatus())
        try expect(counts == [KindStatusCount(kind: "prometheus", status: .discovered, count: 1),
                              KindStatusCount(kind: "http", status: .disconnected, count: 1),
                              KindStatusCount(kind: "http", status: .ignored, count: 1)],
                   "live connections by kind and status: \(counts)")
    }

    /// Every page of an id-ordered listing, checking the order on the way.
    private static func allPages(_ page: (UUID?) async throws -> [Connection]) async throws -> [Connection] {
        var found: [Connection] = []
        var after: UUID?
        while true {
            let batch = try await page(after)
            guard let last = batch.last else { return found }
            try expect(after.map { $0.lowercasedString < last.id.lowercasedString } ?? true, "pages continue after the last id")
            found += batch
            after = last.id
        }
    }

    // MARK: The change log

    static func changeLogOrderAndResume(_ store: any ConnectionStore) async throws {
        try expect(try await store.latestEventSequence() == 0, "an empty log's latest sequence is 0")
        let owner = UUID()
        var a = connection("a", kind: "prometheus", status: .registered)
        a.owner = owner
        let b = connection("b", kind: "grafana", status: .registered)
        try await store.insert(a, event: created(a))
        try await store.insert(b, event: created(b))
        var current = a
        for status in [ConnectionStatus.connected, .maintenance, .connected] {
            var next = current
            next.status = status
            current = try await store.update(next, expectedVersion: current.version, event: moved(current, to: status))
        }
        let log = try await store.eventLog(EventLogQuery(after: 0))
        try expect(log.count == 5, "every event: \(log.count)")
        try expect(zip(log, log.dropFirst()).allSatisfy { $0.sequence < $1.sequence }, "oldest first, sequences rising")
        try expect(try await store.latestEventSequence() == log.last?.sequence, "the latest sequence is the last event's")
        let resumed = try await store.eventLog(EventLogQuery(after: log[1].sequence))
        try expect(resumed.map(\.sequence) == log.dropFirst(2).map(\.sequence), "resuming after a sequence gives what followed, once")
        let limited = try await store.eventLog(EventLogQuery(after: 0, limit: 2))
        try expect(limited.map(\.sequence) == log.prefix(2).map(\.sequence), "a limit takes the oldest")
        try expect(try await store.eventLog(EventLogQuery(after: 0, connections: [b.id])).map(\.connectionId) == [b.id], "by connection")
        try expect(try await store.eventLog(EventLogQuery(after: 0, kinds: ["prometheus"])).count == 4, "by kind")
        try expect(try await store.eventLog(EventLogQuery(after: 0, owner: owner)).allSatisfy { $0.connectionId == a.id }, "by owner")

        let page = try await store.events(connectionId: a.id, page: 0, pageSize: 3)
        try expect(page.totalCount == 4 && page.events.map(\.to) == [.connected, .maintenance, .connected],
                   "a history is newest first, paged, counted: \(page.events.map(\.to))")
        let second = try await store.events(connectionId: a.id, page: 1, pageSize: 3)
        try expect(second.events.map(\.from) == [nil], "its last page holds the creation")
    }

    // MARK: Observations

    static func observations(_ store: any ConnectionStore) async throws {
        let one = connection("one", kind: "http", status: .connected)
        try await store.insert(one, event: created(one))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let newer = HealthRecord(connectionId: one.id).recording(.unreachable, error: "refused", latencyMilliseconds: 3,
                                                                 at: start.addingTimeInterval(10))
        let older = HealthRecord(connectionId: one.id).recording(.reachable, error: nil, latencyMilliseconds: 1, at: start)
        try await store.saveHealth([newer])
        try await store.saveHealth([older])
        try expect(try await store.health(of: [one.id, UUID()]) == [one.id: newer], "an older record does not replace a newer one")
        try expect(try await store.connectionDetails(id: one.id)?.health == newer, "details carry the health record")

        try await store.saveCollectedData(connectionId: one.id, key: "targets", value: .number(3), at: start)
        try await store.saveCollectedData(connectionId: one.id, key: "targets", value: .number(4), at: start.addingTimeInterval(1))
        try await store.saveCollectedData(connectionId: one.id, key: "build", value: .object(["version": .string("2.45")]), at: start)
        let collected = try await store.collectedData(connectionId: one.id)
        try expect(collected["targets"] == CollectedItem(value: .number(4), collectedAt: start.addingTimeInterval(1))
                   && collected["build"]?.value == .object(["version": .string("2.45")]), "the last value of each key: \(collected)")
        try await store.purgeCollectedData(connectionId: one.id)
        try expect(try await store.collectedData(connectionId: one.id).isEmpty, "purged")
    }

    // MARK: Credentials

    static func credentials(_ store: any ConnectionStore) async throws {
        let owner = UUID()
        var first = sealedCredential("prod token")
        first.owner = owner
        let second = sealedCredential("staging token")
        try await store.insertCredential(first, audit: audit(first.id, .created))
        try await store.insertCredential(second, audit: audit(second.id, .created))
        try expect(try await store.sealedCredential(id: first.id) == first, "sealed bytes read back unchanged")
        try await expectError(StoreError.duplicate(first.id), "a taken credential id") {
            try await store.insertCredential(first, audit: audit(first.id, .created))
        }
        let all = try await store.sealedCredentials(CredentialQuery(pageSize: 10))
        try expect(all.totalCount == 2 && all.credentials.map(\.name) == ["prod token", "staging token"], "listed by name")
        try expect(try await store.sealedCredentials(CredentialQuery(owner: owner)).credentials.map(\.id) == [first.id], "by owner")
        try expect(try await store.sealedCredentials(CredentialQuery(search: "STAG")).credentials.map(\.id) == [second.id], "by name, any case")
        try expect(try await store.sealedCredentials(CredentialQuery(search: "_")).totalCount == 0, "search text is literal")

        var renamed = first
        renamed.name = "prod token (new)"
        renamed.updatedAt = first.updatedAt.addingTimeInterval(1)
        try await store.updateCredential(renamed, expectedUpdatedAt: first.updatedAt, audit: audit(first.id, .updated))
        try await expectError(StoreError.versionConflict(first.id, expected: Int64((first.updatedAt.timeIntervalSince1970 * 1000).rounded())),
                              "an update from a stale read") {
            try await store.updateCredential(renamed, expectedUpdatedAt: first.updatedAt, audit: audit(first.id, .updated))
        }
        let missing = sealedCredential("missing")
        try await expectError(StoreError.credentialNotFound(missing.id), "an update of no credential") {
            try await store.updateCredential(missing, expectedUpdatedAt: missing.updatedAt, audit: audit(missing.id, .updated))
        }

        var user = connection("uses it", kind: "http", status: .connected)
        user.credentialId = first.id
        try await store.insert(user, event: created(user))
        try await expectError(StoreError.credentialInUse(first.id, by: [user.id]), "deleting a credential in use") {
            try await store.deleteCredential(id: first.id, audit: audit(first.id, .deleted))
        }
        try expect(try await store.deleteCredentialIfUnused(id: first.id, audit: audit(first.id, .deleted)) == false,
                   "kept while used")
        var gone = user
        gone.status = .deleted
        _ = try await store.update(gone, expectedVersion: 1, event: moved(user, to: .deleted))
        try expect(try await store.deleteCredentialIfUnused(id: first.id, audit: audit(first.id, .deleted)) == false,
                   "one made on its own outlives its last connection")
        var owned = sealedCredential("made for a connection")
        owned.ownedByConnection = true
        try await store.insertCredential(owned, audit: audit(owned.id, .created))
        try expect(try await store.deleteCredentialIfUnused(id: owned.id, audit: audit(owned.id, .deleted)) == true,
                   "one made for connections goes with the last of them")
        try await store.deleteCredential(id: first.id, audit: audit(first.id, .deleted))
        try expect(try await store.sealedCredential(id: first.id) == nil, "deleted")
        try await expectError(StoreError.credentialNotFound(first.id), "deleting it again") {
            try await store.deleteCredential(id: first.id, audit: audit(first.id, .deleted))
        }
        let history = try await store.auditEvents(subjectId: first.id)
        try expect(history.map(\.action) == [.created, .updated, .deleted], "audited in order: \(history.map(\.action))")

        let resealed = try await store.resealCredentials(notUnder: "k2", limit: 10) { sealed in
            var next = sealed
            next.keyId = "k2"
            next.sealedSecret = Data("under k2".utf8)
            return next
        }
        try expect(resealed == 1, "re-sealed what was not under the key: \(resealed)")
        try expect(try await store.sealedCredential(id: second.id)?.keyId == "k2", "stored under the new key")
        try expect(try await store.resealCredentials(notUnder: "k2", limit: 10) { $0 } == 0, "nothing left the second time")
    }

    // MARK: Environments

    static func environments(_ store: any ConnectionStore) async throws {
        let member = connection("member", kind: "http", status: .connected)
        let outsider = connection("outsider", kind: "http", status: .connected)
        try await store.insert(contentsOf: [(member, created(member)), (outsider, created(outsider))])
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let owner = UUID()
        let production = Environment(name: "production", owner: owner, metadata: ["team": .string("sre")], createdAt: at, updatedAt: at)
        let missing = UUID()
        try await expectError(StoreError.notFound(missing), "an environment with a member that does not exist") {
            try await store.insertEnvironment(production, members: [member.id, missing], audit: audit(production.id, .created))
        }
        try expect(try await store.environment(id: production.id) == nil, "is not stored at all")
        try await store.insertEnvironment(production, members: [member.id], audit: audit(production.id, .created))
        try expect(try await store.environment(id: production.id) == production, "an environment reads back")
        try expect(try await store.environments(ofConnections: [member.id, outsider.id]) == [member.id: [production]],
                   "memberships by connection")
        try expect(try await store.connectionDetails(id: member.id)?.environments == [production], "details carry them")
        try expect(try await store.addMember(outsider.id, to: production.id, audit: audit(production.id, .updated)) == true, "added")
        try expect(try await store.addMember(outsider.id, to: production.id, audit: audit(production.id, .updated)) == false,
                   "adding twice changes nothing")
        try await store.removeMember(outsider.id, from: production.id, audit: audit(production.id, .updated))
        try await expectError(StoreError.notFound(outsider.id), "removing a connection that is not a member") {
            try await store.removeMember(outsider.id, from: production.id, audit: audit(production.id, .updated))
        }

        var renamed = production
        renamed.name = "prod"
        renamed.updatedAt = at.addingTimeInterval(1)
        try await store.updateEnvironment(renamed, expectedUpdatedAt: at, audit: audit(production.id, .updated))
        try await expectError(StoreError.versionConflict(production.id, expected: Int64(at.timeIntervalSince1970 * 1000)),
                              "an update from a stale read") {
            try await store.updateEnvironment(renamed, expectedUpdatedAt: at, audit: audit(production.id, .updated))
        }
        let staging = Environment(name: "staging", createdAt: at, updatedAt: at)
        try await store.insertEnvironment(staging, members: [], audit: audit(staging.id, .created))
        let listed = try await store.environments(EnvironmentQuery(pageSize: 10))
        try expect(listed.totalCount == 2 && Set(listed.environments.map(\.name)) == ["prod", "staging"], "listed")
        try expect(try await store.environments(EnvironmentQuery(owner: owner)).environments.map(\.id) == [production.id], "by owner")
        try expect(try await store.environments(EnvironmentQuery(search: "STAG")).environments.map(\.id) == [staging.id], "by name")

        let user = User(name: "rita", role: .member, createdAt: at)
        try await store.insertUser(user)
        try expect(try await store.isShared(member.id, with: user.id) == false, "not shared yet")
        try expect(try await store.share(production.id, with: user.id, true, audit: audit(production.id, .updated)) == true, "shared")
        try expect(try await store.isShared(member.id, with: user.id), "a member is seen through a shared environment")
        try expect(try await store.isShared(outsider.id, with: user.id) == false, "a non-member is not")
        try expect(try await store.isEnvironmentShared(production.id, with: user.id), "the environment is shared")
        try expect(try await store.sharedUsers(of: production.id) == ["rita"], "with rita")
        let sharedList = try await store.list(ConnectionQuery(owner: UUID(), sharedWith: user.id, pageSize: 10))
        try expect(sharedList.connections.map(\.id) == [member.id], "lists include what is shared with the reader")
        let inEnvironment = try await store.list(ConnectionQuery(environments: [production.id], pageSize: 10))
        try expect(inEnvironment.connections.map(\.id) == [member.id], "lists filter by environment")
        try expect(try await store.share(production.id, with: user.id, false, audit: audit(production.id, .updated)) == true, "unshared")
        try expect(try await store.isShared(member.id, with: user.id) == false, "not seen any more")

        try await store.deleteEnvironment(id: production.id, audit: audit(production.id, .deleted))
        try expect(try await store.environment(id: production.id) == nil, "deleted")
        try expect(try await store.connection(id: member.id) != nil, "its connections stay")
        try expect(try await store.environments(ofConnections: [member.id]).isEmpty, "without the membership")
        try expect(try await store.auditEvents(subjectId: production.id).count >= 6, "every change audited")
    }

    // MARK: Users and tokens

    static func usersAndTokens(_ store: any ConnectionStore) async throws {
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        try expect(try await store.adminCount() == 0, "no admin at first")
        let admin = User(name: "ada", role: .admin, createdAt: at)
        let member = User(name: "max", role: .member, createdAt: at)
        try await store.insertUser(admin)
        try await store.insertUser(member)
        try expect(try await store.user(named: "ada") == admin, "a user by name")
        try expect(try await store.user(named: "nobody") == nil, "no such user")
        try expect(try await store.adminCount() == 0, "an admin without a token does not count")
        let old = APIToken(userId: admin.id, name: "laptop", hash: "hash-1", createdAt: at)
        let new = APIToken(userId: admin.id, hash: "hash-2", createdAt: at.addingTimeInterval(5), expiresAt: at.addingTimeInterval(3600))
        let members = APIToken(userId: member.id, hash: "hash-3", createdAt: at.addingTimeInterval(1))
        for token in [old, new, members] { try await store.insertToken(token) }
        let found = try await store.token(hash: "hash-2")
        try expect(found?.0 == new && found?.1 == admin, "a token by hash, with its user")
        try expect(try await store.token(hash: "nope") == nil, "an unknown hash")
        try expect(try await store.tokens().map(\.0.id) == [new.id, members.id, old.id], "every token, newest first")
        try expect(try await store.adminCount() == 1, "an admin with a live token counts once")
        try expect(try await store.revokeToken(id: old.id, at: at.addingTimeInterval(9)), "revoked")
        try expect(try await store.revokeToken(id: UUID(), at: at) == false, "no such token")
        try expect(try await store.token(hash: "hash-1")?.0.revokedAt == at.addingTimeInterval(9), "the revocation reads back")
        _ = try await store.revokeToken(id: new.id, at: at.addingTimeInterval(9))
        try expect(try await store.adminCount() == 0, "an admin whose tokens are all revoked does not count")
        try expect(try await store.userNames(ids: [admin.id, member.id, UUID()]) == [admin.id: "ada", member.id: "max"], "names by id")
    }

    // MARK: Housekeeping

    static func housekeeping(_ store: any ConnectionStore) async throws {
        try await store.checkReadiness()
        let id = try await store.serverIdentity()
        try expect(try await store.serverIdentity() == id, "the server id is made once")
        async let a = store.serverIdentity()
        async let b = store.serverIdentity()
        try expect(try await [a, b] == [id, id], "and the same for concurrent callers")
    }

    // MARK: Replicas

    static func replicas(_ store: any ConnectionStore) async throws {
        let started = epoch
        func beat(_ id: String, owned: Int = 0, address: String? = nil, startedAt: Date = started,
                  ttl: Duration = .seconds(15)) async throws -> ReplicaHeartbeat {
            try await store.heartbeat(id, startedAt: startedAt, ownedConnections: owned, address: address,
                                      ttl: ttl, endedAfter: ttl)
        }
        let first = try await beat("b")
        try expect(first.members.map(\.id) == ["b"] && !first.wasMember, "the first heartbeat makes the member's row")
        try expect(try await beat("b").wasMember, "the next finds it a member")
        let both = try await beat("a", owned: 7, address: "http://a").members
        try expect(both.map(\.id) == ["a", "b"], "members are answered by id: \(both.map(\.id))")
        try expect(both.first?.ownedConnections == 7 && both.first?.address == "http://a" && both.first?.startedAt == started,
                   "a member's row holds what its heartbeat said")
        try await store.leave("a")
        try expect(try await beat("b").members.map(\.id) == ["b"], "a member that left is gone at once")
        _ = try await beat("c")
        try await Task.sleep(for: .milliseconds(600))
        let fresh = try await beat("b", ttl: .milliseconds(300)).members
        try expect(fresh.map(\.id) == ["b"], "a member whose heartbeat is older than the TTL is not live: \(fresh.map(\.id))")
        let back = try await beat("c", startedAt: started.addingTimeInterval(60), ttl: .milliseconds(300))
        try expect(!back.wasMember && back.members.first { $0.id == "c" }?.startedAt == started.addingTimeInterval(60),
                   "a member back after its TTL was not a member, and its row says when it started again")

        let overlap = OverlapMeter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await store.exclusively("conformance-job") {
                        await overlap.enter()
                        try await Task.sleep(for: .milliseconds(50))
                        await overlap.leave()
                    }
                }
            }
            group.addTask { try await store.exclusively("another-job") { await overlap.other() } }
            try await group.waitForAll()
        }
        let (most, runs, others) = await (overlap.most, overlap.runs, overlap.others)
        try expect(most == 1 && runs == 4, "four runs of one job, one at a time (at most \(most) at once)")
        try expect(others == 1, "a job of another name runs too")
        let answer = try await store.exclusively("conformance-job") { 42 }
        try expect(answer == 42, "a job's result is answered")
    }

    private actor OverlapMeter {
        var now = 0, most = 0, runs = 0, others = 0
        func enter() { now += 1; runs += 1; most = max(most, now) }
        func leave() { now -= 1 }
        func other() { others += 1 }
    }

    // MARK: Making values

    static let epoch = Date(timeIntervalSince1970: 1_800_000_000)

    static func connection(_ name: String, kind: String, status: ConnectionStatus, url: String? = nil,
                           fingerprint: String? = nil) -> Connection {
        Connection(name: name, url: url, kind: kind, type: "component", subType: "test", status: status,
                   fingerprint: fingerprint, createdAt: epoch, updatedAt: epoch,
                   deletedAt: status == .deleted ? epoch : nil)
    }

    static func created(_ connection: Connection) -> LifecycleEvent {
        LifecycleEvent(connectionId: connection.id, from: nil, to: connection.status, actor: "conformance",
                       actorRole: .user, reason: "created", correlationId: UUID(), at: connection.createdAt)
    }

    static func moved(_ connection: Connection, to status: ConnectionStatus) -> LifecycleEvent {
        LifecycleEvent(connectionId: connection.id, from: connection.status, to: status, actor: "conformance",
                       actorRole: .user, reason: "moved", correlationId: UUID(), at: connection.updatedAt)
    }

    static func sealedCredential(_ name: String) -> SealedCredential {
        SealedCredential(id: UUID(), name: name, type: "token", owner: nil, keyId: "k1",
                         sealedSecret: Data((0..<40).map { _ in UInt8.random(in: 0...255) }),
                         ownedByConnection: false, createdAt: epoch, updatedAt: epoch)
    }

    static func audit(_ subject: UUID, _ action: AuditEvent.Action) -> AuditEvent {
        AuditEvent(subjectType: "credential", subjectId: subject, action: action, actor: "conformance", actorRole: .user,
                   detail: nil, correlationId: UUID(), at: epoch)
    }
}

/// What a backend got wrong, in the contract's words.
public struct ConformanceFailure: Error, CustomStringConvertible {
    public let description: String
}

private func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    guard condition else { throw ConformanceFailure(description: message()) }
}

private func expectError<E: Error & Equatable>(_ expected: E, _ what: String,
                                               _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as E where error == expected {
        return
    } catch {
        throw ConformanceFailure(description: "\(what): expected \(expected), got \(error)")
    }
    throw ConformanceFailure(description: "\(what): expected \(expected), nothing was thrown")
}
