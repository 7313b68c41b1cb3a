import Foundation
@testable import SwitchboardEngine
import SwitchboardTestSupport
import Testing

/// Ownership by rendezvous hashing: even, the same in every process, and minimal when
/// members come and go.
struct ReplicaSetTests {
    static let ids = (0..<30_000).map { _ in UUID() }

    @Test func threeMembersSplitEvenlyAndAgree() {
        let members = ["a:9081", "b:9081", "c:9081"]
        var counts: [String: Int] = [:]
        for id in Self.ids { counts[Rendezvous.owner(of: id, among: members) ?? "none", default: 0] += 1 }
        for member in members {
            let share = Double(counts[member, default: 0]) / Double(Self.ids.count)
            #expect(abs(share - 1.0 / 3) < 0.02, "\(member) owns \(share) of the connections")
        }
        // The order members are listed in does not matter.
        #expect(Self.ids.prefix(1000).allSatisfy {
            Rendezvous.owner(of: $0, among: members) == Rendezvous.owner(of: $0, among: members.reversed())
        })
        // A fixed input scores the same in every process (no per-run seed): a replica and its
        // restarted self must agree with the others.
        let fixed = UUID(uuidString: "3F0B6A52-7C1E-4D8A-9A57-2B1F0C9E4D11") ?? UUID()
        #expect(Rendezvous.score("a:9081", fixed) == Rendezvous.score("a:9081", fixed))
        #expect(Rendezvous.score("a:9081", fixed) != Rendezvous.score("b:9081", fixed))
    }

    /// ReplicaTests gives its 300 connections these ids: their split over r1, r2 and r3 is
    /// within the ±20% that test asserts, in every run.
    @Test func theReplicaTestsFixedIdsSplitWithinTheirBound() throws {
        var counts: [String: Int] = [:]
        for index in 0..<300 {
            let id = try #require(UUID(uuidString: ProbeFarm.connectionId(index)))
            counts[Rendezvous.owner(of: id, among: ["r1", "r2", "r3"]) ?? "none", default: 0] += 1
        }
        #expect(["r1", "r2", "r3"].allSatisfy { (80...120).contains(counts[$0, default: 0]) }, "\(counts)")
    }

    @Test func onlyWhatMustMoveMovesWhenMembersChange() {
        let three = ["a", "b", "c"], four = ["a", "b", "c", "d"]
        var moved = 0
        for id in Self.ids {
            let before = Rendezvous.owner(of: id, among: three), after = Rendezvous.owner(of: id, among: four)
            if before != after {
                moved += 1
                #expect(after == "d", "a connection moves only to the member that joined")
            }
        }
        let share = Double(moved) / Double(Self.ids.count)
        #expect(abs(share - 0.25) < 0.02, "a fourth member takes a quarter: \(share)")
        // When one leaves, only its connections move.
        for id in Self.ids.prefix(5000) where Rendezvous.owner(of: id, among: three) != "b" {
            #expect(Rendezvous.owner(of: id, among: ["a", "c"]) == Rendezvous.owner(of: id, among: three))
        }
    }

    @Test func aSharedReplicaOwnsNothingUntilItJoinsAndAfterItsViewLapses() async throws {
        let replicas = ReplicaSet.shared("a")
        let id = UUID()
        #expect(!replicas.owns(id), "nothing is owned before the first heartbeat")
        var changes = replicas.changes().makeAsyncIterator()
        #expect(replicas.update(members: ["a"], validFor: .milliseconds(200)))
        _ = await changes.next()
        #expect(replicas.owns(id))
        #expect(!replicas.update(members: ["a"], validFor: .milliseconds(200)), "the same members are no change")
        try await Task.sleep(for: .milliseconds(300))
        #expect(!replicas.owns(id), "a view no heartbeat renewed within the TTL owns nothing")
        #expect(replicas.noticeLapse())
        _ = await changes.next()
        #expect(!replicas.noticeLapse(), "a lapse is told once")
        #expect(replicas.update(members: ["a"], validFor: .seconds(10)), "a renewed view is a change after a lapse")
        #expect(replicas.owns(id))
        let solo = ReplicaSet.solo()
        #expect(solo.owns(id), "a process on its own owns everything")
        #expect(!solo.update(members: ["solo"], validFor: .zero), "whatever its heartbeats say")
        #expect(solo.owns(id) && !solo.noticeLapse())
    }
}
