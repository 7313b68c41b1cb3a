import ConnectionLifecycle
import Foundation
import SwitchboardDrivers
import SwitchboardTestSupport
import Testing

/// Secrets by reference: a connection may only name files inside the folders the server
/// allows, so it cannot send an arbitrary file on the machine to a URL of its choosing.
@Suite struct FileReferenceCredentialsTests {
    @Test func onlyFilesInsideAllowedFoldersAreRead() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let allowed = folder.file("secrets")
        let outside = folder.file("elsewhere")
        for path in [allowed, outside] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        try "inside-token\n".write(toFile: "\(allowed)/token", atomically: true, encoding: .utf8)
        try "outside-token".write(toFile: "\(outside)/token", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: "\(allowed)/sneaky", withDestinationPath: "\(outside)/token")

        let credentials = FileReferenceCredentials(allowedDirectories: [allowed])
        func connection(_ file: String) -> Connection {
            Connection(name: "t", url: "http://127.0.0.1:1", kind: "prometheus", type: "telemetry", subType: "metrics",
                       status: .registered, metadata: ["bearerTokenFile": .string(file)], createdAt: .now, updatedAt: .now)
        }
        #expect(try await credentials.secrets(for: connection("\(allowed)/token"))["token"] == "inside-token")
        await #expect(throws: DriverError.self) { try await credentials.secrets(for: connection("\(outside)/token")) }
        await #expect(throws: DriverError.self) { try await credentials.secrets(for: connection("\(allowed)/../elsewhere/token")) }
        await #expect(throws: DriverError.self) { try await credentials.secrets(for: connection("\(allowed)/sneaky")) }
        await #expect(throws: DriverError.self) { try await credentials.secrets(for: connection("/etc/passwd")) }
        // Without a restriction (embedding, tests) any file is read.
        #expect(try await FileReferenceCredentials().secrets(for: connection("\(outside)/token"))["token"] == "outside-token")
    }
}
