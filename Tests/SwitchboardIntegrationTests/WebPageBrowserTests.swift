import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwitchboardTestSupport
import Testing

/// The Connections web page in a real browser: Debian's headless Chromium, driven through
/// chromedriver, against the real server binary. The kubeconfig import uses the Kubernetes
/// stand-in (a small TLS server that speaks the API server's protocol; there is no real
/// Kubernetes on these machines). Screenshots go to `test-artifacts/browser/` (or
/// `$SWITCHBOARD_ARTIFACTS/browser/`) for people to look at.
@Suite(.serialized, .enabled(if: ExternalServer.shouldRun(needing: "chromedriver"),
                             "needs Debian's chromium and chromium-driver (scripts/test installs them)"))
struct WebPageBrowserTests {
    static var artifacts: String {
        (ProcessInfo.processInfo.environment["SWITCHBOARD_ARTIFACTS"] ?? FileManager.default.currentDirectoryPath + "/test-artifacts")
            + "/browser"
    }

    /// The API as a second user of the server would use it (the changes the page must show live).
    struct API {
        let server: ServerProcess

        @discardableResult
        func send(_ method: HTTPMethod, _ path: String, _ body: String? = nil) async throws -> [String: Any] {
            let (status, data) = try await server.request(method, path, body: body, timeout: .seconds(30))
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            try #require((200..<300).contains(status), "\(method) \(path): \(object)")
            return object
        }

        func create(_ json: String) async throws -> String {
            try #require(try await send(.POST, "/api/integrations/connections", json)["id"] as? String)
        }

        func status(_ id: String) async throws -> String? {
            try await send(.GET, "/api/integrations/connections/\(id)")["status"] as? String
        }
    }

