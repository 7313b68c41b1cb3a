import Synchronization
import SwitchboardEngine
import Testing

@Suite struct ConcurrencyLimitTests {
    /// Bodies running now and the most seen at once.
    final class Gauge: Sendable {
        private let state = Mutex((now: 0, most: 0))
        func enter() { state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
        func leave() { state.withLock { $0.now -= 1 } }
        var most: Int { state.withLock { $0.most } }
    }

    @Test func runsAtMostTheLimitAndEveryCallerInTheEnd() async throws {
        let limit = ConcurrencyLimit(3)
        let gauge = Gauge()
        let finished = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<50 {
                group.addTask {
                    try await limit.run {
                        gauge.enter()
                        defer { gauge.leave() }
                        try await Task.sleep(for: .milliseconds(5))
                        return index
                    }
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(finished.sorted() == Array(0..<50))
        #expect(gauge.most == 3)
        #expect(limit.occupancy.running == 0 && limit.occupancy.waiting == 0)
    }

    @Test func aCancelledWaiterLeavesTheQueueWithoutRunning() async throws {
        let limit = ConcurrencyLimit(1)
        let ran = Mutex(false)
        let release = AsyncStream<Void>.makeStream()
        let holder = Task { try await limit.run { for await _ in release.stream { break } } }
        while limit.occupancy.running == 0 { await Task.yield() }
        let waiter = Task { try await limit.run { ran.withLock { $0 = true } } }
        while limit.occupancy.waiting == 0 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limit.occupancy.waiting == 0)
        release.continuation.yield()
        try await holder.value
        #expect(!ran.withLock { $0 })
        #expect(limit.occupancy.running == 0)
    }
}
