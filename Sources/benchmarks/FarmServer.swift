import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `benchmarks targets`: the target farm's server side. One Hummingbird application per
/// loopback address, all answering the same tiny exposition.
enum FarmServer {
    static let body = "# TYPE target_up gauge\ntarget_up 1\n"

    /// Targets that answer 503.
    final class DownList: Sendable {
        let names = Mutex<Set<String>>([])
    }

    static func router(_ down: DownList) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("metrics") { request, _ -> Response in
            let target = request.uri.queryParameters.get("target") ?? ""
            if down.names.withLock({ $0.contains(target) }) { return Response(status: .serviceUnavailable) }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        return router
    }

    static func run(port: Int, addresses: Range<Int>, downFile: String) async throws {
        let down = DownList()
        var logger = Logger(label: "target-farm")
        logger.logLevel = .error
        let quiet = logger
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The down list is re-read every 200 ms.
            group.addTask {
                while true {
                    let text = (try? String(contentsOfFile: downFile, encoding: .utf8)) ?? ""
                    let names = Set(text.split(separator: "\n").map(String.init))
                    down.names.withLock { $0 = names }
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
            for index in addresses {
                group.addTask {
                    let app = Application(router: router(down), configuration: .init(address: .hostname("127.0.0.\(index)", port: port)),
                                          logger: quiet)
                    try await app.runService()
                }
            }
            try await group.next()
        }
    }
}
