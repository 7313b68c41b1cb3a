import ConnectionLifecycle
import Crypto
import Foundation
import SwitchboardEngine
import StoreContract
import SwitchboardTestSupport
import Testing

/// Concurrent changes to one credential or environment: each lands, none is lost.
struct CredentialServiceTests {
    @Test func concurrentPartialUpdatesAreAllKept() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let store = try TestStore.sqlite(folder.file("s.sqlite"))
        let credentials = CredentialService(store: store, vault: SecretsVault(key: SymmetricKey(size: .bits256)))
        let environments = EnvironmentService(store: store)
        for round in 0..<10 {
            let credential = try await credentials.create(name: "c\(round)", type: "token", secret: ["token": "t"], by: .system)
            let environment = try await environments.create(name: "e\(round)", description: nil, by: .system)
            // One request renames, the other changes another field, at the same moment.
            async let renamed = credentials.update(credential.id, name: "renamed", type: nil, secret: nil, by: .system)
            async let retyped = credentials.update(credential.id, name: nil, type: "basic", secret: nil, by: .system)
            async let described = environments.update(environment.id, name: nil, description: "described", metadata: nil, by: .system)
            async let tagged = environments.update(environment.id, name: nil, description: nil, metadata: ["team": .string("sre")], by: .system)
            _ = try await (renamed, retyped, described, tagged)
            let finalCredential = try await credentials.get(credential.id)
            #expect(finalCredential.name == "renamed" && finalCredential.type == "basic", "round \(round): \(finalCredential)")
            let finalEnvironment = try await environments.get(environment.id)
            #expect(finalEnvironment.description == "described" && finalEnvironment.metadata["team"] == .string("sre"))
            #expect(try await store.auditEvents(subjectId: credential.id).count == 3)
        }
    }
}
