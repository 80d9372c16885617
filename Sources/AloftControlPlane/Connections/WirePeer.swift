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

/// A connection accepted on a socket. The frames written in a turn are encoded into one buffer, written to the
/// channel at the flush: one trip through the pipeline and one buffer per turn, not per frame. Loop only.
final class ChannelPeer: WirePeer, @unchecked Sendable {
    let channel: any Channel
    private var unflushed: ByteBuffer?

    init(_ channel: any Channel) {
        self.channel = channel
    }

    func write(_ envelope: Aloft_V1_Envelope) {
        var buffer = unflushed ?? channel.allocator.buffer(capacity: 256)
        unflushed = nil  // the buffer is uniquely referenced while it grows
        do {
            try buffer.writeFrame(envelope)
        } catch {
            // Only a message that cannot be serialized at all (never one the scheduler builds): the peer would wait
            // for it forever, so the connection ends.
            channel.pipeline.fireErrorCaught(error)
            close()
        }
        unflushed = buffer
    }

    func flush() {
        guard let buffer = unflushed else { return }
        unflushed = nil
        channel.writeAndFlush(buffer, promise: nil)
    }

    func close() { channel.close(promise: nil) }
    var peerIPAddress: String? { channel.remoteAddress?.ipAddress }
    var isWritable: Bool { channel.isWritable }
}
