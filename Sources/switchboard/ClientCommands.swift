import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SwitchboardDrivers
import StoreContract
import Yams

/// How the client commands end: 0 success, 1 the server refused the request, 2 a usage
/// error, 3 the server could not be reached.
enum ClientExit {
    static let rejected = ExitCode(1)
    static let usage = ExitCode(2)
    static let unreachable = ExitCode(3)
}

/// Why a command failed: `main` prints the message (the server's problem detail, why it
/// could not be reached, why `serve` could not listen) and exits with the code.
struct ClientFailure: Error {
    var exitCode: ExitCode
    var message: String
}

/// Where the server is and who asks, shared by every client command. Each comes from its
/// flag, else its environment variable, else what `switchboard login` saved.
struct ClientOptions: ParsableArguments {
    static let defaultServer = "http://127.0.0.1:9081"

    @Option(help: "The server (env SWITCHBOARD_SERVER, else the one `switchboard login` saved).")
    var server: String?

    @Option(help: "An API token (env SWITCHBOARD_TOKEN, else the one `switchboard login` saved).")
    var token: String?

    @Option(help: "A PEM file of the certificate authority that signed an https:// server's certificate, when it is a private one (env SWITCHBOARD_CA_FILE, else the one `switchboard login` saved).")
    var caFile: String?

    /// The server, the token to send it and the authority to trust for it, read together
    /// (the saved login once), so a saved token is only ever sent to the server it was saved
    /// for, and a saved authority only trusted for that server.
    func resolve() throws -> (server: String, token: String?, caFile: String?) {
        let environment = ProcessInfo.processInfo.environment
        let saved = ClientConfig.load()
        let server = ClientConfig.normalized(server ?? environment["SWITCHBOARD_SERVER"] ?? saved?.server ?? Self.defaultServer)
        guard let url = URL(string: server), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
              url.host?.isEmpty == false else {
            throw ValidationError("the server must be an http:// or https:// address, not '\(server)'")
        }
        let savedForServer = saved.flatMap { ClientConfig.normalized($0.server) == server ? $0 : nil }
        let caFile = caFile ?? environment["SWITCHBOARD_CA_FILE"].flatMap { $0.isEmpty ? nil : $0 } ?? savedForServer?.caFile
        if let token { return (server, token, caFile) }
        if let token = environment["SWITCHBOARD_TOKEN"], !token.isEmpty { return (server, token, caFile) }
        return (server, savedForServer?.token, caFile)
    }
}

/// The TLS settings the client uses for a server signed by a private authority.
enum TrustedAuthority {
    /// Trusts only the certificates in `file` (PEM, one or more), checked now so a wrong
    /// file is named here rather than as a failed handshake.
    static func configuration(_ file: String) throws -> TLSConfiguration {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ValidationError("--ca-file \(file) cannot be read")
        }
        let certificates = (try? NIOSSLCertificate.fromPEMBytes([UInt8](data))) ?? []
        guard !certificates.isEmpty else {
            throw ValidationError("--ca-file \(file) holds no PEM certificate (it must begin with -----BEGIN CERTIFICATE-----)")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .certificates(certificates)
        return configuration
    }
}

/// The file `switchboard login` writes: the server and a token, readable only by its owner.
/// `$SWITCHBOARD_CONFIG`, else `$XDG_CONFIG_HOME/switchboard/config.yaml`, else
/// `$HOME/.config/switchboard/config.yaml`.
struct ClientConfig: Codable, Equatable {
    var server: String
    var token: String
    /// The authority to trust for `server` (`login --ca-file`), as an absolute path.
    var caFile: String?

