package import AloftWire
import NIOCore

/// A connection from a caller in this process (the SDK beside an embedded control plane): its envelopes reach the
/// scheduler, and the scheduler's reach it, as they are, on the scheduler's event loop: no encoding, no framing, no
/// socket. Everything else is a wire connection's: the hello, the routing, the turn's flush, the close.
///
/// The frame limits of a socket do not apply (nothing is decoded); the payload limits do, where the scheduler
/// checks them for every connection.
package final class InProcessConnection: WirePeer, @unchecked Sendable {
    private let scheduler: Scheduler
    private let handler: ConnectionHandler
    private let deliver: @Sendable (Aloft_V1_Envelope) -> Void
    private let onClose: @Sendable () -> Void
    // On the scheduler's loop only (hence @unchecked):
    private var unflushed: [Aloft_V1_Envelope] = []
    private var isClosed = false

    init(
        scheduler: Scheduler, deliver: @escaping @Sendable (Aloft_V1_Envelope) -> Void,
        onClose: @escaping @Sendable () -> Void
    ) {
        self.scheduler = scheduler
        self.handler = ConnectionHandler(state: scheduler)
        self.deliver = deliver
        self.onClose = onClose
    }

    /// Counts it in as an accepted connection is; on the loop. A scheduler that is shutting down takes none (its
    /// listeners are closing; a connection counted in after its last close would wait on it forever).
    func open() {
        scheduler.loop.assertInEventLoop()
        guard scheduler.isRunning else {
            isClosed = true
            onClose()
            return
        }
        handler.opened(self)
    }

    /// The caller sends a frame (from any thread; it is handled on the loop, in order).
    package func send(_ envelope: Aloft_V1_Envelope) {
        scheduler.loop.execute { [self] in
            guard !isClosed else { return }
            handler.received(envelope, from: self)
        }
    }

    /// The caller closes the connection (from any thread).
    package func closeFromCaller() {
        scheduler.loop.execute { self.close() }
    }

    // MARK: WirePeer, on the loop

    func write(_ envelope: Aloft_V1_Envelope) {
        guard !isClosed else { return }
        unflushed.append(envelope)
    }

    func flush() {
        guard !unflushed.isEmpty else { return }
        let frames = unflushed
        unflushed.removeAll(keepingCapacity: true)
        for frame in frames { deliver(frame) }
    }

    /// Closes it; frames not flushed are dropped, as a socket's are. The scheduler hears of it on the next turn,
    /// as of a socket's close, never inside the call that closed it; the caller right after (so that a caller that
    /// reconnects at once finds the old connection counted out).
    func close() {
        guard !isClosed else { return }
        isClosed = true
        unflushed.removeAll()
        scheduler.loop.execute { [self] in
            scheduler.connectionClosed(handler, channel: self)
            onClose()
        }
    }

    var peerIPAddress: String? { nil }
    var isWritable: Bool { true }
}
