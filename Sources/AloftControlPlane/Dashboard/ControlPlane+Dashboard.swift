import NIOCore
import NIOPosix

// What the dashboard shows: a workspace's functions with their containers, its latest calls, its worker hosts.

/// One function pool of an app, now.
public struct FunctionView: Sendable {
    public var name: String
    public var backlog: Int
    public var running: Int
    public var containers: [ContainerView]
    /// Over the last five minutes.
    public var callsPerMinute: Double
    public var failuresPerMinute: Double
    /// Milliseconds, over the last five minutes; nil before any input ran.
    public var p50: Double?
    public var p99: Double?
    /// Why no host can take its containers, while that is so.
    public var unplaceable: String?
    public var stopped: Bool
}

/// One container, now.
public struct ContainerView: Sendable {
    public var id: String
    /// `local` or the worker host's name.
    public var host: String
    /// `starting`, `serving`, `stopping` or `disconnected`.
    public var state: String
    public var uptimeSeconds: Double
    /// Inputs it answered.
    public var served: Int
    public var running: Int
    /// What it used, where its runtime can tell (`ContainerHandle.usage()`): read now for containers of this host,
    /// as last reported (every heartbeat, 2 s by default) for those of worker hosts.
    public var usage: ContainerUsage?
}

/// One worker host of a workspace, now.
public struct WorkerView: Sendable {
    public var name: String
    public var containers: Int
    public var cpus: Double
    public var memoryMiB: Int
}

extension ControlPlane {
    /// The function pools of `app` in `workspace`, by name.
    public func functionViews(workspace: String, app: String) async throws -> [FunctionView] {
        let state = try runningScheduler()
        let (found, handles) = try await state.loop.submit { state.functionViews(workspace: workspace, app: app) }
            .get()
        var views = found
        guard !handles.isEmpty else { return found }
        // Read off the loop: files of /proc and cgroups.
        let usages = try await NIOThreadPool.singleton.runIfActive { handles.compactMapValues { $0.usage() } }
        for function in views.indices {
            for container in views[function].containers.indices {
                views[function].containers[container].usage = usages[views[function].containers[container].id]
            }
        }
        return views
    }

    /// The latest calls of `workspace` (of `app`, if given), newest first.
    public func recentCalls(workspace: String, app: String? = nil, limit: Int = 50) async throws -> [CallSummary] {
        let state = try runningScheduler()
        return try await state.loop.submit { state.recentCalls.calls(workspace: workspace, app: app, limit: limit) }
            .get()
    }

    /// One of the latest calls of `workspace`, if it is still among them.
    public func recentCall(workspace: String, id: String) async throws -> CallSummary? {
        let state = try runningScheduler()
        return try await state.loop.submit {
            state.recentCalls[id].flatMap { $0.workspace == workspace ? $0 : nil }
        }.get()
    }

    /// The worker hosts of `workspace`.
    public func workerViews(workspace: String) async throws -> [WorkerView] {
        let state = try runningScheduler()
        return try await state.loop.submit {
            state.workers.byChannel.values.filter { $0.workspace == workspace }.sorted { $0.name < $1.name }.map {
                WorkerView(
                    name: $0.name, containers: $0.containers.count, cpus: $0.capacity.cpus,
                    memoryMiB: $0.capacity.memoryMiB)
            }
        }.get()
    }
}

extension Scheduler {
    /// The views, and the handles of this host's containers among them (whose usage is read off the loop).
    func functionViews(workspace: String, app: String) -> ([FunctionView], [String: any ContainerHandle]) {
        let now = loop.now
        var handles: [String: any ContainerHandle] = [:]
        let views = registry.pools.values.filter { $0.workspace == workspace && $0.appName == app }
            .sorted { $0.name < $1.name }
            .map { pool in
                let containers = pool.containers.values.sorted { $0.createdAt < $1.createdAt }.map {
                    container -> ContainerView in
                    let running = container.assigned.filter { id in
                        if let input = inputs[id], case .running = input.state { true } else { false }
                    }.count
                    let state =
                        switch container.state {
                        case .starting: "starting"
                        case .serving: "serving"
                        case .stopping: "stopping"
                        case .disconnected: "disconnected"
                        }
                    if container.worker == nil, let handle = container.handle { handles[container.id] = handle }
                    return ContainerView(
                        id: container.id, host: container.worker?.name ?? "local", state: state,
                        uptimeSeconds: Double((now - container.createdAt).nanoseconds) / 1e9,
                        served: container.served, running: running, usage: container.reportedUsage)
                }
                let window = pool.window.summary(now: now)
                let stopped = if case .stopped = pool.state { true } else { false }
                return FunctionView(
                    name: pool.name, backlog: max(0, pool.pending.count - pool.cancelledInBacklog),
                    running: containers.reduce(0) { $0 + $1.running }, containers: containers,
                    callsPerMinute: window.perMinute, failuresPerMinute: window.failuresPerMinute, p50: window.p50,
                    p99: window.p99, unplaceable: pool.unplaceable, stopped: stopped)
            }
        return (views, handles)
    }
}
