import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A headless Chromium driven through Debian's `chromedriver` with the W3C WebDriver
/// protocol (JSON over HTTP): just the commands the browser tests need.
public final class Browser: @unchecked Sendable {
    // @unchecked: every property is set once in `init`.
    private let driver: ExternalServer
    private let session: String
    private let base: String

    /// An element on the page, as WebDriver names it.
    public struct Element: Sendable {
        public let id: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Starts chromedriver on a free loopback port and opens a headless Chromium window.
    public init(folder: String, width: Int = 1280, height: Int = 900) async throws {
        let port = try freeLoopbackPort()
        driver = try await ExternalServer(
            executable: "chromedriver", arguments: ["--port=\(port)", "--allowed-ips=127.0.0.1"],
            port: port, logPath: "\(folder)/chromedriver.log", readyPath: "/status")
        base = "http://127.0.0.1:\(port)"
        let binary = ExternalServer.locate("chromium") ?? "/usr/bin/chromium"
        let capabilities: [String: Any] = ["capabilities": ["alwaysMatch": [
            "browserName": "chrome",
            "goog:chromeOptions": [
                "binary": binary,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=\(width),\(height)", "--user-data-dir=\(folder)/chromium-profile"],
            ],
        ]]]
        let answer = try await Self.send(.POST, base + "/session", capabilities)
        guard let session = (answer as? [String: Any])?["sessionId"] as? String else {
            driver.stop()
            throw Failure(description: "chromedriver opened no session: \(answer)")
        }
        self.session = session
    }

    // MARK: Pages and elements

    public func open(_ url: String) async throws {
        _ = try await command(.POST, "/url", ["url": url])
    }

    /// The first element matching a CSS selector, waiting up to `timeout` for one to appear.
    public func find(_ selector: String, timeout: Duration = .seconds(10)) async throws -> Element {
        var found: Element?
        try await waitUntil(timeout: timeout, "an element matching \(selector)") {
            found = try await self.findAll(selector).first
            return found != nil
        }
        guard let found else { throw Failure(description: "no element matches \(selector)") }
        return found
    }

    public func findAll(_ selector: String) async throws -> [Element] {
        let answer = try await command(.POST, "/elements", ["using": "css selector", "value": selector])
        return (answer as? [[String: Any]] ?? []).compactMap { entry in
            entry.values.first.flatMap { $0 as? String }.map(Element.init)
        }
    }

    public func click(_ element: Element) async throws {
        _ = try await command(.POST, "/element/\(element.id)/click", [:])
    }

    public func click(_ selector: String) async throws {
        try await onFresh(selector) { try await self.click($0) }
    }

    /// Acts on the element `selector` finds; when the page re-rendered it in between (the
    /// live page does), finds it again.
    private func onFresh(_ selector: String, _ action: (Element) async throws -> Void) async throws {
        for attempt in 1...5 {
            do {
                return try await action(try await find(selector))
            } catch let failure as Failure where failure.description.contains("stale element") && attempt < 5 {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Types `text` into an element (for a file input: a file's path).
    public func type(_ text: String, into selector: String, clearing: Bool = true) async throws {
        try await onFresh(selector) { element in
            if clearing { _ = try await self.command(.POST, "/element/\(element.id)/clear", [:]) }
            _ = try await self.command(.POST, "/element/\(element.id)/value", ["text": text])
        }
    }

    /// WebDriver's codes for the keys the tests press.
    public enum Key: String, Sendable {
        case enter = "\u{E007}", escape = "\u{E00C}", arrowDown = "\u{E015}"
    }

    /// Presses a key with the element focused.
    public func press(_ key: Key, on selector: String) async throws {
        try await onFresh(selector) { element in
            _ = try await self.command(.POST, "/element/\(element.id)/value", ["text": key.rawValue])
        }
    }

    public func text(_ element: Element) async throws -> String {
        try await command(.GET, "/element/\(element.id)/text") as? String ?? ""
    }

    public func text(_ selector: String) async throws -> String {
        try await text(try await find(selector))
    }

    public func attribute(_ name: String, of element: Element) async throws -> String? {
        try await command(.GET, "/element/\(element.id)/attribute/\(name)") as? String
    }

    /// Runs JavaScript in the page and answers its result.
    public func script(_ source: String, _ arguments: [Any] = []) async throws -> Any? {
        try await command(.POST, "/execute/sync", ["script": source, "args": arguments])
    }

    /// Chooses an option of a `<select>` by its value and tells the page it changed.
    public func select(_ value: String, in selector: String) async throws {
        let element = try await find(selector)
        _ = try await script("""
            const select = arguments[0]; select.value = arguments[1];
            select.dispatchEvent(new Event('change', { bubbles: true }));
            """, [["element-6066-11e4-a52e-4f735466cecf": element.id], value])
    }

    /// Waits until the page's text at `selector` satisfies `condition`.
    public func waitForText(_ selector: String, timeout: Duration = .seconds(10), _ what: String,
                            _ condition: @escaping (String) -> Bool) async throws {
        try await waitUntil(timeout: timeout, what) {
            guard let element = try await self.findAll(selector).first else { return false }
            return condition((try? await self.text(element)) ?? "")
        }
    }

    public func resize(width: Int, height: Int) async throws {
        _ = try await command(.POST, "/window/rect", ["width": width, "height": height])
    }

    /// Saves a PNG of the window.
    public func screenshot(to path: String) async throws {
        guard let encoded = try await command(.GET, "/screenshot") as? String, let png = Data(base64Encoded: encoded) else {
            throw Failure(description: "no screenshot")
        }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try png.write(to: URL(fileURLWithPath: path))
    }

    /// Closes the browser and stops chromedriver.
    public func close() async {
        _ = try? await Self.send(.DELETE, "\(base)/session/\(session)", nil)
        driver.stop()
    }

    // MARK: The protocol

    private func command(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil) async throws -> Any {
        try await Self.send(method, "\(base)/session/\(session)\(path)", body)
    }

    /// One WebDriver call; answers the reply's `value`, or throws its error message.
    private static func send(_ method: HTTPMethod, _ url: String, _ body: [String: Any]?) async throws -> Any {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        let data = Data(try await response.body.collect(upTo: 32 << 20).readableBytesView)
        let reply = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let value = reply?["value"] ?? NSNull()
        guard response.status == .ok else {
            let message = (value as? [String: Any])?["message"] as? String ?? String(decoding: data, as: UTF8.self)
            throw Failure(description: "WebDriver \(method) \(url): \(message.prefix(500))")
        }
        return value
    }
}
