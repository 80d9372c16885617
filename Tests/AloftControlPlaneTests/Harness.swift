import AloftCore
import AloftWire
import Foundation
import Logging
import NIOCore
import NIOEmbedded
import Synchronization

@testable import AloftControlPlane

/// The scheduler in-process: an `EmbeddedEventLoop` whose clock moves only when a test advances it, a fake
/// container runtime that records what it is asked to start, and peers whose connections are `EmbeddedChannel`s
/// with the control plane's own `ConnectionHandler`.
///
/// Everything runs on the test's thread; `loop.run()` (called by every helper that changes something) runs what
/// the scheduler queued for the end of the turn, so a helper's effects are visible when it returns.
final class Harness {
    let loop = EmbeddedEventLoop()
    let runtime = FakeRuntime()
    let scheduler: Scheduler

    init(_ configure: (inout ControlPlaneConfiguration) -> Void = { _ in }) {
        var configuration = ControlPlaneConfiguration(containerRuntime: runtime)
        configure(&configuration)
        var logger = Logger(label: "aloft.scheduler-tests")
        logger.logLevel = .critical
        scheduler = Scheduler(loop: loop, configuration: configuration, logger: logger)
        scheduler.address = "unix:/nowhere"
        scheduler.startReaper()
    }

    /// A client that said hello (from IP address `address`, if given).
    func client(from address: String? = nil) throws -> Peer {
        let peer = try Peer(harness: self, from: address)
        var hello = Aloft_V1_Hello()
        hello.protocolVersion = AloftLimits.protocolVersion
        hello.role = .client
        try peer.send(.hello(hello), requestID: 1)
        guard case .helloReply = try peer.next()?.body else { throw HarnessError("no hello reply") }
        return peer
    }

    /// Connects the container the runtime started `index`-th, which says hello.
    func connectContainer(_ index: Int) throws -> Peer {
        let peer = try Peer(harness: self)
        var hello = Aloft_V1_Hello()
        hello.protocolVersion = AloftLimits.protocolVersion
        hello.role = .container
        hello.containerID = runtime.started[index].spec.containerID
        try peer.send(.hello(hello), requestID: 1)
        guard case .helloReply = try peer.next()?.body else { throw HarnessError("no hello reply") }
        return peer
    }

    /// Registers function `name` of app `app` and returns its id.
    func register(
        _ name: String, app: String = "app", options: FunctionOptions = .init(), on client: Peer
    ) throws -> UInt64 {
        var register = Aloft_V1_FunctionRegister()
        register.appName = app
        register.functionName = name
        register.executable = "/fake/\(app)"
        register.options = Aloft_V1_FunctionOptions(options)
        register.isDefinition = true
        try client.send(.functionRegister(register), requestID: 2)
        guard case .functionRegistered(let reply) = try client.next()?.body else {
            throw HarnessError("not registered")
        }
        return reply.functionID
    }

    /// The process of the `index`-th container the runtime started exits with `status`.
    func exit(_ index: Int, status: Int32 = 1) {
        runtime.started[index].onExit(status)
        loop.run()
    }

    /// Moves the loop's clock, running every timer that comes due.
    func advance(by amount: TimeAmount) {
        loop.advanceTime(by: amount)
        loop.run()
    }

    /// The scheduler's containers of function pool `name`, by state.
    func containers(of name: String, app: String = "app") -> [ContainerRecord] {
        scheduler.registry.pool(forKey: FunctionRegistry.poolKey(workspace: "", app: app, pool: name))
            .map { Array($0.containers.values) } ?? []
    }
}

/// One connection to the scheduler.
final class Peer {
    let channel: EmbeddedChannel
    let handler: ConnectionHandler
    private let harness: Harness

    /// A connected peer; from IP address `address` if given, else over a Unix socket (no peer address).
    init(harness: Harness, from address: String? = nil) throws {
        self.harness = harness
        handler = ConnectionHandler(state: harness.scheduler)
        channel = EmbeddedChannel(handler: handler, loop: harness.loop)
        // An embedded channel's remote address is the one it connects to.
        let remote =
            try address.map { try SocketAddress(ipAddress: $0, port: 40_000) }
            ?? SocketAddress(unixDomainSocketPath: "/nowhere/aloft.sock")
        try channel.connect(to: remote).wait()
    }

    func send(_ body: Aloft_V1_Envelope.OneOf_Body, requestID: UInt64 = 0) throws {
        try channel.writeInbound(Aloft_V1_Envelope(requestID: requestID, body: body))
        harness.loop.run()
    }

    /// Frames read from the channel's outbound bytes and not handed out yet.
    private var decoded: [Aloft_V1_Envelope] = []