    static var path: String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["SWITCHBOARD_CONFIG"], !path.isEmpty { return path }
        // $HOME first, as the XDG rules say; the account's home only when it is unset.
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        let base = environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? (home + "/.config")
        return base + "/switchboard/config.yaml"
    }

    static func load() -> ClientConfig? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return try? YAMLDecoder().decode(ClientConfig.self, from: text)
    }

    func save() throws {
        let folder = (Self.path as NSString).deletingLastPathComponent
        if !folder.isEmpty {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        try PrivateFile.replace(Self.path, contents: try YAMLEncoder().encode(self))
    }

    static func normalized(_ server: String) -> String {
        server.trimmingCharacters(in: CharacterSet(charactersIn: "/").union(.whitespaces))
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, yaml
}

/// One request to the server; problems are printed as their detail and end the command
/// with the right exit code.
struct APIClient {
    let server: String
    let token: String?
    /// Set for `--ca-file`: trust that authority instead of the system's.
    let tls: TLSConfiguration?
    let caFile: String?

    init(options: ClientOptions) throws {
        (server, token, caFile) = try options.resolve()
        tls = try caFile.map(TrustedAuthority.configuration)
    }

    func request(_ method: HTTPMethod, _ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: server + path)
        request.method = method
        request.tlsConfiguration = tls
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return request
    }

    func call(_ method: HTTPMethod, _ path: String) async throws -> Data {
        try await call(method, path, body: nil, contentType: "application/json")
    }

    /// Sends `body` as JSON.
    func call(_ method: HTTPMethod, _ path: String, json body: some Encodable) async throws -> Data {
        try await call(method, path, body: try JSONEncoder().encode(body), contentType: "application/json")
    }

    func call(_ method: HTTPMethod, _ path: String, body: Data?, contentType: String) async throws -> Data {
        var request = request(method, path)
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        // A refused connection fails at once instead of being retried until the deadline.
        let client = OutboundHTTP.makeClient()
        let response: HTTPClientResponse
        let data: Data
        do {
            response = try await client.execute(request, timeout: .seconds(300))
            data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
            try? await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw unreachable(error)
        }
        try check(response.status, data)
        return data
    }

    func unreachable(_ error: any Error) -> ClientFailure {
        var message = "cannot reach \(server): \(OutboundHTTP.describe(error))"
        // A certificate the client does not trust is most often a private authority's.
        if message.contains("TLS error") {
            message += caFile == nil
                ? "; if the server's certificate comes from a private certificate authority, give its certificate with --ca-file (or SWITCHBOARD_CA_FILE)"
                : "; check that \(caFile ?? "") is the authority that signed the server's certificate and that the certificate names the host in \(server)"
        }
        return ClientFailure(exitCode: ClientExit.unreachable, message: message)
    }

    /// A refusal carries the problem's detail and ends the command with exit code 1.
    func check(_ status: HTTPResponseStatus, _ data: Data) throws {
        guard !(200..<300).contains(status.code) else { return }
        let detail = (try? JSONDecoder().decode(ProblemText.self, from: data))?.detail ?? "HTTP \(status.code)"
        guard status == .unauthorized else { throw ClientFailure(exitCode: ClientExit.rejected, message: detail) }
        // The server's words are for any HTTP client; a person at the CLI needs the command.
        guard token == nil else {
            throw ClientFailure(exitCode: ClientExit.rejected,
                                message: "\(detail); run `switchboard login` with a valid token (or give one with --token or SWITCHBOARD_TOKEN)")
        }
        var message = "\(server) needs a token: run `switchboard login --server \(server)` (or give one with --token or SWITCHBOARD_TOKEN)"
        if let saved = ClientConfig.load(), ClientConfig.normalized(saved.server) != server {
            message += "; the saved login is for \(saved.server), and its token is sent only there"
        }
        throw ClientFailure(exitCode: ClientExit.rejected, message: message)
    }

    struct ProblemText: Decodable { var detail: String }
}

/// Progress for long operations, on standard error and only when it is a terminal (so
/// scripts and pipes see clean output).
struct Progress {
    let label: String
    let total: Int
    let shown = isatty(STDERR_FILENO) == 1

    func update(_ done: Int) {
        guard shown else { return }
        FileHandle.standardError.write(Data("\r\(label) \(done)/\(total)\u{1B}[K".utf8))
    }

