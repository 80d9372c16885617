import AloftWire
import NIOCore

/// Frames written while the scheduler handles events, flushed once per loop turn: replies, dispatches and pushes
/// to many connections cost one `flush` (one system call) per connection per turn.
///
/// Outputs of a map or generator gathered in one turn go to their caller as one `CallOutputs`.
final class OutboundFrames {
    private var channelsToFlush: [ObjectIdentifier: any WirePeer] = [:]
    private var outputsToPush: [String: (call: CallRecord, outputs: [Aloft_V1_Output])] = [:]

    /// Writes a frame; it goes out at the flush.
    func write(_ envelope: Aloft_V1_Envelope, on channel: any WirePeer) {
        channel.write(envelope)
        channelsToFlush[ObjectIdentifier(channel)] = channel
    }

    /// Queues an output for the caller of `call`, if it still has one at the flush.
    func push(_ output: Aloft_V1_Output, to call: CallRecord) {
        outputsToPush[call.id, default: (call, [])].outputs.append(output)
    }

    /// Writes the queued outputs and flushes every connection written to since the last flush.
    func flush() {
        let pushes = outputsToPush
        outputsToPush.removeAll(keepingCapacity: true)
        for (callID, push) in pushes {
            guard let subscriber = push.call.subscriber else { continue }
            var outputs = Aloft_V1_CallOutputs()
            outputs.callID = callID
            outputs.outputs = push.outputs
            write(Aloft_V1_Envelope(requestID: 0, body: .callOutputs(outputs)), on: subscriber)
        }
        let channels = channelsToFlush
        channelsToFlush.removeAll(keepingCapacity: true)
        for channel in channels.values { channel.flush() }
    }
}
