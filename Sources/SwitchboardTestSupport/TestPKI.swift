import Foundation

/// A throwaway certificate authority, a server certificate for 127.0.0.1 and a client
/// certificate, made with the `openssl` command for a test.
public struct TestPKI: Sendable {
    public let folder: String
    public var caCertificate: String { "\(folder)/ca.crt" }
    public var serverCertificate: String { "\(folder)/server.crt" }
    public var serverKey: String { "\(folder)/server.key" }
    public var clientCertificate: String { "\(folder)/client.crt" }
    public var clientKey: String { "\(folder)/client.key" }
    /// A second, unrelated authority: trusting it instead of the real one must fail.
    public var otherCACertificate: String { "\(folder)/other-ca.crt" }

    public init(in folder: String) throws {
        self.folder = folder
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + key + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
                                                  "-subj", "/CN=switchboard-test-ca"], in: folder)
        try Self.openssl(["req", "-x509"] + key + ["-keyout", "other-ca.key", "-out", "other-ca.crt", "-days", "2",
                                                  "-subj", "/CN=someone-else"], in: folder)
        try "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
            .write(toFile: "\(folder)/server.ext", atomically: true, encoding: .utf8)
        try "extendedKeyUsage=clientAuth\n".write(toFile: "\(folder)/client.ext", atomically: true, encoding: .utf8)
        for (name, subject) in [("server", "/CN=kube-apiserver"), ("client", "/O=system:masters/CN=admin")] {
            try Self.openssl(["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", subject], in: folder)
            try Self.openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                              "-out", "\(name).crt", "-days", "2", "-extfile", "\(name).ext"], in: folder)
        }
    }

    /// Another server certificate for 127.0.0.1 from the same authority, with its own
    /// common name (to tell which one a server presents): `<name>.crt` and `<name>.key`.
    @discardableResult
    public func issueServerCertificate(name: String, commonName: String) throws -> (certificate: String, key: String) {
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(commonName)"], in: folder)
        try Self.openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                          "-out", "\(name).crt", "-days", "2", "-extfile", "server.ext"], in: folder)
        return ("\(folder)/\(name).crt", "\(folder)/\(name).key")
    }

    /// A server certificate signed by an intermediate authority that the test authority
    /// signed: `<name>-chain.crt` holds the server's certificate then the intermediate's, as
    /// a server must present them to a client that trusts only the root.
    public func issueChainedServerCertificate(name: String, commonName: String) throws -> (chain: String, key: String) {
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
            .write(toFile: "\(folder)/intermediate.ext", atomically: true, encoding: .utf8)
        try Self.openssl(["req"] + key + ["-keyout", "\(name)-intermediate.key", "-out", "\(name)-intermediate.csr",
                                         "-subj", "/CN=switchboard-test-intermediate"], in: folder)
        try Self.openssl(["x509", "-req", "-in", "\(name)-intermediate.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                          "-CAcreateserial", "-out", "\(name)-intermediate.crt", "-days", "2", "-extfile", "intermediate.ext"],
                         in: folder)
        try Self.openssl(["req"] + key + ["-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(commonName)"], in: folder)
        try Self.openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(name)-intermediate.crt",
                          "-CAkey", "\(name)-intermediate.key", "-CAcreateserial", "-out", "\(name).crt", "-days", "2",
                          "-extfile", "server.ext"], in: folder)
        let chain = try String(contentsOfFile: "\(folder)/\(name).crt", encoding: .utf8)
            + String(contentsOfFile: "\(folder)/\(name)-intermediate.crt", encoding: .utf8)
        try chain.write(toFile: "\(folder)/\(name)-chain.crt", atomically: true, encoding: .utf8)
        return ("\(folder)/\(name)-chain.crt", "\(folder)/\(name).key")
    }

    /// `init(in:)`, its openssl runs waiting off the cooperative threads.
    public static func make(in folder: String) async throws -> TestPKI {
        try await offCooperativeThreads { try TestPKI(in: folder) }
    }

    /// The subject of the certificate a TLS server on `port` presents now (a new connection),
    /// as `openssl s_client` prints it, e.g. `CN=kube-apiserver` or `CN = kube-apiserver`.
    public static func presentedSubject(port: Int) async throws -> String {
        let run = try await Program.runWaiting(
            "openssl", ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost"], inputFile: "/dev/null")
        guard let line = run.text.split(separator: "\n").first(where: { $0.hasPrefix("subject=") }) else {
            throw ExternalServerError("openssl s_client showed no certificate: \(run.text)")
        }
        return String(line.dropFirst("subject=".count))
    }

    public func base64(_ path: String) throws -> String {
        try Data(contentsOf: URL(fileURLWithPath: path)).base64EncodedString()
    }

    private static func openssl(_ arguments: [String], in folder: String) throws {
        let run = try Program.run("openssl", arguments, in: folder)
        guard run.status == 0 else {
            throw ExternalServerError("openssl \(arguments.joined(separator: " ")) failed: \(run.text)")
        }
    }
}
