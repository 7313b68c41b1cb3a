import AsyncHTTPClient
import ConnectionLifecycle
import Foundation
import Logging
import SwitchboardDrivers
import SwitchboardTestSupport
import Testing

/// The generic check against a real HTTP server on loopback.
@Suite struct GenericHTTPDriverTests {
    /// Checks that should pass wait long: on two busy cores a 2 s limit once failed a local answer.
    private func check(_ url: String?, timeout: Duration = .seconds(15)) async throws -> CheckResult {
        let client = OutboundHTTP.makeClient()
        let driver = GenericHTTPDriver(http: OutboundHTTP(client: client), timeout: timeout)
        let connection = Connection(name: "t", url: url, kind: "http", type: "platform", subType: "http",
                                    status: .discovered, createdAt: .now, updatedAt: .now)
        let result = await driver.verify(connection)
        try await client.shutdown()
        return result
    }

    @Test func answersBelow500AreReachable() async throws {
        let target = try await StandInHTTPServer.start()
        let ok = try await check(target.reachableURL)
        #expect(ok.health == .reachable && ok.error == nil)
        let missing = try await check("\(target.baseURL)/no-such-page")
        #expect(missing.health == .reachable, "a 404 still proves the server answers")
        let failing = try await check(target.failingURL)
        #expect(failing.health == .unreachable)
        #expect(failing.error?.contains("HTTP 503") == true)
        await target.stop()
    }

    @Test func refusedAndTimedOutAreUnreachable() async throws {
        // A long deadline: a refusal is reported as one ("refused"), not as the deadline's
        // "timed out" (the words say which; a latency bound failed on a loaded machine).
        let refused = try await check(StandInHTTPServer.refusedURL, timeout: .seconds(20))
        #expect(refused.health == .unreachable)
        #expect(refused.error?.contains("refused") == true, "\(refused.error ?? "")")

        let target = try await StandInHTTPServer.start()
        let slow = try await check(target.slowURL, timeout: .milliseconds(300))
        #expect(slow.health == .unreachable)
        // The target answers after 2 s; "timed out" says the deadline ended the check first.
        #expect(slow.error?.contains("timed out") == true, "\(slow.error ?? "")")
        await target.stop()
    }

    @Test func connectionsWithoutAnHTTPURLCannotBeChecked() async throws {
        #expect(try await check(nil).health == .unknown)
        #expect(try await check("ftp://files.example/").health == .unknown)
        #expect(try await check("not a url").health == .unknown)
    }
}
