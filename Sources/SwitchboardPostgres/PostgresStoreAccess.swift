import Foundation
import Logging
import NIOCore
import PostgresNIO
import StoreContract
import Synchronization

/// How the PostgreSQL store reaches the server: every read and write waits at most
/// `connect_timeout` for a connection and `answerTimeout` for its answer (a server that is
/// down or gone answers `StoreUnavailable`, not a hang), and every failure that means "the
/// server is not there" becomes `StoreUnavailable`.
extension PostgresConnectionStore {
    /// How long a read or write may take in all. A query on a connection the server dropped
    /// could wait far longer, ignoring cancellation (a PostgreSQL outage under load left a
    /// request unanswered after 30 s, 3 Dec 2026), so the caller stops waiting and the work is
    /// left to end by itself. The longest writes (a bulk transition of 1,000) take about a second.
    static let answerTimeout: Duration = .seconds(20)

    /// One transaction (BEGIN … COMMIT, rolled back when `body` throws). `answerWithin: nil`
    /// for a write that may take long (a store copy).
    func write<T: Sendable>(answerWithin answer: Duration? = answerTimeout,
                            _ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let logger = logger
        return try await access(.write, answerWithin: answer) { client, leased in
            do {
                return try await client.withTransaction(logger: logger) { connection in
                    leased.set()
                    return try await body(connection)
                }
            } catch let error as PostgresTransactionError {
                // What went wrong, not the wrapper: the body's error (the store's own, or the
                // server's), else the BEGIN's or the COMMIT's.
                throw error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error
            }
        }
    }

    /// Reads on one connection, outside a transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await access(.read, answerWithin: Self.answerTimeout) { client, leased in
            try await client.withConnection { connection in
                leased.set()
                return try await body(connection)
            }
        }
    }

    private func access<T: Sendable>(_ operation: StoreUnavailable.Operation, answerWithin answer: Duration?,
                                     _ work: @escaping @Sendable (PostgresClient, LeaseFlag) async throws -> T) async throws -> T {
        try activity.begin(location: url.description)
        defer { activity.end() }
        do {
            try await schema.ensure { try await self.migrate() }
            return try await Self.bounded(by: url.connectTimeout, answerWithin: answer) { leased in
                try await work(self.client, leased)
            }
        } catch {
            throw classify(error, operation)
        }
    }

    /// Runs `work`, failing with `LeaseTimeout` if it has not got a connection within `limit`
    /// and with `AnswerTimeout` if it has not finished within `answer` (nil: no bound once it
    /// has its connection). The caller is freed either way; work that ignores cancellation is
    /// left to end by itself.
    static func bounded<T: Sendable>(by limit: Duration, answerWithin answer: Duration? = nil,
                                     _ work: @escaping @Sendable (LeaseFlag) async throws -> T) async throws -> T {
        let leased = LeaseFlag()
        let race = Race<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.wait(continuation)
                let watch = Task {
                    guard (try? await Task.sleep(for: limit)) != nil else { return }
                    if !leased.isSet {
                        if race.finish(.failure(LeaseTimeout(limit: limit))) { race.cancelWork() }
                        return
                    }
                    guard let answer, answer > limit, (try? await Task.sleep(for: answer - limit)) != nil else { return }
                    if race.finish(.failure(AnswerTimeout(limit: answer))) { race.cancelWork() }
                }
                race.start(Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await work(leased)) } catch { result = .failure(error) }
                    _ = race.finish(result)
                    // Work that finishes stops its timer (one sleeping task per query would pile up).
                    watch.cancel()
                })
            }
        } onCancel: {
            race.cancelWork()
        }
    }

    /// `StoreUnavailable` for an error that says the server cannot be used now; other errors
    /// (a constraint, a bug) as they are.
    func classify(_ error: any Error, _ operation: StoreUnavailable.Operation) -> any Error {
        if error is StoreError || error is StoreUnavailable || error is CancellationError { return error }
        let location = url.description
        func unavailable(_ cause: StoreUnavailable.Cause, _ detail: String) -> StoreUnavailable {
            StoreUnavailable(cause: cause, operation: operation, location: location, detail: detail)
        }
        if let timeout = error as? LeaseTimeout {
            return unavailable(.unreachable, "no connection within \(timeout.limit)")
        }
        if let timeout = error as? AnswerTimeout {
            return unavailable(.unreachable, "no answer within \(timeout.limit)")
        }
        if let error = error as? PSQLError {
            switch error.code {
            case .server:
                let state = error.serverInfo?[.sqlState] ?? ""
                let message = error.serverInfo?[.message] ?? "server error"
                let detail = "PostgreSQL error \(state): \(message)"
                // 08: connection exception; 57P01-03: shutting down or starting; 53300: too many
                // connections; 28: the login is refused; 3D000: no such database.
                if state.hasPrefix("08") || state.hasPrefix("57P0") || state == "53300" || state.hasPrefix("28")
                    || state == "3D000" {
                    return unavailable(.unreachable, detail)
                }
                if state == "53100" { return unavailable(.full, detail) }
                if state == "25006" { return unavailable(.readOnly, detail) }
                if state.hasPrefix("XX") || state == "58030" { return unavailable(.inputOutput, detail) }
                return error
            case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed,
                 .sslUnsupported, .failedToAddSSLHandler, .receivedUnencryptedDataAfterSSLRequest:
                return unavailable(.unreachable, "\(error.code)\(error.underlying.map { ": \($0)" } ?? "")")
            default:
                return error
            }
        }
        // The pool's own errors (its circuit breaker after failed connects) and NIO's.
        let type = String(reflecting: Swift.type(of: error))
        if type.contains("ConnectionPoolError") || error is IOError || error is ChannelError
            || type.contains("NIOConnectionError") {
            return unavailable(.unreachable, "\(error)")
        }
        return error
    }
}


