public import AloftControlPlane
package import Logging
package import NIOCore
import Synchronization

/// Bounds on the HTTP API's connections. Every connection counts against its peer (an IP address), welcomed or
/// not: the HTTP API checks tokens per request.
public struct HTTPConnectionLimits: Sendable, Hashable {
    /// Connections kept open at once; past it the server stops accepting until one closes (Hummingbird's
    /// `MaximumAvailableConnections`).
    public var total: Int
    /// Connections from one peer; more from it are closed as they arrive.
    public var perPeer: Int
    /// A connection that sends nothing for this long between requests (or before its first request's head is
    /// complete) is closed. A request being read or answered is never cut. `nil`: never.
    public var idleTimeout: Duration?

    public init(
        total: Int = max(16, ConnectionLimits.defaultTotal / 2),
        perPeer: Int = 256,
        idleTimeout: Duration? = .seconds(30)
    ) {
        self.total = total
        self.perPeer = perPeer
        self.idleTimeout = idleTimeout
    }
}

/// Counts the HTTP API's connections per peer against `HTTPConnectionLimits.perPeer` and closes those past it as
/// they arrive. (Hummingbird caps the total, not per peer.)
/// One is shared by every connection; each connection's pipeline gets a `handler()` of its own.
package final class HTTPConnectionGate: Sendable {
    private struct State {
        var peers: PeerCounts
        var refusals = RefusalLog()
    }

    private let limits: HTTPConnectionLimits
    private let logger: Logger
    private let state: Mutex<State>

    package init(limits: HTTPConnectionLimits, logger: Logger) {
        self.limits = limits
        self.logger = logger
        self.state = Mutex(State(peers: PeerCounts(limit: limits.perPeer)))
    }

    package func handler() -> Handler { Handler(gate: self) }

    /// Counts a connection from `peer` in; false when the peer has as many as it may (the refusal logged now and
    /// then).
    fileprivate func admit(_ peer: String) -> Bool {
        let (admitted, logRefusal, refused) = state.withLock { state in
            state.peers.admit(peer) ? (true, false, 0) : (false, state.refusals.count(), state.refusals.refused)
        }
        if logRefusal {
            logger.warning(
                "refused an HTTP connection: its peer has too many",
                metadata: [
                    "aloft.peer": "\(peer)", "aloft.per_peer": "\(limits.perPeer)", "aloft.refused": "\(refused)",
                ])
        }
        return admitted
    }

    fileprivate func release(_ peer: String) {
        state.withLock { $0.peers.release(peer) }
    }

    /// The gate in one connection's pipeline: counts it in when it is added, out when it is removed (the channel
    /// closed).
    package final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        package typealias InboundIn = NIOAny
        private let gate: HTTPConnectionGate
        private var peer: String?

        init(gate: HTTPConnectionGate) { self.gate = gate }

        package func handlerAdded(context: ChannelHandlerContext) {
            guard let peer = context.channel.remoteAddress?.ipAddress else { return }
            guard gate.admit(peer) else { return context.close(promise: nil) }
            self.peer = peer
        }

        package func handlerRemoved(context: ChannelHandlerContext) {
            guard let peer else { return }
            self.peer = nil
            gate.release(peer)
        }
    }
}
