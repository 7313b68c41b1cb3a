import Foundation
import StoreContract
import GRDB
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether the SQLite file can be written now: the last storage failure a write met (disk
/// full, read-only, damaged, I/O error), cleared by the next write that succeeds — except
/// damage, which stays until a restart.
final class SQLiteStoreHealth: Sendable {
    let path: String
    private let failure = Mutex<StoreUnavailable?>(nil)
    /// When a write last landed: readiness needs no probe write of its own while writes
    /// land anyway (a probe would queue behind a long bulk write and time the probe out).
    private let lastWrite = Mutex<ContinuousClock.Instant?>(nil)

    /// Below this much free space SQLite cannot grow its log: the store is not ready.
    static let minimumFreeBytes: UInt64 = 64 * 1024

    init(path: String) {
        self.path = path
    }

    /// The storage failure `error` means, or nil when it is an ordinary error (a constraint,
    /// a busy timeout, a bug) that says nothing about the file.
    func classify(_ error: any Error, _ operation: StoreUnavailable.Operation) -> StoreUnavailable? {
        guard let error = error as? DatabaseError else { return nil }
        let cause: StoreUnavailable.Cause
        switch error.resultCode {
        case .SQLITE_FULL: cause = .full
        case .SQLITE_READONLY, .SQLITE_PERM: cause = .readOnly
        case .SQLITE_CORRUPT, .SQLITE_NOTADB: cause = .damaged
        case .SQLITE_IOERR: cause = .inputOutput
        case .SQLITE_CANTOPEN: cause = .cannotOpen
        default: return nil
        }
        let words = error.message ?? "SQLite error"
        return StoreUnavailable(cause: cause, operation: operation, location: path,
                                detail: "SQLite error \(error.extendedResultCode.rawValue): \(words)")
    }

    /// Records the outcome of a write or read that failed with `error`; answers the error to throw.
    func failed(_ error: any Error, _ operation: StoreUnavailable.Operation) -> any Error {
        guard let unavailable = classify(error, operation) else { return error }
        failure.withLock { current in
            if current?.isPermanent != true { current = unavailable }
        }
        return unavailable
    }

    func wrote() {
        failure.withLock { current in
            if current != nil, current?.isPermanent != true { current = nil }
        }
        lastWrite.withLock { $0 = .now }
    }

    /// Whether a write landed within `interval`.
    func wroteRecently(within interval: Duration) -> Bool {
        lastWrite.withLock { $0.map { ContinuousClock.now - $0 < interval } ?? false }
    }

    /// Damage found outside a failed statement (the background check): permanent.
    func recordDamage(_ damage: StoreUnavailable) {
        failure.withLock { $0 = damage }
    }

    var lastFailure: StoreUnavailable? { failure.withLock { $0 } }

    /// Free bytes for the server on the file system that holds the database; nil when the
    /// file system does not say (some FUSE and network file systems report no sizes at all).
    func freeBytes() -> UInt64? {
        var stats = statvfs()
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard statvfs(folder, &stats) == 0, stats.f_blocks > 0 else { return nil }
        return UInt64(stats.f_bavail) * UInt64(stats.f_frsize)
    }
}

extension SQLiteConnectionStore {
    /// `pool.read`, always GRDB's asynchronous overload: `T: Sendable` is required here, so a
    /// closure returning a `Row` fails to compile instead of silently blocking a cooperative
    /// thread (issue 14). Storage failures become `StoreUnavailable`.
    func read<T: Sendable>(_ value: @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await pool.read(value)
        } catch {
            throw fileHealth.failed(error, .read)
        }
    }

    /// `pool.write` (one transaction), asynchronous only; see `read`.
    func write<T: Sendable>(_ updates: @Sendable (Database) throws -> T) async throws -> T {
        do {
            let value = try await pool.write(updates)
            fileHealth.wrote()
            return value
        } catch {
            throw fileHealth.failed(error, .write)
        }
    }

    /// Ready when a read answers, a write lands, there is room to grow, and no damage was seen.
    public func checkReadiness() async throws {
        _ = try await read { db in try Int.fetchOne(db, sql: "SELECT 1") }
        let failure = fileHealth.lastFailure
        if let failure, failure.isPermanent { throw failure }
        // A write landed a moment ago and none failed since: that is the proof.
        if failure != nil || !fileHealth.wroteRecently(within: .seconds(5)) { try await probeWrite() }
        if let free = fileHealth.freeBytes(), free < SQLiteStoreHealth.minimumFreeBytes {
            throw StoreUnavailable(cause: .full, operation: .write, location: fileHealth.path,
                                   detail: "\(free) bytes free on its file system")
        }
    }

    /// Checks at start that the file is whole and writable, so a broken store refuses to
    /// start (with the path and SQLite's words) instead of reporting ready. `whole`: the file
    /// is unchanged since a clean shutdown (`CleanShutdown`), so reading every page again
    /// can be skipped; the write is tried either way.
    public func checkAtStart(knownWhole whole: Bool = false) async throws {
        if !whole { try await checkWhole() }
        try await probeWrite()
    }

    /// Whether damage was found since the start (it stays until a restart).
    public var isKnownDamaged: Bool { fileHealth.lastFailure?.isPermanent == true }

    /// Reads every page (`PRAGMA quick_check`); throws `.damaged` with SQLite's findings.
    /// After a start that skipped it, this runs once in the background: damage that left the
    /// file's size and time alone (a failing disk) then makes the store unready, as damage a
    /// statement meets does.
    public func checkWhole() async throws {
        let problems = try await read { db in
            try String.fetchAll(db, sql: "PRAGMA quick_check(20)")
        }
        guard problems == ["ok"] else {
            let damage = StoreUnavailable(cause: .damaged, operation: .read, location: fileHealth.path,
                                          detail: "PRAGMA quick_check: " + problems.joined(separator: "; "))
            fileHealth.recordDamage(damage)
            throw damage
        }
    }

    /// Closes the database (folding its log into the file); nothing may use the store after.
    /// GRDB's close waits for readers to finish: it waits on a dispatch thread, not a
    /// cooperative one.
    public func close() async throws {
        // Fold the log in and empty it first: closing alone leaves it when anything (a
        // statement GRDB keeps) holds the file open a moment longer.
        try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        let pool = pool
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            DispatchQueue.global().async { continuation.resume(with: Result { try pool.close() }) }
        }
    }

    /// Writes one row that nothing else reads: proves the file takes a write now.
    private func probeWrite() async throws {
        let now = Date().storageMilliseconds
        try await write { db in
            try db.execute(sql: """
                INSERT INTO store_probe (id, written_at) VALUES (1, ?)
                ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at
                """, arguments: [now])
        }
    }
}
