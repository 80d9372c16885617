import AloftWire
import NIOCore

/// The far end of a wire connection, as the scheduler writes to it: an accepted socket (`ChannelPeer`), or a caller
/// in this process (`InProcessConnection`), which is handed its envelopes as they are, without encoding or a socket.
///
/// Used on the scheduler's event loop only. Its identity (`ObjectIdentifier`) is the connection's.
protocol WirePeer: AnyObject, Sendable {
    /// Queues a frame; it goes out at the next `flush()`.
    func write(_ envelope: Aloft_V1_Envelope)
    func flush()
    /// Closes the connection; the scheduler hears of it as of any close (`connectionClosed`).
    func close()
    /// The peer's IP address, which the caps on connections not yet welcomed count by; nil for a Unix socket and a
    /// caller in this process.
    var peerIPAddress: String? { get }
    /// False while the peer's buffers are full (a reader that stopped reading).
    var isWritable: Bool { get }
}

extension WirePeer {
    func writeAndFlush(_ envelope: Aloft_V1_Envelope) {
        write(envelope)
        flush()
    }
}

/// A connection accepted on a socket: frames go through its channel's pipeline (the framing's encoder).
final class ChannelPeer: WirePeer {
    let channel: any Channel

    init(_ channel: any Channel) {
        self.channel = channel
    }

    func write(_ envelope: Aloft_V1_Envelope) { channel.write(envelope, promise: nil) }
    func flush() { channel.flush() }
    func close() { channel.close(promise: nil) }
    var peerIPAddress: String? { channel.remoteAddress?.ipAddress }
    var isWritable: Bool { channel.isWritable }
}
