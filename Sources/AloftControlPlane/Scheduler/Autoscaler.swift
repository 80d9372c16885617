import NIOCore

/// How many containers a pool wants, and how many inputs each takes: pure functions of a pool's picture, so that
/// the policy is tested alone.
///
/// The autoscaler aims for `targetPerContainer` inputs per container: while more containers may start, each takes
/// at most that many; at `maxContainers` each takes up to its slots (`maxInputs`, times the batch size), plus the
/// control plane's prefetch queued on it.
enum Autoscaler {
    /// A pool's autoscaling options, as the autoscaler reads them.
    struct Knobs: Equatable {
        /// Inputs per container to aim for (`targetInputs`, default `maxInputs`, times the batch size).
        var targetPerContainer: Int
        var minContainers: Int
        var maxContainers: Int
        /// Extra containers kept while there is any load.
        var bufferContainers: Int
    }

    /// Containers for `load` inputs (waiting or sent to containers): `load / targetPerContainer` rounded up, plus
    /// `bufferContainers` while there is any load, within `minContainers ... maxContainers`. A stopped pool wants
    /// none.
    static func desiredContainers(load: Int, knobs: Knobs, stopped: Bool = false) -> Int {
        guard !stopped else { return 0 }
        let target = max(1, knobs.targetPerContainer)
        var desired = (load + target - 1) / target
        if load > 0 { desired += knobs.bufferContainers }
        return min(knobs.maxContainers, max(knobs.minContainers, desired))
    }

    /// Whether new containers may start: a pool whose containers keep failing to start before connecting gets
    /// new ones only for inputs, not just to keep its warm floor.
    static func mayStart(consecutiveStartFailures: Int, cap: Int, hasBacklog: Bool) -> Bool {
        consecutiveStartFailures < cap || hasBacklog
    }

    /// How long a pool waits before it starts a container after `consecutiveCrashes` crashed in a row (none
    /// answered an input in between): nothing after none, then 250 ms, doubling up to 8 s.
    static func crashBackoff(consecutiveCrashes: Int) -> TimeAmount {
        guard consecutiveCrashes > 0 else { return .zero }
        return .milliseconds(min(8_000, 250 << min(consecutiveCrashes - 1, 16)))
    }

    /// How long an input waits before it runs again after the container running it crashed for the
    /// `crashes`-th time: 1 s, doubling up to 30 s. It then waits at the back of the backlog.
    static func crashRerunDelay(crashes: Int) -> TimeAmount {
        .milliseconds(min(30_000, 1000 << min(max(crashes, 1) - 1, 16)))
    }

    /// Inputs one container may hold at once: its slots at the pool's container limit (`atLimit`), else no more
    /// than the target; plus `extra` queued behind them.
    static func inputLimit(slots: Int, knobs: Knobs, atLimit: Bool, extra: Int) -> Int {
        (atLimit ? slots : min(slots, knobs.targetPerContainer)) + extra
    }

    /// Of a pool's idle containers (connected, nothing assigned; oldest idle first), those to stop now: the ones
    /// idle for a whole `window`, while the pool has more active containers than it wants.
    static func idleToStop<Container>(
        _ idle: [(container: Container, idleFor: TimeAmount)], active: Int, desired: Int, window: TimeAmount
    ) -> [Container] {
        let surplus = max(0, active - desired)
        return Array(idle.lazy.filter { $0.idleFor >= window }.prefix(surplus).map(\.container))
    }
}
