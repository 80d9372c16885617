import AloftCore
import AloftWire
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A control plane address: `host:port`, or `unix:/path` for a Unix-domain socket on this host.
enum ControlPlaneEndpoint {
    case tcp(host: String, port: Int)
    case unix(path: String)

    init(_ address: String) throws {
        if address.hasPrefix("unix:") {
            self = .unix(path: String(address.dropFirst(5)))
            return
        }
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw AloftError(
                .invalidConfiguration, "control plane address '\(address)' is neither host:port nor unix:/path")
        }
        self = .tcp(host: String(address[..<colon]), port: port)
    }
}

/// One connection to the control plane: requests matched to replies by id, and pushes handed to `onPush`.
final class WireConnection: Sendable {
    let channel: any Channel
    /// What the runtime caches it under (the address, and the token's identity when there is one); pushed outputs
    /// are routed by it.
    let key: String
    private let core: Core
    /// The control plane's inline payload limit, from its hello reply.
    let maxPayloadBytes: Int

    private init(channel: any Channel, key: String, core: Core, maxPayloadBytes: Int) {
        self.channel = channel
        self.key = key
        self.core = core
        self.maxPayloadBytes = maxPayloadBytes
    }

    var isOpen: Bool { core.state.withLock { $0.closedError == nil } }

    static func connect(
        to address: String,
        group: any EventLoopGroup,
        role: Aloft_V1_Role,
        containerID: String = "",
        token: String? = nil,
        key: String? = nil,
        onPush: @escaping @Sendable (Aloft_V1_Envelope) -> Void,
        onClose: @escaping @Sendable () -> Void = {}
    ) async throws -> WireConnection {
        let endpoint = try ControlPlaneEndpoint(address)
        let core = Core(onPush: onPush, onClose: onClose)
        let channel: any Channel
        do {
            let bootstrap = ClientBootstrap(group: group)
                .channelOption(.socketOption(.so_sndbuf), value: SocketOptionValue(AloftLimits.socketSendBufferBytes))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addAloftFraming()
                        try channel.pipeline.syncOperations.addHandler(ClientHandler(core: core))
                    }
                }
            switch endpoint {
            case .tcp(let host, let port):
                channel = try await bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1).connect(
                    host: host, port: port
                ).get()
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch {
            throw AloftError(.connectionFailed, "could not connect to the control plane at \(address): \(error)")
        }
        var hello = Aloft_V1_Hello()
        hello.protocolVersion = AloftLimits.protocolVersion
        hello.role = role
        hello.containerID = containerID
        hello.token = token ?? ""
        let provisional = WireConnection(
            channel: channel, key: key ?? address, core: core, maxPayloadBytes: AloftLimits.defaultMaxPayloadBytes)
        let reply: Aloft_V1_HelloReply
        do {
            guard case .helloReply(let helloReply) = try await provisional.request(.hello(hello)) else {
                throw AloftError(.protocolError, "the control plane at \(address) did not answer hello")
            }
            reply = helloReply
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return WireConnection(
            channel: channel, key: key ?? address, core: core, maxPayloadBytes: Int(reply.maxPayloadBytes))
    }

    /// Sends a request and waits for its reply. An `ErrorReply` is thrown as the `AloftError` it names.
    func request(_ body: Aloft_V1_Envelope.OneOf_Body) async throws -> Aloft_V1_Envelope.OneOf_Body {
        let reply = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<Aloft_V1_Envelope, any Error>) in
            let id: UInt64? = core.state.withLock { state in
                if let error = state.closedError {
                    continuation.resume(throwing: error)
                    return nil
                }
                let id = state.nextRequestID
                state.nextRequestID += 1
                state.pending[id] = continuation
                return id
            }
            guard let id else { return }
            channel.writeAndFlush(Aloft_V1_Envelope(requestID: id, body: body), promise: nil)
        }
        if case .error(let error) = reply.body {
            throw AloftError(AloftError.Code(rawValue: error.code), error.message)
        }
        guard let body = reply.body else { throw AloftError(.protocolError, "empty reply from the control plane") }
        return body
    }

    /// Sends a message that has no reply.
    func send(_ body: Aloft_V1_Envelope.OneOf_Body) {
        channel.writeAndFlush(Aloft_V1_Envelope(requestID: 0, body: body), promise: nil)
    }

    final class Core: Sendable {
        struct State {
            var nextRequestID: UInt64 = 1
            var pending: [UInt64: CheckedContinuation<Aloft_V1_Envelope, any Error>] = [:]
            var closedError: AloftError?
        }
        let state = Mutex(State())
        let onPush: @Sendable (Aloft_V1_Envelope) -> Void
        let onClose: @Sendable () -> Void

        init(onPush: @escaping @Sendable (Aloft_V1_Envelope) -> Void, onClose: @escaping @Sendable () -> Void) {
            self.onPush = onPush
            self.onClose = onClose
        }

        func received(_ envelope: Aloft_V1_Envelope) {
            guard envelope.requestID != 0 else {
                onPush(envelope)
                return
            }
            let continuation = state.withLock { $0.pending.removeValue(forKey: envelope.requestID) }
            continuation?.resume(returning: envelope)
        }

        func closed(_ reason: String) {
            let error = AloftError(.connectionFailed, "the connection to the control plane closed: \(reason)")
            let pending = state.withLock { state -> [CheckedContinuation<Aloft_V1_Envelope, any Error>] in
                guard state.closedError == nil else { return [] }
                state.closedError = error
                defer { state.pending.removeAll() }
                return Array(state.pending.values)
            }
            for continuation in pending { continuation.resume(throwing: error) }
            onClose()
        }
    }

    private final class ClientHandler: ChannelInboundHandler {
        typealias InboundIn = Aloft_V1_Envelope
        let core: Core
        init(core: Core) { self.core = core }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            core.received(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            core.closed("the control plane went away")
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            core.closed("\(error)")
            context.close(promise: nil)
        }
    }
}
