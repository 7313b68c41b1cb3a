import ArgumentParser
import Configuration
import Foundation
import SystemPackage
import Yams

/// Where `serve` reads each setting: its flag, else `SWITCHBOARD_<KEY>`, else the settings
/// file (`--config`), else the default. swift-configuration reads the environment and the
/// YAML file and converts their values; the order is kept here so that an error can name
/// the one place a bad value came from.
struct ServeSettings: Sendable {
    /// Every key a settings file may hold: the `serve` flags' names, without the dashes.
    static let keys: [String] = [
        "host", "port", "data-dir", "database-url", "tls-cert", "tls-key", "check-timeout",
        "probe-interval", "probe-registered-interval", "probe-timeout", "failure-threshold",
        "recovery-threshold", "max-backoff", "max-concurrent-probes", "secret-files-under",
        "allow-link-local-targets", "import-kubeconfig", "auto-register", "auto-register-kinds",
        "connections-file", "secrets-key-file", "log-level",
        "advertise-url", "hub", "hub-token-file", "hub-heartbeat", "hub-allow-http", "hub-ca-file", "hub-lease",
        "replica-id", "member-ttl",
    ]

    /// A value and where it came from (`--port`, `SWITCHBOARD_PORT`, `port in FILE`, `default`).
    struct Setting<Value: Sendable>: Sendable {
        var value: Value
        var source: String
    }

    private let environment: ConfigReader
    private let file: (reader: ConfigReader, path: String)?

    /// The settings file is read and checked now: a key Switchboard does not know is an
    /// error naming it (a misspelled key would otherwise be ignored without a word).
    static func load(configFile: String?) async throws -> ServeSettings {
        let environment = ConfigReader(provider: EnvironmentVariablesProvider().prefixKeys(with: "switchboard"))
        guard let configFile else { return ServeSettings(environment: environment, file: nil) }
        guard let text = try? String(contentsOfFile: configFile, encoding: .utf8) else {
            throw ValidationError("--config \(configFile) cannot be read")
        }
        // An empty file (or only comments) sets nothing; the library would call it malformed.
        guard try checkKeys(text, file: configFile) else { return ServeSettings(environment: environment, file: nil) }
        let provider: FileProvider<YAMLSnapshot>
        do {
            provider = try await FileProvider<YAMLSnapshot>(filePath: FilePath(configFile))
        } catch {
            throw ValidationError("--config \(configFile) is not a settings file: \(error)")
        }
        return ServeSettings(environment: environment, file: (ConfigReader(provider: provider), configFile))
    }

    /// Refuses a file whose top level is not a mapping, and any key not in `keys` (nested
    /// keys are named with dots, as swift-configuration reads them). Answers whether the
    /// file holds anything.
    static func checkKeys(_ text: String, file: String) throws -> Bool {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ValidationError("--config \(file) is not valid YAML: \(error)")
        }
        guard let root else { return false }
        guard let mapping = root.mapping else {
            throw ValidationError("--config \(file) must be a YAML mapping of settings (key: value), e.g. port: 9081")
        }
        for (key, value) in mapping {
            let name = key.string ?? "\(key)"
            guard keys.contains(name), value.mapping == nil else {
                let line = key.mark.map { " (line \($0.line))" } ?? ""
                let near = keys.min { distance($0, name) < distance($1, name) }
                let hint = near.map { distance($0, name) <= 3 ? " did you mean '\($0)'?" : "" } ?? ""
                let what = keys.contains(name) ? "'\(name)' takes a single value, not a mapping"
                    : "unknown setting '\(name)'"
                throw ValidationError("--config \(file): \(what)\(line);\(hint) the settings are: \(keys.joined(separator: ", "))")
            }
        }
        return true
    }

    /// Edit distance, for the suggestion after a misspelled key.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }

    static func environmentName(_ key: String) -> String {
        "SWITCHBOARD_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
    }

    /// The flag's value, else the environment's, else the file's, else nil.
    private func lookup<Value: Sendable>(
        _ key: String, flag: Value?, expecting: String,
        _ fetch: (ConfigReader, ConfigKey) async throws -> Value?
    ) async throws -> Setting<Value>? {
        if let flag { return Setting(value: flag, source: "--\(key)") }
        let name = Self.environmentName(key)
        do {
            if let value = try await fetch(environment, ConfigKey(key)) { return Setting(value: value, source: name) }
        } catch {
            throw ValidationError("\(name) must be \(expecting), not '\(ProcessInfo.processInfo.environment[name] ?? "")'")
        }
        guard let file else { return nil }
        do {
            return try await fetch(file.reader, ConfigKey(key)).map { Setting(value: $0, source: "\(key) in \(file.path)") }
        } catch {
            throw ValidationError("\(key) in \(file.path) must be \(expecting)")
        }
    }

    /// Empty text (`SWITCHBOARD_TLS_CERT=`, `tls-cert:` with nothing after it) counts as not set.
    func string(_ key: String, flag: String?) async throws -> Setting<String>? {
        try await lookup(key, flag: flag, expecting: "text") { reader, key in
            try await reader.fetchString(forKey: key).flatMap { $0.isEmpty ? nil : $0 }
        }
    }

    func string(_ key: String, flag: String?, default value: String) async throws -> Setting<String> {
        try await string(key, flag: flag) ?? Setting(value: value, source: "default")
    }

    func int(_ key: String, flag: Int?, default value: Int) async throws -> Setting<Int> {
        try await lookup(key, flag: flag, expecting: "a whole number") { try await $0.fetchInt(forKey: $1) }
            ?? Setting(value: value, source: "default")
    }

    /// Seconds; a whole number in YAML counts too.
    func seconds(_ key: String, flag: Double?, default value: Double) async throws -> Setting<Double> {
        try await lookup(key, flag: flag, expecting: "a number of seconds") { reader, key in
            if let number = try? await reader.fetchDouble(forKey: key) { return number }
            return try await reader.fetchInt(forKey: key).map(Double.init)
        } ?? Setting(value: value, source: "default")
    }

    func bool(_ key: String, flag: Bool?, default value: Bool) async throws -> Setting<Bool> {
        try await lookup(key, flag: flag, expecting: "true or false") { try await $0.fetchBool(forKey: $1) }
            ?? Setting(value: value, source: "default")
    }

    /// A list: repeated flags, a comma-separated variable, or a YAML list.
    func strings(_ key: String, flag: [String]?) async throws -> Setting<[String]>? {
        try await lookup(key, flag: flag, expecting: "a list (comma-separated in a variable, a YAML list in the file)") {
            try await $0.fetchStringArray(forKey: $1)
        }
    }

    /// A file or folder. A relative path from the settings file is relative to the file's
    /// folder (so the file can move with what it names); from a flag or variable, to the
    /// working directory.
    func path(_ key: String, flag: String?) async throws -> Setting<String>? {
        guard var setting = try await string(key, flag: flag) else { return nil }
        setting.value = resolved(setting)
        return setting
    }

    func paths(_ key: String, flag: [String]?) async throws -> Setting<[String]>? {
        guard var setting = try await strings(key, flag: flag) else { return nil }
        setting.value = setting.value.map { resolved(Setting(value: $0, source: setting.source)) }
        return setting
    }

    private func resolved(_ setting: Setting<String>) -> String {
        guard let file, setting.source.hasSuffix(" in \(file.path)"), !setting.value.hasPrefix("/") else {
            return setting.value
        }
        return URL(fileURLWithPath: file.path).deletingLastPathComponent().appendingPathComponent(setting.value).path
    }
}
