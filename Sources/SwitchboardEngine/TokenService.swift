import ConnectionLifecycle
import Crypto
import Foundation
import StoreContract
import Synchronization

/// API tokens: random, shown once, kept only as a SHA-256, tied to a user and a role, able
/// to expire and be revoked.
public struct TokenService: Sendable {
    let store: any ConnectionStore
    let now: @Sendable () -> Date
    let recent: RecentTokens
    let revocations: RevocationMarker?
    /// Whether looked-up tokens are remembered (see `recheckAfter`).
    let remembers: Bool

    /// How long a looked-up token is trusted before it is read again. A revocation through
    /// `revocations` empties the memory at once; this bounds what a revocation without it
    /// (another store, a damaged marker) could miss.
    public static let recheckAfter: TimeInterval = 1

    /// `revocations`: the data folder's marker, signalled by `revoke` and watched by
    /// `authenticate`; nil for a store no other process revokes in. `remember: false` reads
    /// every token from the store: replicas of a shared store, where another replica's
    /// revocation must hold from the next request on and no marker file reaches them.
    public init(store: any ConnectionStore, revocations: RevocationMarker? = nil, remember: Bool = true,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.store = store
        self.remembers = remember
        self.revocations = revocations
        self.now = now
        self.recent = RecentTokens()
    }

    /// A new token and what was stored for it (the token itself is not stored).
    public struct Issued: Sendable {
        public var token: String
        public var record: APIToken
        public var user: User
    }

    /// Issues a token for `userName`, creating the user with `role` when new. An existing
    /// user keeps their role; asking for another one is an error.
    public func issue(for userName: String, role: User.Role, expiresIn: Duration? = nil,
                      name: String? = nil) async throws -> Issued {
        let trimmed = userName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 255 else {
            throw EngineError.invalid(field: "user", detail: "a user name is 1 to 255 characters")
        }
        try ConnectionRules.checkDisplayable(trimmed, field: "user")
        let at = now().truncatedToMilliseconds
        let user: User
        if let existing = try await store.user(named: trimmed) {
            guard existing.role == role else {
                throw EngineError.invalid(field: "role", detail: "user '\(trimmed)' is a \(existing.role.rawValue), not a \(role.rawValue)")
            }
            user = existing
        } else {
            user = User(name: trimmed, role: role, createdAt: at)
            try await store.insertUser(user)
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = generator.next() }
        let token = "sbt_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        let record = APIToken(userId: user.id, name: name, hash: Self.hash(token), createdAt: at,
                              expiresAt: expiresIn.map { at.addingTimeInterval(Double($0.components.seconds)) })
        try await store.insertToken(record)
        return Issued(token: token, record: record, user: user)
    }

    /// Why a bearer token was refused.
    public enum Refusal: Error, Sendable, CustomStringConvertible {
        case unknown, revoked, expired

        public var description: String {
            switch self {
            case .unknown: "the token is not valid"
            case .revoked: "the token was revoked"
            case .expired: "the token has expired"
            }
        }
    }

    /// The user a bearer token stands for.
    public func authenticate(_ token: String) async throws -> Result<Principal, Refusal> {
        guard token.hasPrefix("sbt_"), token.count < 200 else { return .failure(.unknown) }
        let digest = Self.digest(token)
        let at = now()
        let generation = recent.generation(markedBy: revocations?.stamp())
        let found: (APIToken, User)?
        if remembers, let cached = recent.lookup(digest, at: at) {
            found = cached
        } else {
            found = try await store.token(hash: digest.hexadecimal)
            if remembers, let found {
                recent.remember(digest, found, until: at.addingTimeInterval(Self.recheckAfter), readIn: generation)
            }
        }
        guard let (record, user) = found else { return .failure(.unknown) }
        if record.revokedAt != nil { return .failure(.revoked) }
        if let expires = record.expiresAt, expires <= now() { return .failure(.expired) }
        return .success(Principal(user))
    }

    public func list() async throws -> [(APIToken, User)] {
        try await store.tokens()
    }

    /// Revokes the token; answers a warning when it is revoked but a running server could
    /// not be told at once (it then refuses the token within `recheckAfter`).
    @discardableResult
    public func revoke(_ id: UUID) async throws -> String? {
        guard try await store.revokeToken(id: id, at: now().truncatedToMilliseconds) else {
            throw EngineError.invalid(field: "id", detail: "there is no token \(id.lowercasedString)")
        }
        do {
            try revocations?.signal()
            return nil
        } catch {
            return "token \(id.lowercasedString) is revoked, but a running server could not be told at once (\(error)); it refuses the token within \(Int(Self.recheckAfter)) s"
        }
    }

    /// What `bootstrapAdmin` found and did.
    public enum AdminBootstrap: Sendable, Equatable {
        /// First start: the user admin and this token (also written to the file).
        case created(token: String)
        /// An admin has a token that is not revoked.
        case present
        /// Not a first start, but no admin has a token that is not revoked (the last one
        /// was revoked). Nothing is made: a server that minted itself a new admin token at
        /// every start would undo the revocation; `switchboard token create` makes one.
        case noAdminToken
    }

    /// On a server's first start (no token was ever issued): an admin and a token, written
    /// to `file` (mode 0600, replacing any left from an earlier attempt) and returned so it
    /// can be shown once.
    public func bootstrapAdmin(tokenFile file: String) async throws -> AdminBootstrap {
        guard try await store.adminCount() == 0 else { return .present }
        guard try await store.tokens().isEmpty else { return .noAdminToken }
        let issued = try await issue(for: "admin", role: .admin, name: "first start")
        do {
            try PrivateFile.replace(file, contents: issued.token + "\n")
        } catch {
            try? await store.revokeToken(id: issued.record.id, at: now())
            throw error
        }
        return .created(token: issued.token)
    }

    static func hash(_ token: String) -> String {
        digest(token).hexadecimal
    }

    /// The token's SHA-256, hashed from its UTF-8 in place (this runs on every request).
    static func digest(_ token: String) -> SHA256Digest {
        var token = token
        return token.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }
}

/// Tokens looked up in the last moment, so a busy client does not cost a read per request.
/// Only found tokens are kept (a flood of made-up ones cannot fill it), and at most 10,000.
/// Everything is forgotten when the revocation marker changes; a token read before that
/// change is not kept (its read may predate the revocation).
final class RecentTokens: Sendable {
    private struct State {
        var entries: [SHA256Digest: (token: APIToken, user: User, until: Date)] = [:]
        var marker: RevocationMarker.Stamp?
        var generation = 0
    }

    private let state = Mutex(State())

    /// The current generation, after forgetting everything if the marker is not the one
    /// last seen.
    func generation(markedBy stamp: RevocationMarker.Stamp?) -> Int {
        state.withLock { state in
            if stamp != state.marker {
                state.entries.removeAll()
                state.marker = stamp
                state.generation += 1
            }
            return state.generation
        }
    }

    func lookup(_ hash: SHA256Digest, at date: Date) -> (APIToken, User)? {
        state.withLock { state in
            guard let entry = state.entries[hash], entry.until > date else { return nil }
            return (entry.token, entry.user)
        }
    }

    func remember(_ hash: SHA256Digest, _ found: (APIToken, User), until date: Date, readIn generation: Int) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= 10_000 { state.entries.removeAll(keepingCapacity: true) }
            state.entries[hash] = (found.0, found.1, date)
        }
    }
}
