import AloftClient
public import AloftControlPlane
import AloftCore
import Foundation
import Synchronization

/// Runs each container as a thread of this process instead of a child process: the control plane, its scheduler
/// and the wire protocol are the real ones, and the container serves the functions this process declared.
///
/// For unit tests of an app (see ``withContainers(_:_:)``). A container's bodies run on threads of the test
/// process, so they share its memory, its working directory and its environment; a "killed" container (a
/// timeout, a stop past its grace) loses its connection at once, but a body that is still running finishes on its
/// thread. Containers of a class are not run in-process: their start fails with `invalidConfiguration`.
public struct InProcessContainerRuntime: ContainerRuntime {
    public init() {}

    public func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (Int32) -> Void) throws -> any ContainerHandle
    {
        if let className = spec.environment[AloftEnvironment.className], !className.isEmpty {
            throw AloftError(
                .invalidConfiguration,
                "containers of a class (\(className)) run as processes only: use ContainerMode.processes for this test")
        }
        let container = InProcessContainer()
        let address = spec.environment[AloftEnvironment.controlPlaneAddress] ?? ""
        let thread = Thread {
            onExit(container.run(containerID: spec.containerID, address: address))
        }
        thread.name = "aloft-container-\(spec.containerID)"
        thread.start()
        return container
    }
}

/// A container running on a thread of this process.
final class InProcessContainer: ContainerHandle {
    private let state = Mutex<(session: ContainerSession?, killed: Bool)>((nil, false))

    var processID: Int32? { nil }

    /// Connects and serves; returns the exit status a process would have had.
    func run(containerID: String, address: String) -> Int32 {
        let session: ContainerSession
        do {
            session = try ContainerSession(
                containerID: containerID, address: address, callerProvider: RemoteControlPlane(address))
        } catch {
            FileHandle.standardError.write(Data("aloft container \(containerID): \(error)\n".utf8))
            return 1
        }
        let killed = state.withLock { state in
            state.session = session
            return state.killed
        }
        if killed { session.abort() }
        let end = session.serve()
        session.abort()  // the connection closes now, as a process's would when it exits
        switch end {
        case .stopped: return state.withLock { $0.killed } ? 137 : 0
        case .failed: return 1
        }
    }

    /// SIGTERM: start nothing new, let the running inputs finish (up to 30 s), then end.
    func terminate() {
        guard let session = state.withLock({ $0.session }) else { return kill() }
        Thread.detachNewThread {
            session.stop(startingWaiting: false, within: .seconds(30))
            session.abort()
        }
    }

    /// SIGKILL: the connection ends now.
    func kill() {
        let session = state.withLock { state in
            state.killed = true
            return state.session
        }
        session?.abort()
    }
}
