import ConnectionLifecycle
import Foundation
import GRDB
import HTTPTypes
import HummingbirdTesting
import SwitchboardTestSupport
import Testing

/// What an outside attacker tried through the API (issue 14): each case failed before its fix.
struct OutsideAttackAPITests {
    struct IdJSON: Decodable { var id: String }
    struct CountJSON: Decodable { var totalCount: Int }

    /// A member's chosen id is ignored, so the answer never depends on whether someone else's
    /// connection has it; an admin, who sees every row, still gets 409 for a taken id.
    @Test func aChosenIdTellsAMemberNothingAboutOthersConnections() async throws {
        try await ServerHarness.run { harness in
            let alice = try await harness.tokens.issue(for: "alice", role: .member).token
            let bob = try await harness.tokens.issue(for: "bob", role: .member).token
            let alices = try decode(IdJSON.self, try await harness.request(.post, "/api/integrations/connections",
                json: #"{"name": "alices", "kind": "http", "url": "http://127.0.0.1:1/alice"}"#, token: alice)).id

            let random = UUID().uuidString.lowercased()
            var answers: [(status: HTTPResponse.Status, id: String)] = []
            for (index, id) in [alices, random].enumerated() {
                let response = try await harness.request(.post, "/api/integrations/connections", json: """
                    {"id": "\(id)", "name": "bobs \(index)", "kind": "http", "url": "http://127.0.0.1:1/bob\(index)"}
                    """, token: bob)
                answers.append((response.status, try decode(IdJSON.self, response).id))
            }
            #expect(answers.map(\.status) == [.created, .created])
            #expect(!answers.contains { $0.id == alices || $0.id == random }, "a member's chosen id was used: \(answers)")
            // Alice's connection is untouched.
            #expect(String(buffer: try await harness.request(.get, "/api/integrations/connections/\(alices)", token: alice).body)
                .contains(#""name":"alices""#))

            // An admin's chosen id is used, and a taken one is refused.
            let chosen = UUID().uuidString.lowercased()
            let created = try await harness.request(.post, "/api/integrations/connections",
                json: #"{"id": "\#(chosen)", "name": "admins", "kind": "http", "url": "http://127.0.0.1:1/admin"}"#)
            #expect(created.status == .created)
            #expect(try decode(IdJSON.self, created).id == chosen)
            _ = try expectProblem(try await harness.request(.post, "/api/integrations/connections",
                json: #"{"id": "\#(alices)", "name": "again", "kind": "http", "url": "http://127.0.0.1:1/again"}"#), .conflict)
        }
    }

    /// Names are shown in terminals and pages: a control or bidi override character in one is
    /// refused (with the character named) wherever names are given, and nothing is stored.
    @Test func namesWithControlOrBidiCharactersAreRefused() async throws {
        try await ServerHarness.run { harness in
            for (name, code) in [("admin\u{202E}gnp.exe", "U+202E"), ("a\u{1B}[2Jb", "U+001B"), ("two\nlines", "U+000A"),
                                 ("c1\u{9B}", "U+009B"), ("iso\u{2066}late", "U+2066")] {
                let json = String(decoding: try JSONEncoder().encode(name), as: UTF8.self)
                for (path, body) in [("/api/integrations/connections", #"{"name": \#(json), "kind": "http", "url": "http://127.0.0.1:1/n"}"#),
                                     ("/api/environments", #"{"name": \#(json)}"#),
                                     ("/api/integrations/credentials", #"{"name": \#(json), "type": "token", "secret": {"token": "t"}}"#)] {
                    let problem = try expectProblem(try await harness.request(.post, path, json: body), .badRequest, "\(path) \(code)")
                    #expect(problem.field == "name" && problem.detail.contains(code), "\(problem.detail)")
                }
            }
            for path in ["/api/integrations/connections", "/api/environments", "/api/integrations/credentials"] {
                #expect(try decode(CountJSON.self, try await harness.request(.get, path)).totalCount == 0, "\(path)")
            }
            // Right-to-left and other scripts are names like any other.
            #expect(try await harness.request(.post, "/api/environments", json: #"{"name": "ייצור · production · 生产"}"#).status == .created)
        }
    }

    /// Probe and session settings in metadata are refused, naming the field and the range,
    /// unless they are numbers in range; a member may not set an interval under 5 s.
    @Test func probeSettingsOutOfRangeAreRefusedNotIgnored() async throws {
        try await ServerHarness.run { harness in
            let member = try await harness.tokens.issue(for: "mia", role: .member).token
            let bad: [(String, String, String)] = [
                ("healthIntervalSeconds", #""15""#, "the text"), ("healthIntervalSeconds", "0", "from 0.05 to 86400"),
                ("healthTimeoutSeconds", "1e300", "to 600"), ("healthFailureThreshold", "2.5", "whole number"),
                ("queryIntervalSeconds", "-1", "from 0.05"), ("healthRecoveryThreshold", "true", "not true"),
            ]
            for (index, (key, value, words)) in bad.enumerated() {
                let body = #"{"name": "s\#(index)", "kind": "http", "url": "http://127.0.0.1:1/s\#(index)", "metadata": {"\#(key)": \#(value)}}"#
                let problem = try expectProblem(try await harness.request(.post, "/api/integrations/connections", json: body),
                                                .badRequest, "\(key)=\(value)")
                #expect(problem.field == "metadata.\(key)" && problem.detail.contains(words), "\(problem.detail)")
            }
            let fast = #"{"name": "fast", "kind": "http", "url": "http://127.0.0.1:1/fast", "metadata": {"healthIntervalSeconds": 0.05}}"#
            let refused = try expectProblem(try await harness.request(.post, "/api/integrations/connections", json: fast, token: member),
                                            .badRequest, "a member's 0.05 s")
            #expect(refused.detail.contains("from 5 to 86400") && refused.detail.contains("member"), "\(refused.detail)")
            #expect(try decode(CountJSON.self, try await harness.request(.get, "/api/integrations/connections")).totalCount == 0)

            // In range: stored. An admin may go lower than a member; a PUT is checked too.
            #expect(try await harness.request(.post, "/api/integrations/connections", json: fast).status == .created)
            let ok = try decode(IdJSON.self, try await harness.request(.post, "/api/integrations/connections", json: """
                {"name": "ok", "kind": "http", "url": "http://127.0.0.1:1/ok", "metadata": {"healthIntervalSeconds": 5}}
                """, token: member)).id
            _ = try expectProblem(try await harness.request(.put, "/api/integrations/connections/\(ok)",
                json: #"{"metadata": {"healthIntervalSeconds": 1}}"#, token: member), .badRequest, "PUT")
        }
    }

    /// A body nested deeper than any request needs says so, instead of "not valid JSON".
    @Test func deepNestingIsNamed() async throws {
        try await ServerHarness.run { harness in
            let deep = #"{"name": "deep", "kind": "http", "metadata": {"a": "# + String(repeating: "[", count: 600)
                + String(repeating: "]", count: 600) + "}}"
            let problem = try expectProblem(try await harness.request(.post, "/api/integrations/connections", json: deep), .badRequest)
            #expect(problem.detail.contains("nests") && problem.detail.contains("64 levels"), "\(problem.detail)")
            // Brackets inside strings are text, not nesting.
            let text = #"{"name": "brackets \#(String(repeating: "[{", count: 100))", "kind": "http", "url": "http://127.0.0.1:1/b"}"#
            #expect(try await harness.request(.post, "/api/integrations/connections", json: text).status == .created)
        }
    }

    /// The page's files carry a content security policy without inline script, and refuse
    /// framing, sniffing and referrers.
    @Test func thePageCarriesSecurityHeaders() async throws {
        try await ServerHarness.run { harness in
            for path in ["/", "/app.js", "/app.css"] {
                let response = try await harness.request(.get, path, anonymous: true)
                #expect(response.status == .ok)
                let policy = response.headers[.contentSecurityPolicy] ?? ""
                #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline") && policy.contains("frame-ancestors 'none'"),
                        "\(path): \(policy)")
                #expect(response.headers[.xContentTypeOptions] == "nosniff")
                #expect(response.headers[HTTPField.Name("X-Frame-Options")!] == "DENY")
                #expect(response.headers[HTTPField.Name("Referrer-Policy")!] == "no-referrer")
            }
            // The page has no inline script or style for the policy to block.
            let page = String(buffer: try await harness.request(.get, "/", anonymous: true).body)
            #expect(!page.contains("<script>") && !page.contains(" style=") && !page.contains("<style"))
        }
    }

    /// A PUT checks only what it changes: a client that sends the whole connection back can
    /// still edit a row stored before a rule existed (here a name with a tab in it).
    @Test func aPutChecksOnlyTheFieldsItChanges() async throws {
        try await ServerHarness.run { harness in
            let id = try decode(IdJSON.self, try await harness.request(.post, "/api/integrations/connections",
                json: #"{"name": "old name", "kind": "http", "url": "http://127.0.0.1:1/old"}"#)).id
            let database = try DatabaseQueue(path: harness.databasePath)
            try await database.write { db in
                try db.execute(sql: "UPDATE connections SET name = ? WHERE id = ?", arguments: ["old\tname", id])
            }
            let edited = try await harness.request(.put, "/api/integrations/connections/\(id)", json: """
                {"name": "old\\tname", "url": "http://127.0.0.1:1/old", "description": "edited"}
                """)
            #expect(edited.status == .ok, "\(String(buffer: edited.body))")
            _ = try expectProblem(try await harness.request(.put, "/api/integrations/connections/\(id)",
                                                            json: #"{"name": "new\u0007name"}"#), .badRequest)
        }
    }
}
