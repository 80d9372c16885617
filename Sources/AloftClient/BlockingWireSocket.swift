import AloftCore
import AloftWire
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A wire-protocol connection used with plain blocking system calls, for the container's input loop.
///
/// A container's main thread waits in `read` for its next message; the threads that run inputs write their results
/// themselves (under a lock), with no event loop in between.
final class BlockingWireSocket: @unchecked Sendable {
    private let descriptor: Int32
    private let writeLock = NSLock()
    /// Bytes read and not yet decoded are `buffer[readIndex...]`.
    private var buffer = [UInt8]()
    private var readIndex = 0
    private var chunk = [UInt8](repeating: 0, count: 256 * 1024)
    private let maxFrameBytes = WireFraming.defaultMaxFrameBytes

    init(address: String) throws {
        switch try WireEndpoint(address) {
        case .tcp(let host, let port): descriptor = try Self.connectTCP(host: host, port: port, address: address)
        case .unix(let path): descriptor = try Self.connectUnix(path: path, address: address)
        }
        var sendBuffer = AloftLimits.socketSendBufferBytes
        setsockopt(descriptor, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
    }

    private static func connectTCP(host: String, port: Int, address: String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var resolved: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &resolved) == 0, let first = resolved else {
            throw AloftError(.connectionFailed, "cannot resolve control plane host '\(host)'")
        }
        defer { freeaddrinfo(resolved) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw AloftError(.connectionFailed, "socket() failed: errno \(errno)") }
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let error = errno
            close(fd)
            throw AloftError(.connectionFailed, "could not connect to the control plane at \(address): errno \(error)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    private static func connectUnix(path: String, address: String) throws -> Int32 {
        var socketAddress = sockaddr_un()
        socketAddress.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: socketAddress.sun_path)
        guard path.utf8.count < capacity else {
            throw AloftError(.invalidConfiguration, "Unix socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &socketAddress.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw AloftError(.connectionFailed, "socket() failed: errno \(errno)") }
        let connected = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let error = errno
            close(fd)
            throw AloftError(.connectionFailed, "could not connect to the control plane at \(address): errno \(error)")
        }
        return fd
    }

    deinit { close(descriptor) }

    /// Ends the connection both ways: a blocked `receive` returns, later sends fail. The descriptor stays open until
    /// the socket is released.
    func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Writes one frame; safe from any thread.
    func send(_ envelope: Aloft_V1_Envelope) throws {
        try write(try envelope.frameBytes())
    }

    /// Writes frames in one write (as far as the kernel takes it); safe from any thread.
    func send(_ envelopes: [Aloft_V1_Envelope]) throws {
        var frames: [UInt8] = []
        for envelope in envelopes { frames += try envelope.frameBytes() }
        try write(frames)
    }

    private func write(_ frame: [UInt8]) throws {
        writeLock.lock()
        defer { writeLock.unlock() }
        var offset = 0
        while offset < frame.count {
            // MSG_NOSIGNAL: a control plane that went away is an error here, not a SIGPIPE that kills the container.
            let written = frame.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, frame.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw AloftError(.connectionFailed, "write to the control plane failed: errno \(errno)")
            }
            offset += written
        }
    }

    /// Reads the next frame, blocking; nil when the control plane closed the connection.
    func receive() throws -> Aloft_V1_Envelope? {
        while true {
            let available = buffer.count - readIndex
            if available >= 4 {
                let r = readIndex
                let length =
                    Int(buffer[r]) << 24 | Int(buffer[r + 1]) << 16 | Int(buffer[r + 2]) << 8 | Int(buffer[r + 3])
                guard length <= maxFrameBytes else { throw WireError.frameTooLarge(length, limit: maxFrameBytes) }
                if available >= 4 + length {
                    let envelope = try buffer.withUnsafeBytes { bytes in
                        try Aloft_V1_Envelope(
                            frameBody: UnsafeRawBufferPointer(rebasing: bytes[(r + 4)..<(r + 4 + length)]))
                    }
                    readIndex += 4 + length
                    return envelope
                }
                if length > chunk.count {
                    return try receiveLarge(length: length)
                }
            }
            if readIndex > 0 {  // compact before reading more, so the buffer holds at most one partial frame
                buffer.removeFirst(readIndex)
                readIndex = 0
            }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress!, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// Reads the rest of a frame larger than a chunk straight into one buffer of its size (a large argument is
    /// then copied once here, not once per chunk and again to decode it).
    private func receiveLarge(length: Int) throws -> Aloft_V1_Envelope? {
        let start = readIndex + 4
        let already = buffer.count - start
        let frame = try [UInt8](unsafeUninitializedCapacity: length) { frame, initialized in
            let base = UnsafeMutableRawPointer(frame.baseAddress!)
            buffer.withUnsafeBytes { bytes in base.copyMemory(from: bytes.baseAddress! + start, byteCount: already) }
            var filled = already
            while filled < length {
                let count = read(descriptor, base + filled, length - filled)
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    throw AloftError(.connectionFailed, "the control plane closed the connection mid-frame")
                }
                filled += count
            }
            initialized = length
        }
        buffer.removeAll(keepingCapacity: true)
        readIndex = 0
        return try frame.withUnsafeBytes { try Aloft_V1_Envelope(frameBody: $0) }
    }
}
