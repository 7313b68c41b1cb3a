import Foundation

/// The real Prometheus from Debian's `prometheus` package, scraping itself, on a free
/// loopback port; optionally behind basic auth (`--web.config.file`).
public enum PrometheusServer {
    /// The password of the `admin` user when started with basic auth.
    public static let password = "s3cret-prom"
    /// bcrypt of `password` (cost 4, to keep each request cheap in tests).
    static let passwordHash = "$2b$04$ahP1LjCO3eQrNbzSbBhB8eI.5GDjJma21F3wFM5.l7W7G.ryQ8GFm"

    public static var basicAuthHeader: String {
        "Basic " + Data("admin:\(password)".utf8).base64EncodedString()
    }

    public static func start(in folder: TemporaryDirectory, name: String = "prometheus",
                             basicAuth: Bool = false) async throws -> ExternalServer {
        let port = try freeLoopbackPort()
        let config = folder.file("\(name).yml")
        try """
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: self
                static_configs:
                  - targets: ['127.0.0.1:\(port)']
            \(basicAuth ? "    basic_auth:\n      username: admin\n      password: \(password)\n" : "")
            """.write(toFile: config, atomically: true, encoding: .utf8)
        var arguments = [
            "--config.file=\(config)", "--web.listen-address=127.0.0.1:\(port)",
            "--storage.tsdb.path=\(folder.file("\(name)-data"))", "--log.level=warn",
        ]
        if basicAuth {
            let web = folder.file("\(name)-web.yml")
            try "basic_auth_users:\n  admin: \(passwordHash)\n".write(toFile: web, atomically: true, encoding: .utf8)
            arguments.append("--web.config.file=\(web)")
        }
        return try await ExternalServer(
            executable: "prometheus", arguments: arguments, port: port, logPath: folder.file("\(name).log"),
            readyPath: "/-/ready", readyHeaders: basicAuth ? ["Authorization": basicAuthHeader] : [:])
    }
}