/// Set once a connection was leased (see `bounded`).
final class LeaseFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

/// The caller of `bounded`, resumed once: by the work's result or by a timeout, whichever comes first.
final class Race<T: Sendable>: Sendable {
    private let waiting = Mutex<CheckedContinuation<T, any Error>?>(nil)
    private let work = Mutex<Task<Void, Never>?>(nil)

    func wait(_ continuation: CheckedContinuation<T, any Error>) { waiting.withLock { $0 = continuation } }
    func start(_ task: Task<Void, Never>) { work.withLock { $0 = task } }
    func cancelWork() { work.withLock { $0?.cancel() } }

    /// Resumes the caller unless that happened already; says whether this call did.
    func finish(_ result: Result<T, any Error>) -> Bool {
        guard let continuation = waiting.withLock({ slot in defer { slot = nil }; return slot }) else { return false }
        continuation.resume(with: result)
        return true
    }
}

struct LeaseTimeout: Error {
    let limit: Duration
}

struct AnswerTimeout: Error {
    let limit: Duration
}

/// The reads and writes under way, so that `close()` can wait for them; refuses new ones once closing.
final class StoreActivity: Sendable {
    private let state = Mutex<(running: Int, closing: Bool)>((0, false))

    func begin(location: String) throws {
        try state.withLock { state in
            if state.closing {
                throw StoreUnavailable(cause: .unreachable, operation: .read, location: location,
                                       detail: "the store is closed")
            }
            state.running += 1
        }
    }

    func end() { state.withLock { $0.running -= 1 } }

    /// Refuses new work, then waits (at most `limit`) for the work under way.
    func close(within limit: Duration) async {
        state.withLock { $0.closing = true }
        let deadline = ContinuousClock.now + limit
        while state.withLock({ $0.running }) > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// Runs the migrations once per store; a failed attempt (the server was down) is tried again
/// by the next read or write.
final class SchemaGate: Sendable {
    private enum State { case pending, running(Task<Void, any Error>), ready }
    private let state = Mutex<State>(.pending)

    func ensure(_ migrate: @escaping @Sendable () async throws -> Void) async throws {
        let task: Task<Void, any Error>? = state.withLock { state in
            switch state {
            case .ready: return nil
            case .running(let task): return task
            case .pending:
                let task = Task { try await migrate() }
                state = .running(task)
                return task
            }
        }
        guard let task else { return }
        do {
            try await task.value
            state.withLock { $0 = .ready }
        } catch {
            state.withLock { state in
                if case .running = state { state = .pending }
            }
            throw error
        }
    }
}

extension PostgresConnection {
    /// Runs a statement and reads every row it answers.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await self.query(query, logger: postgresStoreQuietLogger).collect()
    }

    /// Runs a statement; answers how many rows it returned (use `RETURNING` to count changes).
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> Int {
        try await rows(query).count
    }
}

let postgresStoreQuietLogger = Logger(label: "switchboard.postgres.query", factory: { _ in SwiftLogNoOpLogHandler() })