    func finish() {
        guard shown else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    /// Shows the seconds spent while `work` runs (one request that takes long).
    static func whileWaiting<T: Sendable>(_ label: String, _ work: () async throws -> T) async throws -> T {
        guard isatty(STDERR_FILENO) == 1 else { return try await work() }
        let ticker = Task {
            let start = Date()
            while !Task.isCancelled {
                FileHandle.standardError.write(Data("\r\(label)… \(Int(Date().timeIntervalSince(start))) s\u{1B}[K".utf8))
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        defer {
            ticker.cancel()
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        }
        return try await work()
    }
}

/// Secret values read from a file or standard input (`-`), never from an argument, so they
/// stay out of shell history and process listings.
enum SecretInput {
    /// With `key`, the whole input is that key's value (a token, a kubeconfig); without, the
    /// input is a YAML or JSON mapping of keys to values.
    static func read(_ file: String, key: String?) throws -> [String: String] {
        let text = try InputFile.read(file)
        if let key {
            // A one-line value (a token) loses its line break; a document (a kubeconfig) stays whole.
            let trimmed = text.trimmingCharacters(in: .newlines)
            return [key: trimmed.contains("\n") ? text : trimmed]
        }
        // Values as written: a password of 0755 or yes stays that text, not a number or a flag.
        guard let mapping = try? YAMLDecoder().decode([String: String].self, from: text), !mapping.isEmpty else {
            throw ValidationError("the secret file must be a YAML or JSON mapping of keys to text values (or name one key with --secret-key)")
        }
        return mapping
    }
}

extension APIClient {
    /// Every row of a paged list (`rows` holds them), read 100 at a time oldest first, as
    /// one page. Oldest first: a row that changes meanwhile keeps its place, and ids seen
    /// already are dropped, so nothing is skipped or shown twice.
    func everyPage(_ path: (_ page: Int) -> String, rows key: String) async throws -> Data {
        var merged: [String: Any] = [:]
        var rows: [Any] = []
        var seen: Set<String> = []
        var page = 0
        repeat {
            let data = try await call(.GET, path(page))
            guard let answer = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let batch = answer[key] as? [[String: Any]] else { break }
            merged = answer
            for row in batch where seen.insert(row["id"] as? String ?? "").inserted { rows.append(row) }
            page += 1
            if batch.isEmpty { break }
        } while rows.count < (merged["totalCount"] as? Int ?? 0)
        merged[key] = rows
        merged["page"] = 0
        merged["pageSize"] = rows.count
        return try JSONSerialization.data(withJSONObject: merged)
    }
}

/// A file's text, or standard input's for `-`.
enum InputFile {
    static func read(_ path: String) throws -> String {
        if path == "-" { return String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ValidationError("cannot read \(path)") }
        return text
    }
}

/// Query strings and path segments built from user input, encoded.
enum URLText {
    static func query(_ items: [(String, String?)]) -> String {
        var components = URLComponents()
        components.queryItems = items.compactMap { name, value in value.map { URLQueryItem(name: name, value: $0) } }
        // The server reads `+` as a space (form encoding); a literal plus must travel as %2B.
        return components.percentEncodedQuery.map { "?" + $0.replacingOccurrences(of: "+", with: "%2B") } ?? ""
    }

    /// An id (or name) as one path segment: a slash or space in it cannot change the route.
    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

/// `--page`, `--page-size` and `--search`, shared by the lists.
struct PageOptions: ParsableArguments {
    @Option(help: "Name (or URL) contains.") var search: String?
    @Option(help: "Page, from 0.") var page: Int = 0
    @Option(help: "Rows per page (1 to 100).") var pageSize: Int = 25

    var items: [(String, String?)] { [("page", "\(page)"), ("pageSize", "\(pageSize)"), ("search", search)] }
}

/// Prints an API answer as JSON, YAML or a table of `columns` (key paths into each row).
enum Output {
    static func print(_ data: Data, as format: OutputFormat, rows: String? = nil,
                      columns: [(title: String, key: String)] = [], footer: ((Any) -> String?)? = nil) throws {
        let value = try JSONSerialization.jsonObject(with: data)
        switch format {
        case .json:
            let pretty = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys])
            Swift.print(String(decoding: pretty, as: UTF8.self))
        case .yaml:
            Swift.print(try Yams.dump(object: plain(value)), terminator: "")
        case .table:
            let items: [[String: Any]] = rows.flatMap { (value as? [String: Any])?[$0] as? [[String: Any]] }
                ?? [(value as? [String: Any]) ?? [:]]
            let cells = items.map { item in columns.map { text(item, $0.key) } }
            let widths = columns.indices.map { index in
                max(columns[index].title.count, cells.map { $0[index].count }.max() ?? 0)
            }
            func line(_ values: [String]) -> String {
                zip(values, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            }
            Swift.print(line(columns.map(\.title)))
            for row in cells { Swift.print(line(row)) }
            if let footer, let text = footer(value) { Swift.print(text) }
        }
    }

    /// "1 connection", "2 connections": a count (a JSON number, or 0) with its noun.
    static func counted(_ count: Any?, _ noun: String) -> String {
        let number = (count as? Int) ?? 0
        return "\(number) \(noun)\(number == 1 ? "" : "s")"
    }

    /// JSON numbers as YAML should show them: whole numbers as integers, flags as booleans,
    /// fractions as plain decimals.
    static func plain(_ value: Any) -> Any {
        switch value {
        case let object as [String: Any]: return object.mapValues(plain)
        case let array as [Any]: return array.map(plain)
        case let number as NSNumber:
            switch String(cString: number.objCType) {
            case "c", "B": return number.boolValue
            // Yams writes a Double in scientific notation (2.834176e+0); Swift's shortest
            // round-trip text (2.834176) is a YAML float too.
            case "d", "f": return Node.scalar(.init(number.doubleValue.description, Tag(.float)))
            default: return number.int64Value
            }
        default: return value
        }
    }

    /// The value at a dotted key path, as text for a terminal (control characters escaped).
    static func text(_ item: [String: Any], _ path: String) -> String {
        TerminalText.escaped(raw(item, path))
    }

    private static func raw(_ item: [String: Any], _ path: String) -> String {
        var current: Any? = item
        for key in path.split(separator: ".") {
            // Through a list, the key is read in each item: `environments.name` is every environment's name.
            if let items = current as? [Any] {
                current = items.compactMap { ($0 as? [String: Any])?[String(key)] }
            } else {
                current = (current as? [String: Any])?[String(key)]
            }
        }
        switch current {
        case let array as [Any]: return array.map { "\($0)" }.joined(separator: ",")
        case let string as String: return string
        case let number as NSNumber where String(cString: number.objCType) == "c": return number.boolValue ? "true" : "false"
        case let number as NSNumber: return number.stringValue
        case nil, is NSNull: return "-"
        case let other?: return "\(other)"
        }
    }
}
