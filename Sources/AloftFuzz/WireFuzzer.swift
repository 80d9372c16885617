import AloftControlPlane
import AloftWire
import Logging
import NIOCore
import NIOEmbedded
import SwiftProtobuf

/// One fuzz input is what a peer sends on one wire connection: `run` feeds it to a fresh control plane through the
/// pipeline an accepted socket gets (framing with the pre-welcome frame limit, then the connection handler), on an
/// embedded event loop, and checks what must hold whatever the bytes are:
/// - nothing traps (a Swift runtime trap or a sanitizer report is what libFuzzer catches);
/// - every frame the decoder accepts re-encodes to an envelope that decodes equal to it;
/// - once the connection is closed, the control plane counts no connection of it.
///
/// The input's first byte says how the rest is cut into writes (whole, in halves, in thirds, or in pieces of up
/// to 64 bytes), so that frames split across reads are fuzzed too.
enum WireFuzzer {
    static func run(_ input: [UInt8]) {
        checkFrames(input)
        let loop = EmbeddedEventLoop()
        defer { try? loop.syncShutdownGracefully() }
        var logger = Logger(label: "aloft.fuzz")
        logger.logLevel = .critical
        let plane = DetachedControlPlane(
            loop: loop, configuration: ControlPlaneConfiguration(containerRuntime: NoContainers()), logger: logger)
        let channel = EmbeddedChannel(loop: loop)
        do {
            try plane.installConnectionPipeline(on: channel)
            try channel.connect(to: SocketAddress(unixDomainSocketPath: "/detached/aloft.sock")).wait()
        } catch {
            fatalError("the fuzzer's channel could not be set up: \(error)")
        }
        for chunk in chunks(of: input) where channel.isActive {
            // Errors are the connection handler's to handle (it closes the connection); one that reaches the end
            // of the pipeline ends this input.
            guard (try? channel.writeInbound(ByteBuffer(bytes: chunk))) != nil else { break }
            loop.run()
            while (try? channel.readOutbound(as: ByteBuffer.self)) ?? nil != nil {}
        }
        // Past the hello timeout and a few reaper rounds, then the peer goes away.
        loop.advanceTime(by: .seconds(12))
        _ = try? channel.close().wait()
        loop.run()
        precondition(plane.openConnections == 0, "a closed connection is still counted")
    }

    /// The decoder alone, with the full frame limit: each envelope it yields survives a round trip.
    private static func checkFrames(_ input: [UInt8]) {
        let channel = EmbeddedChannel()
        defer { _ = try? channel.finish() }
        guard (try? channel.pipeline.syncOperations.addAloftFraming()) != nil,
            (try? channel.writeInbound(ByteBuffer(bytes: input.dropFirst()))) != nil
        else { return }
        while let envelope = (try? channel.readInbound(as: Aloft_V1_Envelope.self)) ?? nil {
            guard let bytes: [UInt8] = try? envelope.serializedBytes(),
                let again = try? Aloft_V1_Envelope(serializedBytes: bytes)
            else { preconditionFailure("a decoded envelope does not re-encode: \(envelope)") }
            precondition(again == envelope, "an envelope changed in a round trip: \(envelope) became \(again)")
        }
    }

    private static func chunks(of input: [UInt8]) -> [ArraySlice<UInt8>] {
        guard let cut = input.first else { return [] }
        let body = input.dropFirst()
        let size: Int
        switch cut % 4 {
        case 0: size = max(body.count, 1)
        case 1: size = max((body.count + 1) / 2, 1)
        case 2: size = max((body.count + 2) / 3, 1)
        default: size = Int(cut >> 2) + 1
        }
        return stride(from: body.startIndex, to: body.endIndex, by: size).map {
            body[$0..<min($0 + size, body.endIndex)]
        }
    }
}

/// A runtime whose containers never start: what the fuzzed peer asks for is recorded by the scheduler only.
private struct NoContainers: ContainerRuntime {
    func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (Int32) -> Void) throws -> any ContainerHandle {
        Silent()
    }

    private struct Silent: ContainerHandle {
        var processID: Int32? { nil }
        func terminate() {}
        func kill() {}
    }
}
