import AloftWire
package import Logging
package import NIOCore

extension Scheduler {
    /// What every wire connection gets, from a socket or not: the frame decoder with the small pre-welcome frame
    /// limit, then a `ConnectionHandler` of this scheduler. Frames to the peer are encoded by its `ChannelPeer`.
    func installConnectionPipeline(on channel: any Channel) throws {
        // Until the peer is welcomed, only small frames (a hello is a few hundred bytes).
        let limit = FrameLimit(bytes: configuration.connectionLimits.preWelcomeFrameBytes)
        try channel.pipeline.syncOperations.addAloftFrameDecoder(limit: limit)
        try channel.pipeline.syncOperations.addHandler(ConnectionHandler(state: self, frameLimit: limit))
    }
}

/// A scheduler with no listener, on an event loop its owner drives (an `EmbeddedEventLoop`), that takes
/// connections as channels the owner made: the wire fuzzer (`Sources/AloftFuzz`) feeds hostile bytes through the
/// very pipeline an accepted socket gets, without sockets, threads or timing.
package final class DetachedControlPlane {
    let scheduler: Scheduler

    /// Call on `loop`; `configuration.containerRuntime` is asked for containers as on a server.
    package init(loop: any EventLoop, configuration: ControlPlaneConfiguration, logger: Logger) {
        scheduler = Scheduler(loop: loop, configuration: configuration, logger: logger)
        scheduler.address = "unix:/detached"
        scheduler.startReaper()
    }

    /// Gives `channel` the pipeline of an accepted wire connection; call before the channel becomes active.
    package func installConnectionPipeline(on channel: any Channel) throws {
        try scheduler.installConnectionPipeline(on: channel)
    }

    /// How many connections the scheduler still counts as open (the fuzzer checks that closing gives all back).
    package var openConnections: Int { scheduler.connections.count }
}
