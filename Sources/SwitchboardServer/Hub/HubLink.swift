import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import StoreContract
import Synchronization

/// The spoke's link to its hub (`serve --hub`): registers this server, heartbeats its
/// connection summary, and tells the hub at a graceful shutdown that it stops. The decisions
/// are `HubLinkStateMachine`'s; this runs its actions with AsyncHTTPClient.
///
/// It never ends the server: after a 410 it waits for the shutdown. Add it after the HTTP
/// server in the `ServiceGroup` so that it is shut down (stop request sent) first.
public struct HubLink: Service {
    let configuration: HubConfiguration
    let store: any ConnectionStore
    let address: AdvertisedAddress
    let logger: Logger
    let timing: HubLinkTiming
    let random: @Sendable () -> Double
    let requestTimeout: Duration
    let stopTimeout: Duration

    /// `timing` defaults to the configured heartbeat with 1 s to 60 s backoff; `random`
    /// (0..<1) drives the jitter.
    public init(configuration: HubConfiguration, store: any ConnectionStore, address: AdvertisedAddress,
                logger: Logger, timing: HubLinkTiming? = nil,
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
                requestTimeout: Duration = .seconds(10), stopTimeout: Duration = .seconds(2)) {
        self.configuration = configuration
        self.store = store
        self.address = address
        var logger = logger
        logger[metadataKey: "hub"] = "\(configuration.url)"
        self.logger = logger
        self.timing = timing ?? HubLinkTiming(heartbeat: configuration.heartbeat)
        self.random = random
        self.requestTimeout = requestTimeout
        self.stopTimeout = stopTimeout
    }

    public func run() async {
        let client = HubExchange.makeClient(configuration)
        let exchange = HubExchange(client: client, configuration: configuration, timeout: requestTimeout)
        let link = LinkState(HubLinkStateMachine(timing: timing, random: random))
        do {
            try await cancelWhenGracefulShutdown { try await self.loop(link, exchange) }
        } catch {
            // Cancelled: by the graceful shutdown (the stop request follows) or by the group.
        }
        if !Task.isCancelled { await finish(link, exchange) }
        do {
            try await client.shutdown()
        } catch {
            logger.debug("the hub link's HTTP client did not shut down cleanly", metadata: ["error": "\(error)"])
        }
    }

    /// Runs the machine's actions until the shutdown cancels it.
    private func loop(_ link: LinkState, _ exchange: HubExchange) async throws {
        let session: Session
        do {
            session = Session(serverId: try await store.serverIdentity(), advertiseURL: try await address.whenKnown())
        } catch where error is CancellationError || Task.isCancelled {
            throw CancellationError()
        } catch {
            logger.error("cannot read this server's id from its database, so it cannot register with the hub until the next start; check the database (switchboard serve logs its state at start)",
                         metadata: ["error": "\(error)"])
            try await gracefulShutdown()
            return
        }
        if let host = ServerURL.host(of: session.advertiseURL), ServerURL.isUnspecified(host: host) {
            logger.warning("this server tells the hub it is at \(session.advertiseURL), which no other machine can reach; start it with --advertise-url set to an address the hub's users can open")
        }
        var queue = link.started(session)
        while !queue.isEmpty {
            let action = queue.removeFirst()
            switch action {
            case .log(let line):
                logger.log(level: line.level, "\(line.message)")
            case .wait(let duration):
                try await Task.sleep(for: duration)
            case .sendRegister:
                let answer = await exchange.register(session.registration)
                try Task.checkCancellation()  // A request cut short by the shutdown is no failure.
                queue += link.handle(answer)
            case .sendHeartbeat:
                let answer = await exchange.heartbeat(try await heartbeat(session, link), serverId: session.serverId)
                try Task.checkCancellation()
                queue += link.handle(answer)
            case .idle:
                try await gracefulShutdown()
                return
            case .sendStop, .end:
                return
            }
        }
    }

