import ConnectionLifecycle
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Encrypts credential secrets at rest with AES-GCM (256-bit key). Each ciphertext records
/// the id of the key that sealed it and is bound to its credential's id, so a ciphertext
/// copied onto another row does not open.
public struct SecretsVault: Sendable {
    private let key: SymmetricKey
    /// A short, non-secret name of the key: the first bytes of its SHA-256, in hex.
    public let keyId: String

    public init(key: SymmetricKey) {
        self.key = key
        keyId = SHA256.hash(data: key.withUnsafeBytes { Data($0) }).prefix(6).hexadecimal
    }

    /// A key from base64 text (as in a key file or `SWITCHBOARD_SECRETS_KEY`).
    public init(base64 text: String) throws {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
            throw VaultError("the secrets key must be 32 random bytes in base64 (for example: openssl rand -base64 32)")
        }
        self.init(key: SymmetricKey(data: data))
    }

    /// Reads the key file, or creates it (mode 0600, never replacing a file) with a new random
    /// key when there is none. `created` tells the caller to warn that the key must be kept.
    public static func loadOrCreate(keyFile path: String) throws -> (vault: SecretsVault, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try load(keyFile: path), false) }
        let key = SymmetricKey(size: .bits256)
        let text = key.withUnsafeBytes { Data($0) }.base64EncodedString() + "\n"
        // O_EXCL: if another process created it meanwhile, its key wins and is read instead.
        let descriptor = openExclusively(path)
        guard descriptor >= 0 else {
            if errno == EEXIST { return (try load(keyFile: path), false) }
            throw VaultError("cannot create the secrets key file \(path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        try handle.write(contentsOf: Data(text.utf8))
        try handle.synchronize()
        return (SecretsVault(key: key), true)
    }

    /// Reads an existing key file.
    public static func load(keyFile path: String) throws -> SecretsVault {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw VaultError("cannot read the secrets key file \(path): \(error.localizedDescription)")
        }
        return try SecretsVault(base64: text)
    }

    func seal(_ secret: [String: String], credentialId: UUID) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let plaintext = try encoder.encode(secret)
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(credentialId.lowercasedString.utf8))
        guard let combined = box.combined else { throw VaultError("AES-GCM produced no ciphertext") }
        return combined
    }

    func open(_ sealed: Data, keyId: String, credentialId: UUID) throws -> [String: String] {
        guard keyId == self.keyId else {
            throw VaultError("credential \(credentialId.lowercasedString) was sealed with key \(keyId), not with this server's key \(self.keyId)")
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
    init(_ description: String) { self.description = description }
}

/// `open(2)` with O_CREAT | O_EXCL and mode 0600: the file is born private, and an existing
/// one is never replaced.
private func openExclusively(_ path: String) -> Int32 {
    #if canImport(Glibc)
    Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    #else
    Darwin.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
    #endif
}
