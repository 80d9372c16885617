import AloftCore
import AloftWire
import Foundation
import CoreMetrics
import Logging
import NIOCore

// What happens at the end of each loop turn in which the scheduler handled events: the store gets the turn's
// changes as one batch, and every connection written to is flushed once.

extension Scheduler {
    /// Queues a frame; all frames queued while handling one event go out in one flush.
    func send(_ body: Aloft_V1_Envelope.OneOf_Body, requestID: UInt64 = 0, on channel: any WirePeer) {
        outbound.write(Aloft_V1_Envelope(requestID: requestID, body: body), on: channel)
        scheduleTurnEnd()
    }

    func sendError(_ error: AloftError, requestID: UInt64, on channel: any WirePeer) {
        var reply = Aloft_V1_ErrorReply()
        reply.code = error.code.rawValue
        reply.message = error.message
        send(.error(reply), requestID: requestID, on: channel)
    }

    func sendError(_ code: AloftError.Code, _ message: String, requestID: UInt64, on channel: any WirePeer) {
        sendError(AloftError(code, message), requestID: requestID, on: channel)
    }

    /// Queues an output of a map or generator for its caller.
    func push(_ output: Aloft_V1_Output, to call: CallRecord) {
        if let local = call.localSubscriber { return local(output) }
        outbound.push(output, to: call)
        scheduleTurnEnd()
    }

    func scheduleTurnEnd() {
        guard !turnEndScheduled else { return }
        turnEndScheduled = true
        loop.execute { self.endTurn() }
    }

    private func endTurn() {
        writeToStore()
        turnEndScheduled = false
        outbound.flush()
    }

    // MARK: The store

    /// Queues a change for the store, if there is one.
    func record(_ change: StoreChange) {
        guard configuration.store != nil else { return }
        storeBatch.add(change)
        scheduleTurnEnd()
    }

    /// Runs `action` once every change recorded so far is stored (at once when there is no store).
    func whenStored(_ action: @escaping @Sendable (Result<Void, any Error>) -> Void) {
        guard configuration.store != nil, storeBatch.wait(action) else {
            action(.success(()))
            return
        }
        scheduleTurnEnd()
    }

    /// Answers a request of the Dicts or Queues rooms: at once, or (`whenStored`) once what was recorded for it is
    /// stored, with `storeFailure` if that failed.
    func reply<Reply: Sendable>(
        _ reply: Reply, whenStored stored: Bool, respond: @escaping @Sendable (Result<Reply, AloftError>) -> Void
    ) {
        guard stored else { return respond(.success(reply)) }
        whenStored { result in
            switch result {
            case .success: respond(.success(reply))
            case .failure(let error):
                respond(.failure(AloftError(.storeFailure, "the change could not be stored: \(error)")))
            }
        }
    }

    /// Succeeds once everything recorded so far is stored.
    func storeDrained() -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        whenStored { _ in promise.succeed() }
        return promise.futureResult
    }

    private func writeToStore() {
        guard let store = configuration.store, let (batch, waiting) = storeBatch.startBatch() else { return }
        let written = loop.makePromise(of: Void.self)
        let began = loop.now
        written.completeWithTask { try await store.apply(batch) }
        written.futureResult.whenComplete { [self] result in
            metrics.storeWrite.recordNanoseconds((loop.now - began).recordable)
            if case .failure = result { metrics.storeFailures.increment() }
            let more = storeBatch.batchEnded()
            if case .failure(let error) = result {
                logger.error(
                    "the store failed to apply a batch",
                    metadata: ["aloft.changes": "\(batch.count)", "aloft.error": "\(error)"])
            }
            for action in waiting { action(result) }
            if more || storeBatch.hasPending { scheduleTurnEnd() }
        }
    }

    /// Whether calls of this kind are kept in the store: spawned calls (their results are fetched by id later) and
    /// detached ones (`spawnMap`). A map's or generator's results stream to a caller that is connected now.
    func isStored(_ kind: Aloft_V1_CallKind) -> Bool {
        configuration.store != nil && (kind == .spawn || kind == .detached)
    }

    var resultExpiry: Date { Date().addingTimeInterval(configuration.resultRetention.seconds) }
}