    @Test func managingConnectionsInTheBrowser() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let target = try await StandInHTTPServer.start()
        let cluster = try await KubernetesStandIn.start(in: folder, tokens: ["browser-token"])
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let api = API(server: server)
        // The description, as another user could write it, holds a right-to-left override.
        let alpha = try await api.create(#"{"name": "alpha", "kind": "http", "url": "\#(target.reachableURL)/alpha", "description": "admin\u202Egnp.exe"}"#)
        let beta = try await api.create(#"{"name": "beta", "kind": "http", "url": "\#(target.reachableURL)/beta", "status": "registered"}"#)
        let gamma = try await api.create(#"{"name": "gamma", "kind": "grafana", "url": "\#(target.reachableURL)/gamma"}"#)

        try? FileManager.default.removeItem(atPath: Self.artifacts + "/failure.png")
        let browser = try await Browser(folder: folder.path)
        do {
            try await run(browser, api: api, server: server, ids: (alpha, beta, gamma), cluster: cluster, folder: folder)
        } catch {
            // The page as it was when something went wrong, for whoever reads the failure.
            try? await browser.screenshot(to: Self.artifacts + "/failure.png")
            await browser.close()
            _ = await server.stop()
            throw error
        }
        await browser.close()
        #expect(await server.stop() == 0)
        await cluster.stop()
        await target.stop()
    }

    /// A server registered here (kind `meshery`): the drawer shows its lease, its last
    /// heartbeat and what its latest heartbeat said about its own connections.
    @Test func aRegisteredServersLeaseInTheDrawer() async throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let server = try await ServerProcess(dataDirectory: folder.file("data"), logPath: folder.file("server.log"))
        let cli = SwitchboardCLI(server: nil, token: nil, config: folder.file("cli.yaml"))
        let made = try await cli("token", "create", "--data-dir", folder.file("data"), "--user", "site-a", "--role", "server")
        let token = made.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let serverId = UUID().uuidString.lowercased()
        func send(_ path: String, _ body: String) async throws -> [String: Any] {
            let (status, data) = try await server.request(.POST, path, body: body, token: token, timeout: .seconds(30))
            try #require((200..<300).contains(status), "\(path): \(String(decoding: data, as: UTF8.self))")
            return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        }
        let id = try #require(try await send("/api/integrations/connections", #"{"name": "site-a", "kind": "meshery", "metadata": {"server_id": "\#(serverId)", "server_version": "0.1.0", "server_location": "http://127.0.0.1:7001"}}"#)["id"] as? String)
        _ = try await send("/api/integrations/connections/meshery/\(serverId)/heartbeat",
                           #"{"version": "0.1.0", "summary": {"totalCount": 3, "byStatus": {"connected": 2, "registered": 1}, "byKind": {"http": 3}}}"#)

        let browser = try await Browser(folder: folder.path)
        do {
            try await browser.open(server.address + "/")
            try await browser.type(server.adminToken, into: "#sign-in input[name=token]")
            try await browser.click("#sign-in button[type=submit]")
            try await browser.waitForText("#connections", "the server in the list") { $0.contains("site-a") }
            try await browser.click("#connections tr[data-id='\(id)'] button.open-drawer")
            try await browser.waitForText("#drawer-details", "the lease in the drawer") { $0.contains("alive: heartbeats arrive") }
            #expect(try await browser.text("#drawer-details").contains("Last heartbeat"))
            try await browser.waitForText("#drawer-data", "the spoke's counts in the drawer") {
                $0.contains("Spoke version 0.1.0: 3 connections (connected 2, registered 1)")
            }
            try await browser.screenshot(to: Self.artifacts + "/drawer-registered-server.png")
        } catch {
            try? await browser.screenshot(to: Self.artifacts + "/failure-registered-server.png")
            await browser.close()
            _ = await server.stop()
            throw error
        }
        await browser.close()
        #expect(await server.stop() == 0)
    }

    func run(_ browser: Browser, api: API, server: ServerProcess, ids: (alpha: String, beta: String, gamma: String),
             cluster: KubernetesStandIn, folder: TemporaryDirectory) async throws {
        func rows() async throws -> Int { try await browser.findAll("#connections tbody tr[data-id]").count }
        func waitForRows(_ count: Int, _ why: String) async throws {
            try await waitUntil(timeout: .seconds(10), "\(count) rows \(why)") { try await rows() == count }
        }
        func chip(_ id: String) -> String { "#connections tr[data-id='\(id)'] .status-chip" }

        // Sign in with a token.
        try await browser.open(server.address + "/")
        try await browser.type(server.adminToken, into: "#sign-in input[name=token]")
        try await browser.click("#sign-in button[type=submit]")
        try await waitForRows(3, "after signing in")

        // Search, kind filter, and the summary counters that filter when clicked.
        try await browser.type("alp", into: "#search")
        try await waitForRows(1, "searching for alp")
        #expect(try await browser.text("#connections tbody tr[data-id] .open-drawer") == "alpha")
        try await browser.type("", into: "#search")
        try await waitForRows(3, "with the search cleared")
        try await browser.select("grafana", in: "#kind-filter")
        try await waitForRows(1, "with the grafana filter")
        try await browser.select("", in: "#kind-filter")
        try await waitForRows(3, "with every kind")
        try await browser.click("#summary button[data-status='registered']")
        try await waitForRows(1, "after clicking the registered counter")
        #expect(try await browser.findAll("#connections tr[data-id='\(ids.beta)']").count == 1)
        try await browser.click("#summary button[data-status='registered']")
        try await waitForRows(3, "after clicking the counter again")
        try await browser.screenshot(to: Self.artifacts + "/table-1280.png")

        // A status change through the row's menu: only allowed moves, a confirmation, the new chip.
        try await browser.click("#connections tr[data-id='\(ids.alpha)'] button.status-menu-button")
        let offered = try await browser.findAll("[role=menuitem][data-status]")
        var offeredStatuses: Set<String> = []
        for item in offered {
            if let status = try await browser.attribute("data-status", of: item) { offeredStatuses.insert(status) }
        }
        #expect(offeredStatuses == ["registered", "ignored", "deleted"], "discovered offers what transitionMap allows")
        try await browser.click("[role=menuitem][data-status='registered']")
        try await browser.click("#confirm-ok")
        try await browser.waitForText(chip(ids.alpha), "alpha's chip shows registered") { $0 == "registered" }
        #expect(try await api.status(ids.alpha) == "registered")

        // A change made through the API appears without a reload.
        _ = try await browser.script("window.switchboardTestMarker = 'same page';")
        try await waitUntil(timeout: .seconds(10), "the change stream is open") {
            try await browser.script("return document.body.dataset.stream;") as? String == "open"
        }
        let eventsBefore = Int(try await browser.script("return document.body.dataset.streamEvents;") as? String ?? "") ?? -1
        try await api.send(.POST, "/api/integrations/connections/\(ids.gamma)/transitions", #"{"status": "ignored", "reason": "from the API"}"#)
        try await browser.waitForText(chip(ids.gamma), timeout: .seconds(10), "gamma's chip shows ignored live") { $0 == "ignored" }
        #expect(try await browser.script("return window.switchboardTestMarker;") as? String == "same page")
        let eventsAfter = Int(try await browser.script("return document.body.dataset.streamEvents;") as? String ?? "") ?? -1
        #expect(eventsBefore >= 0 && eventsAfter > eventsBefore, "the change came through the stream, not a poll")

        // The drawer: details, metadata, collected data and the history.
        try await browser.click("#connections tr[data-id='\(ids.alpha)'] button.open-drawer")
        try await browser.waitForText("#drawer-events", "alpha's history in the drawer") { $0.contains("registered") }
        #expect(try await browser.attribute("hidden", of: try await browser.find("aside#drawer")) == nil)
        #expect(try await browser.text("#drawer-details").contains("alpha"))
        // A user's text shows its hidden characters instead of obeying them.
        let details = try await browser.text("#drawer-details")
        #expect(details.contains("admin⟨U+202E⟩gnp.exe") && !details.contains("\u{202E}"), "\(details)")
        try await browser.screenshot(to: Self.artifacts + "/drawer-1280.png")
        try await browser.press(.escape, on: "#drawer-close")
        try await waitUntil(timeout: .seconds(5), "Escape closes the drawer") {
            try await browser.attribute("hidden", of: try await browser.find("aside#drawer")) != nil
        }

        // The status menu by keyboard: Enter opens it on its first item, Escape closes it
        // and gives the focus back to its button.
        let menuButton = "#connections tr[data-id='\(ids.beta)'] button.status-menu-button"
        try await browser.press(.enter, on: menuButton)
        try await waitUntil(timeout: .seconds(5), "the menu has the focus") {
            try await browser.script("return document.activeElement.getAttribute('role');") as? String == "menuitem"
        }
        try await browser.press(.arrowDown, on: "[role=menuitem]:focus")
        try await browser.press(.escape, on: "[role=menuitem]:focus")
        try await waitUntil(timeout: .seconds(5), "the focus is back on the menu button") {
            try await browser.script("return document.activeElement.classList.contains('status-menu-button');") as? Bool == true
        }

        // Every visible control has a name a screen reader can say.
        let unnamed = try await browser.script("""
            return [...document.querySelectorAll('input, select, textarea, button')]
              .filter(e => e.offsetParent !== null && !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                && !e.getAttribute('aria-labelledby') && !(e.tagName === 'BUTTON' && e.textContent.trim()) && !e.title)
              .map(e => e.outerHTML.slice(0, 120));
            """) as? [Any]
        #expect(unnamed?.isEmpty == true, "controls without a label: \(unnamed ?? [])")

        // A bulk move with mixed results: alpha and beta move, gamma (ignored) cannot.
        for id in [ids.alpha, ids.beta, ids.gamma] {
            try await browser.click("#connections tr[data-id='\(id)'] input.row-select")
        }
        try await browser.select("maintenance", in: "#bulk-status")
        try await browser.type("bulk from the page", into: "#bulk-reason")
        try await browser.click("#bulk-apply")
        try await browser.click("#confirm-ok")
        try await browser.find("#bulk-results li[data-id='\(ids.gamma)'][data-outcome='refused']")
        try await browser.find("#bulk-results li[data-id='\(ids.alpha)'][data-outcome='moved']")
        try await browser.find("#bulk-results li[data-id='\(ids.beta)'][data-outcome='moved']")
        try await browser.waitForText(chip(ids.beta), "beta's chip shows maintenance") { $0 == "maintenance" }
        #expect(try await api.status(ids.alpha) == "maintenance")
        #expect(try await api.status(ids.gamma) == "ignored")

        // The page at a phone's width.
        try await browser.click("#bulk-results-close")
        try await browser.resize(width: 390, height: 844)
        _ = try await browser.script("document.querySelector('#connections').scrollIntoView();")
        try await browser.screenshot(to: Self.artifacts + "/table-390.png")
        let overflow = try await browser.script("return document.documentElement.scrollWidth > window.innerWidth + 1;") as? Bool
        #expect(overflow == false, "nothing sticks out sideways at 390 px")
        try await browser.resize(width: 1280, height: 900)

        // Kubeconfig import: upload, choose contexts, see a result per context.
        try cluster.uploadableKubeconfig(token: "browser-token").write(toFile: folder.file("kubeconfig.yaml"), atomically: true, encoding: .utf8)
        try await browser.click("a[href='#/import']")
        try await browser.type(folder.file("kubeconfig.yaml"), into: "input#import-file", clearing: false)
        try await browser.click("#import-preview")
        try await browser.find("input.import-context[value='lab']")
        try await browser.find("input.import-context[value='lab-cloud']")
        try await browser.click("#import-connect")
        try await browser.click("#import-submit")
        try await browser.find("#import-results li[data-context='lab'][data-outcome='connected']", timeout: .seconds(20))
        try await browser.find("#import-results li[data-context='lab-cloud'][data-outcome='failed']")
        try await browser.screenshot(to: Self.artifacts + "/import-1280.png")
        let page = try await api.send(.GET, "/api/integrations/connections?kind=kubernetes")
        #expect((page["connections"] as? [[String: Any]])?.first?["status"] as? String == "connected")

        // Environments and credentials pages: create one of each; secrets are never shown.
        try await browser.click("a[href='#/environments']")
        try await browser.type("staging", into: "#environment-form input[name=name]")
        try await browser.click("#environment-form button[type=submit]")
        try await browser.waitForText("#environments", "the new environment listed") { $0.contains("staging") }
        try await browser.click("a[href='#/credentials']")
        try await browser.type("reader", into: "#credential-form input[name=name]")
        try await browser.type("token", into: "#credential-form input[name=type]")
        // Leaving the type field may lay out the fields for that type; fill them after.
        try await browser.click("#credential-form input[name=name]")
        try await browser.type("token", into: "#secret-rows .secret-key")
        try await browser.type("browser-secret-value", into: "#secret-rows .secret-value")
        try await browser.click("#credential-form button[type=submit]")
        try await browser.waitForText("#credentials", "the new credential listed") { $0.contains("reader") }
        let secretShown = try await browser.script("""
            return document.documentElement.outerHTML.includes('browser-secret-value')
              || [...document.querySelectorAll('input, textarea')].some(e => e.value === 'browser-secret-value');
            """) as? Bool
        #expect(secretShown == false, "the secret is gone from the page once saved")
        let credentials = try await api.send(.GET, "/api/integrations/credentials")
        #expect((credentials["credentials"] as? [[String: Any]])?.contains { $0["name"] as? String == "reader" } == true)

        // The picture for the README: the connections after all of the above.
        try await browser.click("a[href='#/connections']")
        try await waitForRows(4, "back on the connections page")
        try await browser.screenshot(to: Self.artifacts + "/connections-1280.png")
    }
}
