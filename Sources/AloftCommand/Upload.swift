import AloftCore
import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Uploads an executable to the server's artifact store unless it is there already; returns its SHA-256, its size
/// (for people) and whether it was uploaded. On a terminal a progress line shows the bytes sent, the rate and the
/// time left (`ALOFT_PROGRESS=0` hides it).
func upload(_ path: String, api: APIOptions) async throws -> (digest: String, size: String, uploaded: Bool) {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let digest = Hex.string(SHA256.hash(data: bytes))
    let size = ByteCountFormatter.string(fromByteCount: Int64(bytes.count), countStyle: .file)
    if try await api.send("HEAD", "/v1/artifacts/\(digest)", body: nil).status == 200 { return (digest, size, false) }
    let route = "/v1/artifacts/\(digest)"
    // Streamed (for the progress line) only on a terminal, and not through a proxy: AsyncHTTPClient does not read
    // the proxy variables that URLSession honours.
    let environment = ProcessInfo.processInfo.environment
    let proxied = ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"].contains { environment[$0] != nil }
    guard !proxied, let progress = UploadProgress(total: bytes.count, name: (path as NSString).lastPathComponent)
    else {
        try expectSuccess(try await api.send("PUT", route, body: bytes), doing: "uploading the executable")
        return (digest, size, true)
    }
    let reply: (status: Int, body: Data)
    do {
        reply = try await streamedPut(bytes, to: api.baseURL + route, token: api.resolvedToken, progress: progress)
        progress.end(completed: true)
    } catch is CancellationError {
        progress.end(completed: false)
        throw CancellationError()
    } catch {
        progress.end(completed: false)
        // It may have arrived before the reply was lost; if not, the plain request sends it or says why (an
        // unreachable server, as every command reports it).
        if try await api.send("HEAD", route, body: nil).status == 200 { return (digest, size, true) }
        reply = try await api.send("PUT", route, body: bytes)
    }
    try expectSuccess(reply, doing: "uploading the executable")
    return (digest, size, true)
}

/// A PUT whose body goes out in chunks, each counted by `progress` as the connection takes it.
private func streamedPut(
    _ bytes: Data, to url: String, token: String?, progress: UploadProgress
) async throws -> (status: Int, body: Data) {
    var request = HTTPClientRequest(url: url)
    request.method = .PUT
    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
    request.headers.add(name: "Content-Type", value: "application/octet-stream")
    request.body = .stream(Chunks(bytes: bytes, progress: progress), length: .known(Int64(bytes.count)))
    let response = try await HTTPClient.shared.execute(request, timeout: .hours(1))
    let body = try await response.body.collect(upTo: 1 << 20)
    return (Int(response.status.code), Data(buffer: body))
}

/// The body in 1 MiB chunks; the client asks for the next when it has written the last (backpressure), so what was
/// taken is what was sent, give or take a chunk.
private struct Chunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let bytes: Data
    let progress: UploadProgress
    static let size = 1 << 20

    struct AsyncIterator: AsyncIteratorProtocol {
        let bytes: Data
        let progress: UploadProgress
        var offset = 0

        mutating func next() async -> ByteBuffer? {
            guard offset < bytes.count else { return nil }
            let end = Swift.min(offset + Chunks.size, bytes.count)
            defer { offset = end }
            progress.sent(offset)
            return ByteBuffer(bytes: bytes[bytes.startIndex + offset..<bytes.startIndex + end])
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(bytes: bytes, progress: progress) }
}

/// `uploading NAME: 45.0/120.3 MiB, 12.5 MiB/s, 6s left` on a terminal.
final class UploadProgress: @unchecked Sendable {
    private let line: ProgressLine
    private let total: Int
    private let name: String
    private let lock = NSLock()
    private var latest = 0

    init?(total: Int, name: String) {
        guard let line = ProgressLine(environment: ProcessInfo.processInfo.environment) else { return nil }
        self.line = line
        self.total = total
        self.name = name
    }

    func sent(_ bytes: Int) {
        lock.withLock {
            latest = bytes
            if line.isDue(firstAfter: .milliseconds(100)) { draw() }
        }
    }

    /// The line stays with its last state (all of it, when `completed`), and a newline after it.
    func end(completed: Bool) {
        lock.withLock {
            if completed {
                latest = total
                draw()
            }
            line.end()
        }
    }

    private func draw() {
        let mib = 1_048_576.0
        let rate = Double(latest) / mib / line.elapsed
        var text = "uploading \(name): \(ProgressLine.rate(Double(latest) / mib))/"
        text += "\(ProgressLine.rate(Double(total) / mib)) MiB, \(ProgressLine.rate(rate)) MiB/s"
        if latest < total, rate > 0 { text += ", \(ProgressLine.duration(Double(total - latest) / mib / rate)) left" }
        line.draw(text)
    }
}
