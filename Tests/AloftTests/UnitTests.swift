import AloftCore
import AloftWire
import Foundation
import NIOCore
import NIOEmbedded
import Testing

@Suite("Options")
struct OptionsTests {
    @Test("Modal's limits are enforced")
    func validation() throws {
        #expect(throws: Never.self) { try FunctionOptions().validate() }
        #expect(FunctionOptions().timeout == .seconds(300))
        for bad in [
            FunctionOptions(timeout: .milliseconds(500)),
            FunctionOptions(timeout: .seconds(86_401)),
            FunctionOptions(maxInputs: 0),
            FunctionOptions(maxInputs: 2, targetInputs: 3),
            FunctionOptions(minContainers: 3, maxContainers: 2),
            FunctionOptions(scaledownWindow: .zero),
            FunctionOptions(retries: Retries(maxRetries: 11)),
            FunctionOptions(retries: Retries(maxRetries: 1, backoffCoefficient: 0.5)),
            FunctionOptions(cpu: 0),
            FunctionOptions(cpu: .init(request: 1, limit: 0.5)),
            FunctionOptions(cpu: 65),
            FunctionOptions(memory: 0),
            FunctionOptions(memory: .init(request: 256, limit: 128)),
            FunctionOptions(ephemeralDisk: 0),
            FunctionOptions(gpu: "H100:0"),
            FunctionOptions(gpu: "H100:9"),
            FunctionOptions(gpu: ":2"),
            FunctionOptions(gpu: "H100:two"),
            FunctionOptions(gpu: []),
        ] {
            #expect(throws: AloftError.self) { try bad.validate() }
        }
        #expect(FunctionOptions().cpu == .init(request: 0.125) && FunctionOptions().memory == .init(request: 128))
        #expect(throws: Never.self) { try FunctionOptions(cpu: .init(request: 0.5, limit: 0.5), memory: 64).validate() }
        let gpu: FunctionOptions.GPU = ["H100:2", "A100-80GB"]
        #expect(gpu.choices == [.init(type: "H100", count: 2), .init(type: "A100-80GB", count: 1)])
        #expect(throws: Never.self) { try FunctionOptions(gpu: gpu).validate() }
        // A request takes its type, any variant of it as nvidia-smi names one, or (for `any`) every type.
        #expect(gpu.choices[0].accepts("h100") && gpu.choices[0].accepts("H100-80GB-HBM3"))
        #expect(!gpu.choices[0].accepts("H1000") && !gpu.choices[1].accepts("A100-40GB"))
        #expect(FunctionOptions.GPU("any").choices[0].accepts("T4"))
        #expect(Retries.count(3) == Retries(maxRetries: 3, backoffCoefficient: 1, initialDelay: .seconds(1)))
    }
}

@Suite("Wire framing")
struct WireFramingTests {
    func envelope() -> Aloft_V1_Envelope {
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = 7
        invoke.data = Data("[1,2,3]".utf8)
        return Aloft_V1_Envelope(requestID: 42, body: .functionInvoke(invoke))
    }

    @Test("a frame split across reads decodes to the same envelope")
    func roundTrip() throws {
        let writer = EmbeddedChannel()
        try writer.pipeline.syncOperations.addAloftFraming()
        try writer.writeOutbound(envelope())
        var bytes = try #require(try writer.readOutbound(as: ByteBuffer.self))
        #expect(bytes.getInteger(at: bytes.readerIndex, as: UInt32.self) == UInt32(bytes.readableBytes - 4))

        let reader = EmbeddedChannel()
        try reader.pipeline.syncOperations.addAloftFraming()
        let firstHalf = bytes.readSlice(length: bytes.readableBytes / 2)!
        try reader.writeInbound(firstHalf)
        #expect(try reader.readInbound(as: Aloft_V1_Envelope.self) == nil)
        try reader.writeInbound(bytes)
        #expect(try reader.readInbound(as: Aloft_V1_Envelope.self) == envelope())
    }

    @Test("a frame longer than the limit is refused")
    func oversizedFrame() throws {
        let reader = EmbeddedChannel()
        try reader.pipeline.syncOperations.addAloftFraming(maxFrameBytes: 16)
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(1000))
        buffer.writeBytes([UInt8](repeating: 0, count: 20))
        #expect(throws: WireError.self) { try reader.writeInbound(buffer) }
    }

    @Test("results map to AloftError codes")
    func resultMapping() {
        let timeout = Aloft_V1_Result.failure(.timeout, AloftError(.timeout, "slow"))
        #expect(timeout.aloftError.code == .timeout)
        let died = Aloft_V1_Result.failure(.internalFailure, AloftError(.internalFailure, "gone"))
        #expect(died.aloftError.code == .internalFailure)
        let bad = Aloft_V1_Result.failure(.failure, AloftError(.invalidArgument, "bad"))
        #expect(bad.aloftError.code == .invalidArgument)
        #expect(bad.aloftError.message == "bad")
    }
}
