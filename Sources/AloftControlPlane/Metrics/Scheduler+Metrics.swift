import AloftWire
import CoreMetrics
import NIOCore

// What the scheduler counts and times as inputs and containers go (PoolMetrics), and the gauges of what there is
// now, set when metrics are read (`ControlPlane.updateGauges`), so that the call path pays nothing for them.

extension Scheduler {
    /// An attempt of `input` starts running in its container.
    func metricsInputStarted(_ input: InputRecord) {
        let now = loop.now
        input.pool.metrics.started.increment()
        input.pool.metrics.queueWait.recordNanoseconds((now - input.queuedAt).recordable)
        input.startedAt = now
    }

    /// `input` is answered with `status` (after its last attempt, or cancelled).
    func metricsInputAnswered(_ input: InputRecord, _ status: Aloft_V1_Status) {
        let metrics = input.pool.metrics
        switch status {
        case .success: metrics.succeeded.increment()
        case .cancelled: metrics.cancelled.increment()
        default: metrics.failed.increment()
        }
        let now = loop.now
        let duration = input.startedAt.map { now - $0 }
        if let duration { metrics.duration.recordNanoseconds(duration.recordable) }
        input.pool.window.record(at: now, duration: duration, failed: status != .success && status != .cancelled)
    }

    /// A container connected: a cold start is over.
    func metricsColdStart(_ container: ContainerRecord) {
        container.pool.metrics.coldStarts.increment()
        container.pool.metrics.coldStartDuration.recordNanoseconds((loop.now - container.createdAt).recordable)
    }

    /// What there is now, by pool and worker host.
    func gaugeReadings() -> GaugeReadings {
        var readings = GaugeReadings()
        for pool in registry.pools.values {
            var running = 0
            for container in pool.containers.values {
                for id in container.assigned {
                    if let input = inputs[id], case .running = input.state { running += 1 }
                }
            }
            let starting = pool.containers.values.filter { if case .starting = $0.state { true } else { false } }.count
            readings.pools.append(
                .init(
                    workspace: pool.workspace, app: pool.appName, function: pool.name,
                    backlog: max(0, pool.pending.count - pool.cancelledInBacklog), running: running,
                    containersStarting: starting, containers: pool.containers.count))
        }
        for worker in workers.byChannel.values {
            readings.workers.append(.init(name: worker.name, containers: worker.containers.count))
        }
        readings.localContainers = containers.values.filter { $0.worker == nil }.count
        return readings
    }
}

/// The gauges' values at one moment.
struct GaugeReadings: Sendable {
    struct Pool: Sendable {
        var workspace, app, function: String
        var backlog, running, containersStarting, containers: Int
    }

    struct Worker: Sendable {
        var name: String
        var containers: Int
    }

    var pools: [Pool] = []
    var workers: [Worker] = []
    var localContainers = 0
}
