import AloftCore
import AloftWire
import Foundation
import Logging
import Synchronization

/// The caller's side of one map: feeds inputs within the window, and hands results out in order.
final class MapDriver<
    Inputs: Sequence & SendableMetatype, Input: Codable & Sendable, Output: Codable & Sendable, Element
>: @unchecked Sendable
where Inputs.Element == Input {
    // Used by one iterating task at a time, like any iterator; only `results` is shared with the event loop.
    let stream: MapStream<Inputs, Input, Output, Element>
    private var inputIterator: Inputs.Iterator
    private var connection: WireConnection?
    private var callID = ""
    private var results: PushedOutputs?
    private var sent: UInt64 = 0
    private var consumed: UInt64 = 0
    private var nextIndex: UInt64 = 0
    private var inputsExhausted = false
    /// Inputs sent whose results the caller has not taken: sent again (those whose results had not arrived) on a
    /// new connection if the old one closes. At most `window` of them; kept only when the control plane is one to
    /// reconnect to (a server), so an embedded map pays nothing for it.
    private var unfinished: [UInt64: Data] = [:]
    private let keepsInputsForReconnect: Bool
    /// The window as the control plane allows it (its per-call bound on unanswered inputs), and the bytes of
    /// arguments in flight it allows; set once connected.
    private var window: Int
    private var byteBudget = Int.max
    /// Bytes of the arguments in flight of at least `Self.countedSize` (smaller ones are allowed for in
    /// `byteBudget`), by index; an input taken from `inputs` that did not fit the budget waits in `heldBack`.
    private var largeSizes: [UInt64: Int] = [:]
    private var inFlightBytes = 0
    private var heldBack: Aloft_V1_Input?
    private static var countedSize: Int { 1024 }
    /// The control plane was told that no more inputs follow.
    private var lastSent = false
    private var finished = false
    /// The line on a terminal's standard error, for a big map.
    private let progress: MapProgress?

    init(stream: MapStream<Inputs, Input, Output, Element>) {
        self.stream = stream
        self.inputIterator = stream.inputs.makeIterator()
        self.window = max(1, stream.window)
        self.keepsInputsForReconnect =
            AloftRuntime.shared.reconnectWindow(for: stream.function.app.controlPlane) > .zero
        self.progress = MapProgress(
            label: "map \(stream.function.name)", knownCount: stream.inputs.underestimatedCount)
    }

    func next() async throws -> Element? {
        guard !finished else { return nil }
        do {
            if connection == nil {
                guard try await start() else { return nil }
            }
            while true {
                try topUp()
                if allSent && consumed == sent {
                    finish()
                    return nil
                }
                let (taken, generation) = results!.take(ordered: stream.ordered, nextIndex: nextIndex)
                if let (index, result) = taken {
                    consumed += 1
                    if !largeSizes.isEmpty, let size = largeSizes.removeValue(forKey: index) { inFlightBytes -= size }
                    if keepsInputsForReconnect { unfinished[index] = nil }
                    if stream.ordered { nextIndex += 1 }
                    if let progress {
                        if inputsExhausted { progress.allSent(Int(sent)) }
                        progress.taken(failed: result.status != .success)
                    }
                    return try stream.transform(decode(result, index: index))
                }
                do {
                    try await results!.waitForArrival(after: generation)
                } catch let error as AloftError where error.code == .connectionFailed {
                    try await reconnect(after: error)
                }
            }
        } catch {
            finish()
            throw error
        }
    }

    private func decode(_ result: Aloft_V1_Result, index: UInt64) -> Result<Output, any Error> {
        Result { try Function<Input, Output>.decode(result, functionName: stream.function.name) }
    }

    /// Creates the call with the first inputs; false when there are no inputs at all.
    private func start() async throws -> Bool {
        var first = try takeInputs(upTo: 1, limit: AloftLimits.defaultMaxPayloadBytes)
        if first.isEmpty {
            finished = true
            return false
        }
        let (connection, functionID) = try await stream.function.connectAndRegister()
        try PayloadCodec.checkSize(
            first[0].data, limit: connection.maxPayloadBytes, what: "argument of '\(stream.function.name)'")
        window = min(window, connection.maxCallInputs)
        if connection.maxCallInputBytes < .max {
            byteBudget = max(connection.maxPayloadBytes, connection.maxCallInputBytes - window * Self.countedSize)
        }
        first += try takeInputs(upTo: window - 1, limit: connection.maxPayloadBytes)
        MapStatistics.record(inFlight: first.count)
        self.connection = connection
        lastSent = allSent
        (callID, results) = try await PushedOutputRouter.shared.createCall(
            on: connection, functionID: functionID, kind: .map, inputs: first, last: allSent)
        return true
    }

    /// Up to `count` more inputs, as many as fit the byte budget (at least one when none is in flight).
    private func takeInputs(upTo count: Int, limit: Int) throws -> [Aloft_V1_Input] {
        var chunk: [Aloft_V1_Input] = []
        while chunk.count < count {
            var wire: Aloft_V1_Input
            if let waiting = heldBack {
                wire = waiting
                heldBack = nil
            } else {
                guard !inputsExhausted, let input = inputIterator.next() else {
                    inputsExhausted = true
                    break
                }
                wire = Aloft_V1_Input()
                wire.index = sent
                wire.data = try stream.function.encodeInput(input, limit: limit)
                sent += 1
            }
            let size = wire.data.count
            if size >= Self.countedSize {
                guard inFlightBytes + size <= byteBudget || inFlightBytes == 0 else {
                    heldBack = wire  // sent once earlier inputs' results are taken
                    break
                }
                largeSizes[wire.index] = size
                inFlightBytes += size
            }
            if keepsInputsForReconnect { unfinished[wire.index] = wire.data }
            chunk.append(wire)
        }
        return chunk
    }

    /// Every input has been taken from `inputs` and sent.
    private var allSent: Bool { inputsExhausted && heldBack == nil }

    /// Sends more inputs once half the window (or half the byte budget) is free, so inputs go out in large batches.
    private func topUp() throws {
        guard !lastSent, let connection else { return }
        let inFlight = Int(sent - consumed) - (heldBack == nil ? 0 : 1)
        guard inFlight <= window / 2, inFlightBytes <= byteBudget / 2 else { return }
        var put = Aloft_V1_CallPutInputs()
        put.callID = callID
        put.inputs = try takeInputs(upTo: window - inFlight, limit: connection.maxPayloadBytes)
        MapStatistics.record(inFlight: Int(sent - consumed) - (heldBack == nil ? 0 : 1))
        put.last = allSent
        lastSent = allSent
        guard !put.inputs.isEmpty || put.last else { return }
        connection.send(.callPutInputs(put))
    }

    /// The connection closed mid-map (a server restart, say): reconnects within the provider's reconnect window and
    /// continues as a new call carrying the inputs whose results had not arrived. The old call's outputs are no longer
    /// routed once the new call exists, and only inputs without a result go again, so no result is received twice;
    /// inputs that were running may run again (at-least-once).
    private func reconnect(after error: AloftError) async throws {
        let window = AloftRuntime.shared.reconnectWindow(for: stream.function.app.controlPlane)
        guard keepsInputsForReconnect, let results else { throw error }
        let deadline = ContinuousClock.now + window
        var lastError = error
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            do {
                let (connection, functionID) = try await stream.function.connectAndRegister()
                let resend = unfinished.filter { !results.isBuffered($0.key) }.sorted { $0.key < $1.key }.map {
                    index, data in
                    var input = Aloft_V1_Input()
                    input.index = index
                    input.data = data
                    return input
                }
                PushedOutputRouter.shared.unregister(callID)
                results.clearFailure()
                self.connection = connection
                (callID, _) = try await PushedOutputRouter.shared.createCall(
                    on: connection, functionID: functionID, kind: .map, inputs: resend, last: lastSent, results: results
                )
                AloftRuntime.shared.logger.warning(
                    "a map reconnected after its connection closed",
                    metadata: [
                        "aloft.function": "\(stream.function.name)", "aloft.resent_inputs": "\(resend.count)",
                    ])
                return
            } catch let error as AloftError where error.code == .connectionFailed {
                lastError = error
            }
        }
        throw AloftError(.connectionFailed, "\(lastError.message) (no reconnect within \(window))")
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        progress?.end()
        if !callID.isEmpty { PushedOutputRouter.shared.unregister(callID) }
        if let connection, !lastSent || consumed < sent {
            // Abandoned early (a failure, or the caller stopped iterating): stop what has not started.
            var cancel = Aloft_V1_CallCancel()
            cancel.callID = callID
            connection.send(.callCancel(cancel))
        }
    }

    deinit { finish() }
}

/// The largest number of inputs any map in this process had in flight: lets tests check the window holds.
enum MapStatistics {
    private static let largestInFlight = Atomic<Int>(0)
    static func record(inFlight: Int) { _ = largestInFlight.max(inFlight, ordering: .relaxed) }
    static var maxInFlight: Int { largestInFlight.load(ordering: .relaxed) }
    static func reset() { largestInFlight.store(0, ordering: .relaxed) }
}
