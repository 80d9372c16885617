@_exported import AloftClient
// Typed entrypoint arguments are `ParsableArguments` types with `@Option`, `@Flag` and `@Argument`.
@_exported import ArgumentParser
@_exported import AloftCore
@_exported import HTTPTypes

extension App {
    /// An app on the embedded control plane: started in this process on first use, on a Unix socket and a loopback port, with
    /// containers started as child processes. Set `ALOFT_CONTROL_PLANE=host:port` to use a running one instead.
    public convenience init(_ name: String, configuration: AppConfiguration = .init()) {
        self.init(name, controlPlane: EmbeddedControlPlane.shared, configuration: configuration)
    }
}

extension Dict {
    /// The named dict of the caller's workspace on the embedded control plane, or the one `ALOFT_CONTROL_PLANE`
    /// names (in a container: its own). See ``Dict/fromName(_:createIfMissing:controlPlane:)``.
    public static func fromName(_ name: String, createIfMissing: Bool = false) -> Dict {
        fromName(name, createIfMissing: createIfMissing, controlPlane: EmbeddedControlPlane.shared)
    }

    /// A dict that lives as long as this process's connection to the embedded control plane (or the one
    /// `ALOFT_CONTROL_PLANE` names).
    public static func ephemeral() async throws -> Dict {
        try await ephemeral(controlPlane: EmbeddedControlPlane.shared)
    }
}

extension Queue {
    /// The named queue of the caller's workspace on the embedded control plane, or the one `ALOFT_CONTROL_PLANE`
    /// names (in a container: its own). See ``Queue/fromName(_:createIfMissing:controlPlane:)``.
    public static func fromName(_ name: String, createIfMissing: Bool = false) -> Queue {
        fromName(name, createIfMissing: createIfMissing, controlPlane: EmbeddedControlPlane.shared)
    }

    /// A queue that lives as long as this process's connection to the embedded control plane.
    public static func ephemeral() async throws -> Queue {
        try await ephemeral(controlPlane: EmbeddedControlPlane.shared)
    }
}
