import AloftWire
import Logging
import NIOCore

/// One connection to the control plane: a caller, a container, or a container calling other functions.
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

    func channelActive(context: ChannelHandlerContext) {
        defer { context.fireChannelActive() }
        guard state.connectionOpened(self, channel: context.channel) else { return }
        // A peer that is not welcomed within the hello timeout (silent, or its token never checked) is closed.
        let channel = context.channel
        let timeout = TimeAmount(state.configuration.connectionLimits.helloTimeout)
        context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            guard role == .unspecified else { return }
            state.logUnwelcomed("closing connection that was not welcomed within the hello timeout", level: .info)
            channel.close(promise: nil)
        }
    }

    /// The peer is welcomed: frames up to the full limit from now on.
    func welcomed() {
        frameLimit?.bytes = WireFraming.defaultMaxFrameBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        lastRead = context.eventLoop.now
        if saidHello && role == .unspecified {
            guard heldUntilWelcome.count < Self.maxHeldFrames else {
                state.logUnwelcomed("closing connection that sent too much before its hello was answered")
                context.close(promise: nil)
                return
            }
            heldUntilWelcome.append(envelope)
            return
        }
        guard !state.requiresHello(envelope, from: self) else {
            state.logUnwelcomed("closing connection that did not start with hello")
            context.close(promise: nil)
            return
        }
        state.route(envelope, from: self, channel: context.channel)
    }

    /// The frames held while the hello was checked, to route now that it is welcomed.
    func takeHeldFrames() -> [Aloft_V1_Envelope] {
        defer { heldUntilWelcome = [] }
        return heldUntilWelcome
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.connectionClosed(self, channel: context.channel)
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
