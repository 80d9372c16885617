import AloftCore
import AloftWire
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One connection to the control plane: requests matched to replies by id, and pushes handed to `onPush`.
final class WireConnection: Sendable {
    private let transport: Transport
    /// What the runtime caches it under (the address, and the token's identity when there is one); pushed outputs
    /// are routed by it.
    let key: String
    private let core: Core
    /// The control plane's inline payload limit, from its hello reply.
    let maxPayloadBytes: Int
    /// The most unanswered inputs, and bytes of their arguments, one map call may have there (`Int.max`: no bound
    /// named); a map keeps its window under them.
    let maxCallInputs: Int
    let maxCallInputBytes: Int
    /// Unique in this process (an object's address may be reused once it is freed): what ids learned on this
    /// connection, such as a function's, are cached under.
    let serial = WireConnection.nextSerial.add(1, ordering: .relaxed).newValue
    private static let nextSerial = Atomic<UInt64>(0)

    /// How frames reach the control plane.
    private enum Transport: Sendable {
        /// A socket, through the channel's pipeline (the framing's encoder).
        case channel(any Channel)
        /// A control plane in this process, handed each envelope as it is.
        case inProcess(any InProcessLink)

        func send(_ envelope: Aloft_V1_Envelope) {
            switch self {
            case .channel(let channel): channel.writeAndFlush(envelope, promise: nil)
            case .inProcess(let link): link.send(envelope)
            }
        }

        func close() {
            switch self {
            case .channel(let channel): channel.close(promise: nil)
            case .inProcess(let link): link.closeFromCaller()
            }
        }
    }

    private init(transport: Transport, key: String, core: Core, reply: Aloft_V1_HelloReply?) {
        self.transport = transport
        self.key = key
        self.core = core
        self.maxPayloadBytes = reply.map { Int($0.maxPayloadBytes) } ?? AloftLimits.defaultMaxPayloadBytes
        let inputs = Int(reply?.maxCallInputs ?? 0)
        let bytes = Int(clamping: reply?.maxCallInputBytes ?? 0)
        self.maxCallInputs = inputs > 0 ? inputs : .max
        self.maxCallInputBytes = bytes > 0 ? bytes : .max
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
        let endpoint = try WireEndpoint(address)
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
        return try await handshake(
            transport: .channel(channel), core: core, address: address, key: key ?? address,
            hello: Aloft_V1_Hello(role: role, containerID: containerID, token: token ?? ""))
    }

    /// Connects to a control plane in this process (`InProcessControlPlane`): the same protocol, hello first, with
    /// no socket between.
    static func connect(
        inProcess controlPlane: any InProcessControlPlane,
        token: String?,
        key: String,
        onPush: @escaping @Sendable (Aloft_V1_Envelope) -> Void,
        onClose: @escaping @Sendable () -> Void = {}
    ) async throws -> WireConnection {
        let core = Core(onPush: onPush, onClose: onClose)
        let link = try await controlPlane.connectInProcess(
            deliver: { core.received($0) }, onClose: { core.closed("the control plane closed it") })
        return try await handshake(
            transport: .inProcess(link), core: core, address: "this process", key: key,
            hello: Aloft_V1_Hello(role: .client, token: token ?? ""))
    }

    private static func handshake(
        transport: Transport, core: Core, address: String, key: String, hello: Aloft_V1_Hello
    ) async throws -> WireConnection {
        let provisional = WireConnection(transport: transport, key: key, core: core, reply: nil)
        let reply: Aloft_V1_HelloReply
        do {
            guard case .helloReply(let helloReply) = try await provisional.request(.hello(hello)) else {
                throw AloftError(.protocolError, "the control plane at \(address) did not answer hello")
            }
            reply = helloReply
        } catch {
            transport.close()
            throw error
        }
        return WireConnection(transport: transport, key: key, core: core, reply: reply)
    }

    /// Sends a request and waits for its reply. An `ErrorReply` is thrown as the `AloftError` it names; a cancelled
    /// task stops waiting at once (with `CancellationError`; a late reply is dropped).
    func request(_ body: Aloft_V1_Envelope.OneOf_Body) async throws -> Aloft_V1_Envelope.OneOf_Body {
        let id = core.state.withLock { state in
            defer { state.nextRequestID += 1 }
            return state.nextRequestID
        }
        let reply = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<Aloft_V1_Envelope, any Error>) in
                let failure: (any Error)? = core.state.withLock { state in
                    if let error = state.closedError { return error }
                    if Task.isCancelled { return CancellationError() }
                    state.pending[id] = continuation
                    return nil
                }
                if let failure { return continuation.resume(throwing: failure) }
                transport.send(Aloft_V1_Envelope(requestID: id, body: body))
            }
        } onCancel: {
            core.state.withLock { $0.pending.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
        return try reply.replyBody()
    }

    /// Sends a message that has no reply.
    func send(_ body: Aloft_V1_Envelope.OneOf_Body) {
        transport.send(Aloft_V1_Envelope(requestID: 0, body: body))
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
