@_exported import AloftClient
@_exported import AloftCore

extension App {
    /// An app on the embedded control plane: started in this process on first use, on a Unix socket and a loopback port, with
    /// containers started as child processes. Set `ALOFT_CONTROL_PLANE=host:port` to use a running one instead.
    public convenience init(_ name: String, configuration: AppConfiguration = .init()) {
        self.init(name, controlPlane: EmbeddedControlPlane.shared, configuration: configuration)
    }
}