    /// The next frame the scheduler sent this peer, if any (the scheduler writes frames as bytes, several to a
    /// buffer, as to a socket).
    func next() throws -> Aloft_V1_Envelope? {
        harness.loop.run()
        while var bytes = try channel.readOutbound(as: ByteBuffer.self) {
            while let length = bytes.readInteger(as: UInt32.self) {
                guard let body = bytes.readSlice(length: Int(length)) else { throw HarnessError("a frame was cut") }
                decoded.append(try body.withUnsafeReadableBytes { try Aloft_V1_Envelope(frameBody: $0) })
            }
        }
        return decoded.isEmpty ? nil : decoded.removeFirst()
    }

    /// Every frame the scheduler sent this peer since the last read.
    func received() throws -> [Aloft_V1_Envelope] {
        var frames: [Aloft_V1_Envelope] = []
        while let frame = try next() { frames.append(frame) }
        return frames
    }

    /// The inputs dispatched to this (container) peer since the last read (other frames are dropped).
    func dispatched() throws -> [Aloft_V1_InputDispatch] {
        try received().compactMap { if case .inputDispatch(let dispatch) = $0.body { dispatch } else { nil } }
    }

    /// Answers input `inputID` with `result`.
    func answer(_ inputID: UInt64, _ result: Aloft_V1_Result) throws {
        var output = Aloft_V1_OutputPut()
        output.inputID = inputID
        output.result = result
        try send(.outputPut(output))
    }

    /// Calls function `functionID` with `text` as `.remote` does (the reply names `requestID`).
    func invoke(_ functionID: UInt64, _ text: String, requestID: UInt64 = 10, callID: String = "") throws {
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = functionID
        invoke.data = Data(text.utf8)
        invoke.callID = callID
        try send(.functionInvoke(invoke), requestID: requestID)
    }

    /// Creates call `callID` of function `functionID` with one input per payload (indexed in order), as `.spawn`,
    /// a map or a generator does; `last: false` leaves room for more inputs.
    func create(
        _ functionID: UInt64, kind: Aloft_V1_CallKind, callID: String, inputs: [Data], last: Bool = true,
        requestID: UInt64 = 12
    ) throws {
        var create = Aloft_V1_CallCreate()
        create.functionID = functionID
        create.kind = kind
        create.callID = callID
        create.last = last
        create.inputs = inputs.enumerated().map { index, data in
            var input = Aloft_V1_Input()
            input.index = UInt64(index)
            input.data = data
            return input
        }
        try send(.callCreate(create), requestID: requestID)
    }

    func close() throws {
        try channel.close().wait()
        harness.loop.run()
    }
}

/// A container runtime that starts nothing: it records each spec and hands out handles whose signals are
/// recorded; a test ends a container's "process" with `exit`.
final class FakeRuntime: ContainerRuntime, @unchecked Sendable {
    struct Started {
        let spec: ContainerSpec
        let handle: FakeHandle
        let onExit: @Sendable (Int32) -> Void
    }

    private let state = Mutex<(started: [Started], failures: Int)>(([], 0))
    var started: [Started] { state.withLock { $0.started } }

    /// The next `count` starts throw (as a failed `fork` would).
    func failNextStarts(_ count: Int) {
        state.withLock { $0.failures = count }
    }

    func start(_ spec: ContainerSpec, onExit: @escaping @Sendable (Int32) -> Void) throws -> any ContainerHandle {
        try state.withLock { state in
            if state.failures > 0 {
                state.failures -= 1
                throw HarnessError("no processes left")
            }
            let handle = FakeHandle()
            state.started.append(Started(spec: spec, handle: handle, onExit: onExit))
            return handle
        }
    }

}

final class FakeHandle: ContainerHandle, @unchecked Sendable {
    private let signals = Mutex<(terminated: Bool, killed: Bool)>((false, false))
    private let memoryKill = Mutex(false)
    var processID: Int32? { nil }
    /// Set by a test before `exit`: the kernel killed it at its memory limit.
    var wasKilledAtMemoryLimit: Bool {
        get { memoryKill.withLock { $0 } }
        set { memoryKill.withLock { $0 = newValue } }
    }
    var wasKilled: Bool { signals.withLock { $0.killed } }
    func terminate() { signals.withLock { $0.terminated = true } }
    func kill() { signals.withLock { $0.killed = true } }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Aloft_V1_Envelope {
    /// The result of an `InvokeResult`, if this is one.
    var invokeResult: Aloft_V1_Result? {
        if case .invokeResult(let reply) = body { reply.result } else { nil }
    }
}
