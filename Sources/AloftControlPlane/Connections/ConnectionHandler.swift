import AloftWire
import Logging
import NIOCore

/// One connection to the control plane: a caller, a container, or a container calling other functions; in an
/// accepted socket's pipeline, or driven by an `InProcessConnection`.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Aloft_V1_Envelope

    let state: Scheduler
    var role: Aloft_V1_Role = .unspecified
    var containerID = ""
    /// The workspace its token belongs to (empty without an authenticator).
    var workspace = ""
    /// It sent its hello (which may still be being checked).
    var saidHello = false
    /// Frames that arrived while its hello was being checked (a client may send its first request in the same
    /// write): routed once it is welcomed, dropped if it is refused.
    private var heldUntilWelcome: [Aloft_V1_Envelope] = []
    /// More than this many frames before the hello is answered closes the connection.
    private static let maxHeldFrames = 16

    /// Its peer's address while it is counted against the peer's unwelcomed connections.
    var unwelcomedPeer: String?
    /// When it last sent a frame (for the idle timeout).
    var lastRead = NIODeadline.uptimeNanoseconds(0)

    /// The decoder's frame limit: small until the peer is welcomed.
    private let frameLimit: FrameLimit?

    init(state: Scheduler, frameLimit: FrameLimit? = nil) {
        self.state = state
        self.frameLimit = frameLimit
    }

    /// The peer the scheduler writes to: the channel's, made when it becomes active.
    private var channelPeer: ChannelPeer?

    func channelActive(context: ChannelHandlerContext) {
        defer { context.fireChannelActive() }
        let peer = ChannelPeer(context.channel)
        channelPeer = peer
        opened(peer)
    }

    /// Counts the connection in; a peer that is not welcomed within the hello timeout (silent, or its token never
    /// checked) is closed.
    func opened(_ peer: any WirePeer) {
        guard state.connectionOpened(self, channel: peer) else { return }
        let timeout = TimeAmount(state.configuration.connectionLimits.helloTimeout)
        state.loop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard role == .unspecified else { return }
            state.logUnwelcomed("closing connection that was not welcomed within the hello timeout", level: .info)
            peer.close()
        }
    }

    /// The peer is welcomed: frames up to the full limit from now on.
    func welcomed() {
        frameLimit?.bytes = WireFraming.defaultMaxFrameBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let channelPeer else { return }
        received(unwrapInboundIn(data), from: channelPeer)
    }

    /// A frame from the peer: held while its hello is checked, else routed.
    func received(_ envelope: Aloft_V1_Envelope, from peer: any WirePeer) {
        lastRead = state.loop.now
        if saidHello && role == .unspecified {
            guard heldUntilWelcome.count < Self.maxHeldFrames else {
                state.logUnwelcomed("closing connection that sent too much before its hello was answered")
                peer.close()
                return
            }
            heldUntilWelcome.append(envelope)
            return
        }
        guard !state.requiresHello(envelope, from: self) else {
            state.logUnwelcomed("closing connection that did not start with hello")
            peer.close()
            return
        }
        state.route(envelope, from: self, channel: peer)
    }

    /// The frames held while the hello was checked, to route now that it is welcomed.
    func takeHeldFrames() -> [Aloft_V1_Envelope] {
        defer { heldUntilWelcome = [] }
        return heldUntilWelcome
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let channelPeer { state.connectionClosed(self, channel: channelPeer) }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if role == .unspecified {
            state.logUnwelcomed(
                "closing connection that is not welcomed after error", metadata: ["aloft.error": "\(error)"])
        } else {
            state.logger.warning(
                "closing connection after error", metadata: ["aloft.error": "\(error)", "aloft.role": "\(role)"])
        }
        context.close(promise: nil)
    }
}
