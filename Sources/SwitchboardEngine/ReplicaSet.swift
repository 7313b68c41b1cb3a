import Foundation
import Synchronization

/// Which replica owns which connection: rendezvous hashing of the connection id over the
/// live members. Every replica computes the same answer from the same member list, and when
/// a member joins or leaves only the connections it gains or loses change owner.
///
/// A shared store's replica owns nothing until its first heartbeat is stored, and nothing
/// once its last stored heartbeat is older than the member TTL (the others have taken its
/// share by then). One process on its own store (SQLite, tests) owns everything.
public final class ReplicaSet: Sendable {
    /// This replica's id.
    public let me: String
    /// Whether other processes may share the store (then what this one owns depends on them).
    public let isShared: Bool

    private struct View {
        /// Live member ids; nil for a process on its own (it owns everything).
        var members: [String]?
        /// Until when the last stored heartbeat vouches for the view.
        var validUntil: ContinuousClock.Instant
        /// Whether listeners heard that the view lapsed.
        var lapseTold = false
    }

    private let view: Mutex<View>
    private let listeners = Mutex<[UUID: AsyncStream<Void>.Continuation]>([:])
    /// Connections the monitor watches here now (reported with each heartbeat).
    let watched = Atomic<Int>(0)

    private init(me: String, members: [String]?) {
        self.me = me
        self.isShared = members != nil
        self.view = Mutex(View(members: members, validUntil: .now))
    }

    /// A process that shares its store with nobody: it owns every connection.
    public static func solo(_ id: String = "solo") -> ReplicaSet { ReplicaSet(me: id, members: nil) }

    /// A replica of a shared store: it owns nothing until `ReplicaMembership` joins.
    public static func shared(_ id: String) -> ReplicaSet { ReplicaSet(me: id, members: []) }

    /// Whether this replica probes the connection and runs its session now.
    public func owns(_ id: UUID) -> Bool {
        view.withLock { view in
            guard let members = view.members else { return true }
            return ContinuousClock.now < view.validUntil && Rendezvous.owner(of: id, among: members) == me
        }
    }

    /// The live member that owns the connection (nil while this replica's view has lapsed).
    public func owner(of id: UUID) -> String? {
        view.withLock { view in
            guard let members = view.members else { return me }
            return ContinuousClock.now < view.validUntil ? Rendezvous.owner(of: id, among: members) : nil
        }
    }

    /// The live members as last seen (this process alone when it shares nothing).
    public var members: [String] { view.withLock { $0.members ?? [me] } }

    /// How many connections the monitor watches here now.
    public var watchedConnections: Int { watched.load(ordering: .relaxed) }

    /// Wakes whenever the members change or the view lapses or comes back.
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = UUID()
        listeners.withLock { $0[id] = continuation }
        continuation.onTermination = { [weak self] _ in _ = self?.listeners.withLock { $0.removeValue(forKey: id) } }
        return stream
    }

    /// A stored heartbeat answered `members`; it vouches for them for `validity`. Says
    /// whether what this replica owns may have changed.
    @discardableResult
    func update(members: [String], validFor validity: Duration) -> Bool {
        // A process on its own owns everything whatever its heartbeats say (a SQLite store
        // that cannot take one for a while must not stop the monitor).
        guard isShared else { return false }
        let changed = view.withLock { view in
            let wasValid = ContinuousClock.now < view.validUntil
            let changed = view.members != members || !wasValid
            view.members = members
            view.validUntil = .now + validity
            view.lapseTold = false
            return changed
        }
        if changed { notify() }
        return changed
    }

    /// Tells the listeners once when the view has lapsed (no heartbeat stored within the
    /// TTL); says whether this call did.
    @discardableResult
    func noticeLapse() -> Bool {
        let lapsed = view.withLock { view in
            guard view.members != nil, ContinuousClock.now >= view.validUntil, !view.lapseTold else { return false }
            view.lapseTold = true
            return true
        }
        if lapsed { notify() }
        return lapsed
    }

    private func notify() {
        for listener in listeners.withLock({ Array($0.values) }) { listener.yield() }
    }
}

/// Highest random weight: each member scores each connection; the highest score owns it.
enum Rendezvous {
    static func owner(of id: UUID, among members: [String]) -> String? {
        var best: (member: String, score: UInt64)?
        for member in members {
            let score = self.score(member, id)
            if let leader = best, leader.score > score || (leader.score == score && leader.member < member) { continue }
            best = (member, score)
        }
        return best?.member
    }

    /// FNV-1a over the member id and the connection id, then a 64-bit finalizer so that
    /// nearby inputs spread evenly. The same in every process (unlike `Hasher`, seeded per run).
    static func score(_ member: String, _ id: UUID) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        for byte in member.utf8 { mix(byte) }
        mix(0)
        withUnsafeBytes(of: id.uuid) { for byte in $0 { mix(byte) } }
        // splitmix64's finalizer
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        return hash ^ (hash >> 31)
    }
}
