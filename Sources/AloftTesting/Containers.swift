import Aloft
import AloftClient
import AloftControlPlane

/// Where the embedded control plane starts an app's containers during a test.
public enum ContainerMode: Sendable, CustomStringConvertible {
    /// Threads of the test process (``InProcessContainerRuntime``): no processes, no executable to build; the
    /// functions are the ones the test process declared.
    case threads
    /// Child processes started from the app's container executable, as in production.
    case processes

    public var description: String {
        switch self {
        case .threads: "threads"
        case .processes: "processes"
        }
    }
}

/// Runs `body` against a control plane of its own, embedded in this process, whose containers start as `mode`
/// says; every call made in `body` (and in the tasks it starts) goes there, whatever its app's provider. The
/// control plane and its containers are stopped when `body` returns.
///
/// Write a test body once and run it both ways, in-process for speed and as processes for the real path:
///
/// ```swift
/// @Test(arguments: [ContainerMode.threads, .processes])
/// func squares(_ mode: ContainerMode) async throws {
///     try await withContainers(mode) {
///         #expect(try await square.remote(7) == 49)
///     }
/// }
/// ```
///
/// Each call has its own control plane, so tests that use it may run in parallel. For `.processes`, the app's
/// `AppConfiguration.containerExecutable` must be an executable that declares the same functions and calls
/// `app.main()`; for `.threads`, this process must have declared them (a function is declared when its handle is
/// first used: touch every handle before the test, as `Tests/TestingExample` does).
public func withContainers<T>(_ mode: ContainerMode, _ body: () async throws -> T) async throws -> T {
    let runtime: any ContainerRuntime =
        switch mode {
        case .threads: InProcessContainerRuntime()
        case .processes: ProcessContainerRuntime()
        }
    let controlPlane = EmbeddedControlPlane(configuration: ControlPlaneConfiguration(containerRuntime: runtime))
    do {
        let result = try await AloftRuntime.$providerOverride.withValue(controlPlane) { try await body() }
        await controlPlane.shutdown()
        return result
    } catch {
        await controlPlane.shutdown()
        throw error
    }
}
