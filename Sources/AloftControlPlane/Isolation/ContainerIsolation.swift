public import AloftCore

/// How `aloft server` and `aloft worker` run containers (`--isolation`, `ALOFT_ISOLATION`).
public enum ContainerIsolation: String, Sendable, CaseIterable {
    /// Boxed where this host allows it (`bwrap`), else plain processes, saying why in the log.
    case auto
    /// Boxed (`SandboxContainerRuntime`); the server or worker refuses to start where this host cannot box.
    case bwrap
    /// Plain child processes of this host's user, with no limits (`ProcessContainerRuntime`).
    case none

    /// Reads `auto`, `bwrap` or `none`.
    public init(parsing text: String) throws(AloftError) {
        guard let isolation = ContainerIsolation(rawValue: text) else {
            throw AloftError(.invalidConfiguration, "--isolation must be auto, bwrap or none, got '\(text)'")
        }
        self = isolation
    }

    /// The runtime this setting gives on this host, and what to log about it.
    public struct Choice: Sendable {
        public let runtime: any ContainerRuntime
        /// Which isolation is in force and why, for the start-up log.
        public let description: String
        /// `auto` could not box containers here, or boxes them without limits (not root): worth a warning.
        public let fellBack: Bool
    }

    /// The runtime this setting gives on this host. Throws `invalidConfiguration` for `bwrap` where this host
    /// cannot box containers, saying why.
    public func choose(sandbox: SandboxContainerRuntime.Configuration = .init()) throws(AloftError) -> Choice {
        let plain = ProcessContainerRuntime(forwardOutput: sandbox.forwardOutput)
        switch self {
        case .none:
            return Choice(
                runtime: plain, description: "containers run as plain processes, not isolated (--isolation none)",
                fellBack: false)
        case .bwrap:
            let runtime = try SandboxContainerRuntime.make(configuration: sandbox).get()
            return Choice(
                runtime: runtime, description: "containers are boxed: \(runtime.description)",
                fellBack: !runtime.enforcesLimits)
        case .auto:
            switch SandboxContainerRuntime.make(configuration: sandbox) {
            case .success(let runtime):
                return Choice(
                    runtime: runtime, description: "containers are boxed: \(runtime.description)",
                    fellBack: !runtime.enforcesLimits)
            case .failure(let error):
                return Choice(
                    runtime: plain,
                    description: "containers run as plain processes of this host's user, NOT isolated: "
                        + "\(error.message) (docs/server.md, \"Security: boxed containers\")",
                    fellBack: true)
            }
        }
    }
}
