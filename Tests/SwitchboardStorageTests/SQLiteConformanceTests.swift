import SwitchboardTestSupport
import Testing

/// The store contract (`StoreConformance`) on the embedded SQLite store: each check on a new file.
struct SQLiteConformanceTests {
    @Test(arguments: StoreConformance.checks)
    func sqlite(_ check: StoreConformance.Check) async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let store = try TestStore.sqlite(folder.file("conformance.sqlite"))
        do {
            try await check.run(store)
        } catch {
            try? await store.close()
            throw error
        }
        try await store.close()
    }
}
