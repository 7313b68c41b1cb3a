import ArgumentParser
import Foundation
import StoreBackends
import StoreContract

/// `switchboard backup`: a consistent copy of the database, while the server runs or not.
///
/// It runs beside the server on the same machine and reads the database file directly
/// (read-only, SQLite's online backup), without the data folder's lock: that lock keeps out a
/// second server, and a reader needs no exclusion (WAL lets the server go on writing). A
/// server endpoint instead would put the copy on the server's disk anyway and need a token
/// with the right to read every secret's ciphertext.
struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy the database to a file (consistent even while the server runs).",
        discussion: "The copy holds connections, credentials (still encrypted), environments, users, tokens and history. It does not hold the secrets key: keep <data-dir>/secrets.key (or your --secrets-key-file) too, or the credentials in the copy cannot be read.")

    @Option(name: [.customLong("data-dir"), .customLong("data")], help: "The server's data folder (env SWITCHBOARD_DATA_DIR).")
    var dataDirectory: String = ProcessInfo.processInfo.environment["SWITCHBOARD_DATA_DIR"] ?? "./switchboard-data"

    @Option(help: "The file to write (mode 0600); it must not exist yet.")
    var to: String

    func run() async throws {
        let source = URL(fileURLWithPath: dataDirectory).appendingPathComponent("switchboard.sqlite").path
        let report: DatabaseBackup.Report
        do {
            report = try StoreBackends.backup(from: source, to: to)
        } catch let error as DatabaseBackupError {
            throw ClientFailure(exitCode: .failure, message: error.description)
        }
        print("backed up \(source) to \(to): \(report.bytes) bytes, \(Output.counted(report.connections, "connection")), \(Output.counted(report.credentials, "credential"))")
        FileHandle.standardError.write(Data("switchboard: the secrets key is not in the backup; keep it as well (\(URL(fileURLWithPath: dataDirectory).appendingPathComponent("secrets.key").path), or the server's --secrets-key-file)\n".utf8))
    }
}
