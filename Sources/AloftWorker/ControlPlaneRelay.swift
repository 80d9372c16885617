import AloftControlPlane
import AloftWire
import AloftCore
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// A Unix socket on this worker host that relays each connection to the server's wire address: the one way out of
/// a box without a network (`blockNetwork`), which cannot dial the server over TCP. Bytes pass through unread;
/// every connection still says hello with its container's token to the server itself.
final class ControlPlaneRelay: Sendable {
    /// The socket the boxes reach (bound into each at `/run/aloft/control.sock`).
    let path: String
    private let server: WireEndpoint
    private let listener: Mutex<(any Channel)?> = Mutex(nil)

    init(path: String, server: WireEndpoint) {
        self.path = path
        self.server = server
    }

    /// Listens on `path` (the worker's `run` calls it once, before any container starts).
    func start() async throws {
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try? FileManager.default.removeItem(atPath: path)
        let server = self.server
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in Self.relay(inbound, to: server) }
            .bind(unixDomainSocketPath: path).get()
        // Boxed containers run as uids of their own; the socket's directory stays the worker's.
        _ = chmod(path, 0o666)
        let previous = listener.withLock { current in
            defer { current = channel }
            return current
        }
        try? await previous?.close()
    }

    func stop() async {
        let channel = listener.withLock { current -> (any Channel)? in
            defer { current = nil }
            return current
        }
        try? await channel?.close()
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Connects `inbound` to the server and glues the two together; `inbound` reads once the server answers.
    private static func relay(_ inbound: any Channel, to server: WireEndpoint) -> EventLoopFuture<Void> {
        let bootstrap = ClientBootstrap(group: inbound.eventLoop).channelOption(.autoRead, value: false)
        let connecting: EventLoopFuture<any Channel> =
            switch server {
            case .tcp(let host, let port):
                bootstrap.channelOption(.tcpOption(.tcp_nodelay), value: 1).connect(host: host, port: port)
            case .unix(let socket):
                bootstrap.connect(unixDomainSocketPath: socket)
            }
        return connecting.flatMap { outbound in
            let (toServer, toContainer) = Glue.pair()
            do {
                try inbound.pipeline.syncOperations.addHandler(toServer)
                try outbound.pipeline.syncOperations.addHandler(toContainer)
            } catch {
                return inbound.eventLoop.makeFailedFuture(error).always { _ in outbound.close(promise: nil) }
            }
            // Both read from now on, each as far as its partner can take it (Glue holds back their reads).
            return inbound.setOption(.autoRead, value: true).and(outbound.setOption(.autoRead, value: true))
                .map { _ in }
                .flatMapErrorThrowing { error in
                    outbound.close(promise: nil)
                    throw error
                }
        }.flatMapErrorThrowing { error in
            inbound.close(promise: nil)
            throw error
        }
    }
}

/// One side of a relayed connection: what it reads is written to its partner's channel; it reads more only while
/// the partner can take it, and a close of either closes both.
private final class Glue: ChannelDuplexHandler {
    typealias InboundIn = NIOAny
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var partner: Glue?
    private var context: ChannelHandlerContext?
    private var pendingRead = false

    static func pair() -> (Glue, Glue) {
        let first = Glue()
        let second = Glue()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { partner?.context?.write(data, promise: nil) }

    func channelReadComplete(context: ChannelHandlerContext) { partner?.context?.flush() }

    /// The other side closes once what was read before is written (writes are done in order).
    func channelInactive(context: ChannelHandlerContext) {
        guard let other = partner?.context else { return }
        let channel = other.channel
        other.writeAndFlush(NIOAny(ByteBuffer())).whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.resumeReading() }
    }

    func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }

    private func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }
}
