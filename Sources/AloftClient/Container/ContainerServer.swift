#if canImport(Glibc)
@preconcurrency import Glibc
#endif
import AloftCore
import Foundation
import Logging
import Synchronization

/// Makes stdout flush at each newline even when it is a pipe.
func lineBufferStandardOutput() {
    setvbuf(stdout, nil, _IOLBF, 0)
}

/// A container process: `app.main()` with `ALOFT_CONTAINER_ID` set runs one `ContainerSession` on the main thread,
/// then exits.
enum ContainerServer {
    static func run(containerID: String) -> Never {
        // The control plane forwards our output line by line, and keeps each with the call whose body printed it.
        TaggedStandardStreams.install()
        let environment = ProcessInfo.processInfo.environment
        let address = environment[AloftEnvironment.controlPlaneAddress] ?? ""
        // A container of a class constructs its instance and runs `enter` before it connects: a failure here is a
        // failed start, which the control plane reports after three in a row.
        if let className = environment[AloftEnvironment.className], !className.isEmpty {
            let parameters = Data(base64Encoded: environment[AloftEnvironment.classParameters] ?? "") ?? Data()
            do {
                try AloftRuntime.shared.runBlocking(asyncForm: "", runsUserCode: true) {
                    try await ClassInstances.constructContainerInstance(className: className, parameters: parameters)
                }
            } catch {
                FileHandle.standardError.write(
                    Data("aloft container \(containerID): enter of class \(className) failed: \(error)\n".utf8))
                exit(1)
            }
        }
        let session: ContainerSession
        do {
            session = try ContainerSession(containerID: containerID, address: address)
        } catch {
            FileHandle.standardError.write(Data("aloft container \(containerID): \(error)\n".utf8))
            exit(1)
        }
        // SIGTERM (a worker or the control plane stopping it, or a user): start nothing new, let the running inputs
        // finish within the exit grace, exit 0. Inputs it was sent but had not started run again elsewhere. The main
        // thread keeps reading meanwhile, so that a cancellation still reaches a running input.
        signal(SIGTERM, SIG_IGN)
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        terminate.setEventHandler {
            AloftRuntime.shared.logger.info("SIGTERM: finishing running inputs, then exiting")
            session.stop(startingWaiting: false, within: .seconds(30))
            end(status: 0)
        }
        terminate.resume()
        switch session.serve() {
        case .stopped: end(status: 0)
        case .failed: end(status: 1)
        }
    }

    private static let ending = Atomic(false)

    /// Runs the class's `exit` hook (if this is a class's container) and exits. Only the first caller (the SIGTERM
    /// handler or the main thread) does it; a second one waits for the process to end.
    private static func end(status: Int32) -> Never {
        guard !ending.exchange(true, ordering: .sequentiallyConsistent) else {
            while true { sleep(3600) }
        }
        if status == 0 {
            _ = try? AloftRuntime.shared.runBlocking(asyncForm: "", runsUserCode: true) {
                await ClassInstances.exitContainerInstance()
            }
        }
        exit(status)
    }
}
