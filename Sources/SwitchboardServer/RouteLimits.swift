import SwitchboardEngine

/// How many requests of each expensive route run at once; the rest wait their turn.
///
/// A ping holds a database read and an outbound request for up to the check timeout, an
/// import parses YAML and verifies every context: hundreds at once used to take every
/// thread and reader, so `/healthz` and shutdown stalled with them (issue 14). Queued
/// requests are answered later, never refused.
struct RouteLimits: Sendable {
    let ping = ConcurrencyLimit(64)
    let transitions = ConcurrencyLimit(64)
    let bulkTransitions = ConcurrencyLimit(4)
    let kubeconfigImports = ConcurrencyLimit(4)
}
