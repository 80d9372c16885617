import Foundation
public import NIOCore
import SwiftProtobuf

/// A frame is a 4-byte big-endian length, then that many bytes of one serialized `Aloft_V1_Envelope`.
public enum WireFraming {
    /// Frames larger than this are refused. The payload limit is checked earlier, with a clearer error,
    /// by the sender; this bound only protects the reader from a corrupt or hostile length.
    public static let defaultMaxFrameBytes = 64 * 1024 * 1024
}

/// The largest frame a connection's decoder accepts now; a control plane raises it once the peer is welcomed.
/// Used on the connection's event loop only.
public final class FrameLimit {
    public var bytes: Int

    public init(bytes: Int) {
        self.bytes = bytes
    }
}

public struct EnvelopeDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Aloft_V1_Envelope
    let limit: FrameLimit

    public init(maxFrameBytes: Int = WireFraming.defaultMaxFrameBytes) {
        self.limit = FrameLimit(bytes: maxFrameBytes)
    }

    public init(limit: FrameLimit) {
        self.limit = limit
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        let maxFrameBytes = limit.bytes
        guard length <= maxFrameBytes else { throw WireError.frameTooLarge(Int(length), limit: maxFrameBytes) }
        guard buffer.readableBytes >= 4 + Int(length) else {
            // A large frame: make room for all of it now, instead of growing (and copying) the buffer as it arrives.
            if length > 1 << 20 { buffer.reserveCapacity(minimumWritableBytes: 4 + Int(length) - buffer.readableBytes) }
            return .needMoreData
        }
        buffer.moveReaderIndex(forwardBy: 4)
        let envelope = try buffer.readWithUnsafeReadableBytes { raw -> (Int, Aloft_V1_Envelope) in
            (Int(length), try Aloft_V1_Envelope(frameBody: UnsafeRawBufferPointer(rebasing: raw[0..<Int(length)])))
        }
        context.fireChannelRead(Self.wrapInboundOut(envelope))
        return .continue
    }
}

public struct EnvelopeEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Aloft_V1_Envelope
    public init() {}

    public func encode(data: Aloft_V1_Envelope, out: inout ByteBuffer) throws {
        try out.writeFrame(data)
    }
}

extension ByteBuffer {
    /// Appends `envelope` as one frame: its length, then its bytes.
    public mutating func writeFrame(_ envelope: Aloft_V1_Envelope) throws {
        let bytes: [UInt8] = try envelope.serializedBytes()
        reserveCapacity(minimumWritableBytes: 4 + bytes.count)
        writeInteger(UInt32(bytes.count))
        writeBytes(bytes)
    }
}

public enum WireError: Error, CustomStringConvertible {
    case frameTooLarge(Int, limit: Int)
    public var description: String {
        switch self {
        case .frameTooLarge(let size, let limit): "frame of \(size) bytes exceeds the limit of \(limit) bytes"
        }
    }
}

extension ChannelPipeline.SynchronousOperations {
    /// Adds the length-prefixed protobuf framing to a channel.
    public func addAloftFraming(maxFrameBytes: Int = WireFraming.defaultMaxFrameBytes) throws {
        try addAloftFraming(limit: FrameLimit(bytes: maxFrameBytes))
    }

    /// Adds the framing with a frame limit that can change while the connection lives.
    public func addAloftFraming(limit: FrameLimit) throws {
        try addAloftFrameDecoder(limit: limit)
        try addHandler(MessageToByteHandler(EnvelopeEncoder()))
    }

    /// Only the decoder: for a peer that writes its frames as bytes itself (`ByteBuffer.writeFrame`), several in
    /// one buffer.
    public func addAloftFrameDecoder(limit: FrameLimit) throws {
        try addHandler(ByteToMessageHandler(EnvelopeDecoder(limit: limit)))
    }
}

extension Aloft_V1_Envelope {
    /// This envelope as one frame: the 4-byte length, then the serialized envelope (for blocking sockets).
    public func frameBytes() throws -> [UInt8] {
        let body: [UInt8] = try serializedBytes()
        var frame = [UInt8]()
        frame.reserveCapacity(4 + body.count)
        withUnsafeBytes(of: UInt32(body.count).bigEndian) { frame.append(contentsOf: $0) }
        frame.append(contentsOf: body)
        return frame
    }

    /// Decodes the body of one frame (without its length), reading the bytes where they are: the decoded message
    /// copies what it keeps.
    public init(frameBody: UnsafeRawBufferPointer) throws {
        guard let base = frameBody.baseAddress, frameBody.count > 0 else {
            try self.init(serializedBytes: [UInt8]())
            return
        }
        try self.init(
            serializedBytes: Data(
                bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: frameBody.count, deallocator: .none))
    }
}
