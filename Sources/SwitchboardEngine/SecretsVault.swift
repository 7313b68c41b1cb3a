import ConnectionLifecycle
import Crypto
import Foundation
import StoreContract
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encrypts credential secrets at rest with AES-GCM (256-bit keys). Each ciphertext records
/// the id of the key that sealed it and is bound to its credential's id, so a ciphertext
/// copied onto another row does not open.
///
/// A vault holds a keyring: the current key seals, every key opens. A key file holds one
/// base64 key per line, the current one first; `rotate(keyFile:)` puts a new key in front,
/// and a vault reading that file notices and follows, so a server keeps running while
/// `switchboard secrets rotate-key` re-seals everything.
public final class SecretsVault: Sendable {
    private struct Keyring: Sendable {
        var keys: [(id: String, key: SymmetricKey)]
        var modified: Date?
    }

    private let keyring: Mutex<Keyring>
    /// The key file to follow, when the keys came from one.
    private let file: String?

    public init(key: SymmetricKey) {
        keyring = Mutex(Keyring(keys: [(Self.id(of: key), key)], modified: nil))
        file = nil
    }

    /// A key from base64 text (as in `SWITCHBOARD_SECRETS_KEY`).
    public convenience init(base64 text: String) throws {
        self.init(key: try Self.key(fromBase64: text))
    }

    private init(keys: [SymmetricKey], file: String, modified: Date?) {
        keyring = Mutex(Keyring(keys: keys.map { (Self.id(of: $0), $0) }, modified: modified))
        self.file = file
    }

    /// The current key's id: a short, non-secret name (the first bytes of its SHA-256).
    public var keyId: String { keyring.withLock { $0.keys[0].id } }

    /// Ids of every key the vault can open with, current first.
    public var keyIds: [String] { keyring.withLock { $0.keys.map(\.id) } }

    static func id(of key: SymmetricKey) -> String {
        SHA256.hash(data: key.withUnsafeBytes { Data($0) }).prefix(6).hexadecimal
    }

    static func key(fromBase64 text: String) throws -> SymmetricKey {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw VaultError("a secrets key must be 32 random bytes in base64 (for example: openssl rand -base64 32)")
        }
        return SymmetricKey(data: data)
    }

    // MARK: Key files

    /// Reads an existing key file (one or more keys, current first).
    public static func load(keyFile path: String) throws -> SecretsVault {
        let (keys, modified) = try readKeys(path)
        return SecretsVault(keys: keys, file: path, modified: modified)
    }

    /// Reads the key file, or creates it (mode 0600, never replacing a file) with a new random
    /// key when there is none. `created` tells the caller to warn that the key must be kept.
    public static func loadOrCreate(keyFile path: String) throws -> (vault: SecretsVault, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try load(keyFile: path), false) }
        let key = SymmetricKey(size: .bits256)
        // O_EXCL: if another process created it meanwhile, its key wins and is read instead.
        let descriptor = openExclusively(path)
        guard descriptor >= 0 else {
            if errno == EEXIST { return (try load(keyFile: path), false) }
            throw VaultError("cannot create the secrets key file \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data((base64(key) + "\n").utf8))
        try handle.synchronize()
        return (try load(keyFile: path), true)
    }

    /// Puts a new random key in front of the key file's keys (the old ones stay, to open what
    /// they sealed) and returns its id. The file is replaced atomically and stays 0600.
    @discardableResult
    public static func rotate(keyFile path: String) throws -> String {
        try whileLocked(path) {
            let (keys, _) = try readKeys(path)
            let key = SymmetricKey(size: .bits256)
            try writeKeys([key] + keys, to: path)
            return id(of: key)
        }
    }

    /// Leaves only the current key in the key file (after everything is re-sealed with it).
    public static func retireOldKeys(keyFile path: String) throws {
        try whileLocked(path) {
            let (keys, _) = try readKeys(path)
            try writeKeys([keys[0]], to: path)
        }
    }

    /// Two rotations at once must not both read the old file and each drop the other's key.
    private static func whileLocked<T>(_ path: String, _ body: () throws -> T) throws -> T {
        let lock = FileHandle(forUpdatingAtPath: path + ".lock") ?? {
            _ = try? PrivateFile.create(path + ".lock", contents: "")
            return FileHandle(forUpdatingAtPath: path + ".lock")
        }()
        guard let lock else { throw VaultError("cannot lock \(path).lock") }
        defer { try? lock.close() }
        guard flock(lock.fileDescriptor, LOCK_EX) == 0 else { throw VaultError("cannot lock \(path).lock") }
        return try body()
    }

    private static func readKeys(_ path: String) throws -> ([SymmetricKey], Date?) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw VaultError("cannot read the secrets key file \(path): \(error.localizedDescription)")
        }
        let keys = try text.split(whereSeparator: \.isNewline).map { String($0) }
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map(key(fromBase64:))
        guard !keys.isEmpty else { throw VaultError("the secrets key file \(path) holds no key") }
        let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
        return (keys, modified)
    }

    private static func writeKeys(_ keys: [SymmetricKey], to path: String) throws {
        let temporary = path + ".new-\(UUID().lowercasedString)"
        let descriptor = openExclusively(temporary)
        guard descriptor >= 0 else {
            throw VaultError("cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(keys.map { base64($0) + "\n" }.joined().utf8))
        try handle.synchronize()
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw VaultError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static func base64(_ key: SymmetricKey) -> String {
        key.withUnsafeBytes { Data($0) }.base64EncodedString()
    }

    /// Re-reads the key file when it changed (a rotation), so the newest key seals.
    private func followFile(force: Bool = false) {
        guard let file else { return }
        let modified = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date
        guard force || modified != keyring.withLock({ $0.modified }) else { return }
        guard let (keys, stamp) = try? Self.readKeys(file) else { return }
        keyring.withLock { $0 = Keyring(keys: keys.map { (Self.id(of: $0), $0) }, modified: stamp) }
    }

    // MARK: Sealing

    func seal(_ secret: [String: String], credentialId: UUID) throws -> (keyId: String, sealed: Data) {
        followFile()
        let (id, key) = keyring.withLock { $0.keys[0] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let plaintext = try encoder.encode(secret)
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(credentialId.lowercasedString.utf8))
        guard let combined = box.combined else { throw VaultError("AES-GCM produced no ciphertext") }
        return (id, combined)
    }

    func open(_ sealed: Data, keyId: String, credentialId: UUID) throws -> [String: String] {
        var key = keyring.withLock { $0.keys.first { $0.id == keyId }?.key }
        if key == nil {
            followFile(force: true)
            key = keyring.withLock { $0.keys.first { $0.id == keyId }?.key }
        }
        guard let key else {
            throw VaultError("credential \(credentialId.lowercasedString) was sealed with key \(keyId), which this server does not have (it has \(keyIds.joined(separator: ", ")))")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let plaintext = try AES.GCM.open(box, using: key, authenticating: Data(credentialId.lowercasedString.utf8))
            return try JSONDecoder().decode([String: String].self, from: plaintext)
        } catch {
            throw VaultError("credential \(credentialId.lowercasedString) does not decrypt with key \(keyId): it was altered")
        }
    }
}

public struct VaultError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

