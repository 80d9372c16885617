import CoreMetrics
import NIOCore

/// The metrics of one function pool, made once per pool (a backend looks a metric up by name and dimensions when
/// it is made; recording is then an atomic add). Names and meanings are listed in docs/metrics.md. Without a
/// bootstrapped backend (the embedded default) every record is a no-op.
struct PoolMetrics {
    let started: Counter
    let succeeded: Counter
    let failed: Counter
    let retried: Counter
    let cancelled: Counter
    let coldStarts: Counter
    /// From an attempt's start in its container to its answer.
    let duration: Timer
    /// From the input's arrival (or its retry) to the start of its attempt.
    let queueWait: Timer
    /// From asking for a container to its connection.
    let coldStartDuration: Timer

    init(workspace: String, app: String, function: String) {
        let dimensions = [("workspace", workspace), ("app", app), ("function", function)]
        started = Counter(label: "aloft_inputs_started_total", dimensions: dimensions)
        succeeded = Counter(label: "aloft_inputs_succeeded_total", dimensions: dimensions)
        failed = Counter(label: "aloft_inputs_failed_total", dimensions: dimensions)
        retried = Counter(label: "aloft_inputs_retried_total", dimensions: dimensions)
        cancelled = Counter(label: "aloft_inputs_cancelled_total", dimensions: dimensions)
        coldStarts = Counter(label: "aloft_cold_starts_total", dimensions: dimensions)
        duration = Timer(label: "aloft_input_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        queueWait = Timer(
            label: "aloft_input_queue_wait_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        coldStartDuration = Timer(
            label: "aloft_cold_start_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
    }
}

/// Metrics of the control plane as a whole.
struct ControlPlaneMetrics {
    let storeWrite = Timer(label: "aloft_store_write_duration_seconds", preferredDisplayUnit: .seconds)
    let storeFailures = Counter(label: "aloft_store_write_failures_total")
}

extension TimeAmount {
    /// For a `Timer`: whole nanoseconds, never negative.
    var recordable: Int64 { max(0, nanoseconds) }
}