    /// A heartbeat with the summary read now. When the store cannot answer, the last summary
    /// goes (the hub's lease is about liveness; /readyz reports the store).
    private func heartbeat(_ session: Session, _ link: LinkState) async throws -> HubWire.Heartbeat {
        let summary: HubWire.Summary
        do {
            summary = HubWire.Summary(try await store.countsByKindAndStatus())
            if link.summaryRead(summary) { logger.info("the connection summary can be read again") }
        } catch let error as CancellationError {
            throw error
        } catch {
            let (last, firstFailure) = link.summaryFailed()
            if firstFailure {
                logger.warning("cannot count this server's connections for the hub; heartbeats carry the last summary until the store answers",
                               metadata: ["error": "\(error)"])
            }
            summary = last
        }
        return HubWire.Heartbeat(serverId: session.serverId, version: SwitchboardRelease.version,
                                 build: SwitchboardRelease.build, advertiseUrl: session.advertiseURL, summary: summary)
    }

    /// After the graceful shutdown: the stop request, once, if the hub knows this server.
    private func finish(_ link: LinkState, _ exchange: HubExchange) async {
        for action in link.shutdown() {
            switch action {
            case .log(let line):
                logger.log(level: line.level, "\(line.message)")
            case .sendStop:
                guard let session = link.session else { continue }
                if let failure = await exchange.stop(serverId: session.serverId, timeout: stopTimeout) {
                    logger.info("the hub did not take the stop request; it sees this server disconnected when its lease runs out",
                                metadata: ["reason": "\(failure)"])
                }
            case .end:
                return
            case .sendRegister, .sendHeartbeat, .wait, .idle:
                continue
            }
        }
    }
}

/// What the link says about this server, fixed once it runs.
struct Session: Sendable {
    let serverId: UUID
    let advertiseURL: String
    let registration: HubWire.Registration

    init(serverId: UUID, advertiseURL: String) {
        self.serverId = serverId
        self.advertiseURL = advertiseURL
        registration = HubWire.Registration(serverId: serverId, version: SwitchboardRelease.version,
                                            build: SwitchboardRelease.build, advertiseURL: advertiseURL)
    }
}

/// The machine and the session, shared between the loop (cancelled at shutdown) and the
/// stop that follows it.
final class LinkState: Sendable {
    private struct Shared {
        var machine: HubLinkStateMachine
        var session: Session?
        var lastSummary = HubWire.Summary(totalCount: 0, byStatus: [:], byKind: [:])
        var summaryFailing = false
    }

    private let shared: Mutex<Shared>

    init(_ machine: HubLinkStateMachine) {
        shared = Mutex(Shared(machine: machine))
    }

    var session: Session? { shared.withLock { $0.session } }

    func started(_ session: Session) -> [HubLinkStateMachine.Action] {
        shared.withLock { shared in
            shared.session = session
            return shared.machine.started()
        }
    }

    func handle(_ answer: HubExchange.Answer) -> [HubLinkStateMachine.Action] {
        shared.withLock { shared in
            switch answer {
            case .registered(let registration): shared.machine.registered(registration)
            case .heartbeat(let status): shared.machine.heartbeatAnswered(status: status)
            case .gone: shared.machine.gone()
            case .notFound: shared.machine.notFound()
            case .failed(let failure): shared.machine.failed(failure)
            }
        }
    }

    func shutdown() -> [HubLinkStateMachine.Action] {
        shared.withLock { $0.machine.shutdown() }
    }

    /// Keeps `summary`; answers whether reading had failed before.
    func summaryRead(_ summary: HubWire.Summary) -> Bool {
        shared.withLock { shared in
            shared.lastSummary = summary
            defer { shared.summaryFailing = false }
            return shared.summaryFailing
        }
    }

    /// The last summary read, and whether this is the first failure in a row.
    func summaryFailed() -> (HubWire.Summary, Bool) {
        shared.withLock { shared in
            defer { shared.summaryFailing = true }
            return (shared.lastSummary, !shared.summaryFailing)
        }
    }
}
