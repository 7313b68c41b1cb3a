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
        let worker = Task { resume(await work()) }
        Task {
            try? await Task.sleep(for: timeout)
            resume(nil)
            worker.cancel()
        }
    }
}
