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
    /// Its hello is being checked: nothing else is accepted until it is answered.
    var saidHello = false

    init(state: Scheduler) {
        self.state = state
    }

    func handlerAdded(context: ChannelHandlerContext) {
        state.connectionOpened(context.channel)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard !state.requiresHello(envelope, from: self) else {
            state.logger.warning("closing connection that did not start with hello")
            context.close(promise: nil)
            return
        }
        state.route(envelope, from: self, channel: context.channel)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.connectionClosed(self, channel: context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state.logger.warning(
            "closing connection after error", metadata: ["aloft.error": "\(error)", "aloft.role": "\(role)"])
        context.close(promise: nil)
    }
}
