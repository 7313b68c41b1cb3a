import Synchronization

/// Runs `work` and returns its result, or `nil` once `timeout` passes, whichever comes
/// first. Work that ignores cancellation is left to finish on its own: the caller is freed
/// either way (a hung exec plugin or target must not hold a probe slot forever).
func withDeadline<T: Sendable>(_ timeout: Duration, _ work: @escaping @Sendable () async -> T) async -> T? {
    await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        let pending = Mutex<CheckedContinuation<T?, Never>?>(continuation)
        let resume: @Sendable (T?) -> Void = { value in
            pending.withLock { slot in
                slot?.resume(returning: value)
                slot = nil
            }
        }
        // Work that finishes stops the timer: at 100k connections a timer left sleeping per
        // check meant tens of thousands of live tasks and timers (measured: memory and CPU).
        let timerSlot = Mutex<Task<Void, Never>?>(nil)
        let worker = Task {
            resume(await work())
            timerSlot.withLock { $0?.cancel() }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            resume(nil)
            worker.cancel()
        }
        timerSlot.withLock { $0 = timer }
        // The work may have finished before the timer was stored.
        if pending.withLock({ $0 == nil }) { timer.cancel() }
    }
}
