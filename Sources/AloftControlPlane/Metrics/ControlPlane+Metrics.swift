import NIOCore
import CoreMetrics
import Synchronization

// The gauges of what there is now (backlog, running inputs, containers, worker hosts), set when metrics are read.

extension ControlPlane {
    /// Sets the gauges to what there is now: call it just before the metrics are read (`/metrics` does). A pool or
    /// worker host that is gone since the last call reads 0.
    public func updateGauges() async throws {
        let state = try runningScheduler()
        let readings = try await state.loop.submit { state.gaugeReadings() }.get()
        gauges.set(readings)
    }
}

/// The label sets of the gauges set last, so that the next reading sets those that are gone to 0.
final class Gauges: Sendable {
    private let lastSet = Mutex<Set<[String]>>([])

    func set(_ readings: GaugeReadings) {
        var values: [[String]: Int] = [:]
        func put(_ label: String, _ dimensions: [(String, String)], _ value: Int) {
            values[[label] + dimensions.flatMap { [$0.0, $0.1] }] = value
        }
        for pool in readings.pools {
            let dimensions = [("workspace", pool.workspace), ("app", pool.app), ("function", pool.function)]
            put("aloft_backlog", dimensions, pool.backlog)
            put("aloft_inputs_running", dimensions, pool.running)
            put("aloft_containers_starting", dimensions, pool.containersStarting)
            put("aloft_containers", dimensions, pool.containers)
        }
        for worker in readings.workers {
            put("aloft_host_containers", [("host", worker.name)], worker.containers)
        }
        put("aloft_host_containers", [("host", "local")], readings.localContainers)
        put("aloft_worker_hosts", [], readings.workers.count)
        let gone = lastSet.withLock { last in
            defer { last = Set(values.keys) }
            return last.subtracting(values.keys)
        }
        for key in gone { values[key] = 0 }
        for (key, value) in values {
            var dimensions: [(String, String)] = []
            var index = 1
            while index + 1 < key.count {
                dimensions.append((key[index], key[index + 1]))
                index += 2
            }
            Gauge(label: key[0], dimensions: dimensions).record(value)
        }
    }
}
