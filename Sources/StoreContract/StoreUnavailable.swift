/// The store cannot read or write for a reason no request can fix: the disk is full, the
/// database file is read-only or damaged, the device fails. The API answers 503 (not 500),
/// `/readyz` fails while it lasts, and a start refuses with it.
public struct StoreUnavailable: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Cause: String, Sendable {
        case full = "the disk is full"
        case readOnly = "the database is read-only"
        case damaged = "the database file is damaged"
        case inputOutput = "the device reported an I/O error"
        case cannotOpen = "the database file cannot be opened"
        /// A database server (PostgreSQL) does not answer: down, refused, the connection
        /// dropped, or no connection within the wait.
        case unreachable = "the database server cannot be reached"
    }

    public enum Operation: String, Sendable {
        case read, write
    }

    public let cause: Cause
    public let operation: Operation
    /// The database (a file path for SQLite, a URL without its password for PostgreSQL).
    public let location: String
    /// The backend's own words (SQLite's message and code).
    public let detail: String

    public init(cause: Cause, operation: Operation, location: String, detail: String) {
        self.cause = cause
        self.operation = operation
        self.location = location
        self.detail = detail
    }

    /// What the operator does about it.
    public var remedy: String {
        switch cause {
        case .full: "free space on the disk that holds it"
        case .readOnly: "make the file and its folder writable by the server (mount, permissions, chattr -i)"
        case .damaged: "stop the server and restore the database from a backup"
        case .inputOutput: "check the disk and the system log"
        case .cannotOpen: "check that the folder exists and the server may create files in it"
        case .unreachable: "check that the database server is running and reachable at that address with that user, password and sslmode; the store reconnects by itself once it answers"
        }
    }

    /// Damage does not heal by itself: once seen, the store stays unready until a restart.
    public var isPermanent: Bool { cause == .damaged }

    public var description: String {
        "cannot \(operation.rawValue) the database \(location): \(cause.rawValue) (\(detail)); \(remedy)"
    }
}
