import AloftCore
import Foundation
import Testing

@testable import AloftClient

/// A live server under a flood of idle and garbage connections from another address keeps answering its callers,
/// holds no more of the flood than its per-peer caps, and lets all of it go.
///
/// The flood's 1,200 sockets are this test process's: Foundation's `Process.run` in another test would crash with
/// that many open, so it runs alone (`scripts/test` runs it after the rest with `ALOFT_ALONE=1`).
@Suite(
    "Abuse", .timeLimit(.minutes(3)),
    .enabled(if: ProcessInfo.processInfo.environment["ALOFT_ALONE"] == "1", "runs alone: ALOFT_ALONE=1"))
struct AbuseTests {
    @Test(
        "1,000 idle and garbage wire connections and 200 HTTP ones from one peer: calls go on, the caps hold, fds return"
    )
    func floodFromOnePeer() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = directory + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let server = try await ServerProcess(
            dataDirectory: directory,
            arguments: ["--connection-limits", "hello-timeout=2", "--http-limits", "per-peer=100,idle-timeout=2"],
            standardError: log)
        let square: Function<Int, Int> = server.app("abuse").lookup("square")
        #expect(try await square.remote(3) == 9)  // its container is up: the fds it takes are in the baseline
        let pid = server.pid
        let fdsBefore = try openDescriptors(of: pid)
        let rssBefore = try residentMemory(of: pid)

        let wirePort = try #require(server.address.split(separator: ":").last.flatMap { UInt16($0) })
        let httpPort = try #require(server.httpURL.split(separator: ":").last.flatMap { UInt16($0) })
        // The flood comes from 127.0.0.2 (all of 127/8 is this host), the callers from 127.0.0.1.
        let flood = Task.detached {
            let wire = openConnections(1000, to: wirePort, from: "127.0.0.2") { index in
                switch index % 4 {
                case 0: Data()  // idle: never says hello
                case 1: Data((0..<1024).map { _ in UInt8.random(in: 0...255) })  // noise
                case 2: Data([0x03, 0xC0, 0x00, 0x00]) + Data(count: 1024)  // announces a 60 MiB frame
                default: Data([0, 0, 0, 8]) + Data(repeating: 0xFF, count: 8)  // a frame that is no envelope
                }
            }
            let http = openConnections(200, to: httpPort, from: "127.0.0.2") { index in
                index.isMultiple(of: 2)
                    ? Data("GET /v1/apps HTTP/1.1\r\nHost: x\r\n".utf8)  // never finishes its head
                    : Data("\u{1}\u{2} garbage \r\n\r\n".utf8)
            }
            return (wire, http)
        }
        // While it lasts, callers get their answers (each well within a generous bound).
        var slowest = Duration.zero
        for value in 0..<20 {
            let started = ContinuousClock.now
            #expect(try await square.remote(value) == value * value)
            #expect(try await server.http("GET", "/v1/apps").status == 200)
            slowest = max(slowest, .now - started)
        }
        let (wire, http) = await flood.value
        let fdsDuring = try openDescriptors(of: pid)
        #expect(slowest < .seconds(20), "slowest call and HTTP request under the flood: \(slowest)")
        // Of 1,200 connections, the server holds at most 64 unwelcomed wire ones and 100 HTTP ones of this peer.
        #expect(fdsDuring - fdsBefore <= 64 + 100 + 16, "server fds: \(fdsBefore) before, \(fdsDuring) in the flood")
        #expect(wire.opened + wire.failed == 1000 && http.opened + http.failed == 200)

        // The idle ones are closed by the hello and idle timeouts while the flood's sockets are still open here.
        let settled = try await eventually(timeout: .seconds(30)) {
            ((try? openDescriptors(of: pid)) ?? .max) <= fdsBefore + 4
        }
        let fdsAfter = try openDescriptors(of: pid)
        #expect(settled, "server fds: \(fdsBefore) before, \(fdsDuring) in the flood, \(fdsAfter) after")
        for socket in wire.sockets + http.sockets { close(socket) }
        let rssAfter = try residentMemory(of: pid)
        #expect(rssAfter - rssBefore < 64 << 20, "server RSS: \(rssBefore >> 20) MiB before, \(rssAfter >> 20) after")
        #expect(try await square.remote(12) == 144)
        #expect(await server.terminate() == 0)

        // Refusals and garbage are logged now and then, not once per connection.
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.contains { $0.contains("refused a connection") })
        #expect(lines.contains { $0.contains("refused an HTTP connection") })
        #expect(lines.count <= 20, "\(lines.count) lines logged:\n\(lines.prefix(40).joined(separator: "\n"))")
        print(
            """
            abuse figures: wire \(wire.opened) opened, \(wire.failed) not; HTTP \(http.opened) opened, \
            \(http.failed) not; server fds \(fdsBefore) before, \(fdsDuring) in the flood, \(fdsAfter) after; \
            RSS \(rssBefore >> 20) MiB before, \(rssAfter >> 20) MiB after; slowest call \(slowest)
            """)
    }
}

extension AbuseTests {
    @Test("with over 1,024 descriptors open the server still starts containers and runs their inputs")
    func containerStartsPastSelectLimit() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(
            dataDirectory: directory, arguments: ["--connection-limits", "hello-timeout=60"])
        let pid = server.pid
        let wirePort = try #require(server.address.split(separator: ":").last.flatMap { UInt16($0) })
        // 24 peers × 60 idle connections: under the per-peer cap of 64, so the server holds all 1,440.
        let flood = await Task.detached {
            (3..<27).map { peer in openConnections(60, to: wirePort, from: "127.0.0.\(peer)") { _ in Data() } }
        }.value
        defer { for socket in flood.flatMap(\.sockets) { close(socket) } }
        #expect(flood.allSatisfy { $0.failed == 0 })
        #expect(try await eventually(timeout: .seconds(20)) { ((try? openDescriptors(of: pid)) ?? 0) > 1_440 })
        // Fresh pools: their containers' pipes and sockets take descriptors numbered past 1,024.
        let square: Function<Int, Int> = server.app("past-select-limit").lookup("square")
        let report: Function<Double, Where> = server.app("past-select-limit").lookup("sleep_and_report")
        #expect(try await square.remote(7) == 49)
        var places: [Where] = []
        for try await place in report.map(Array(repeating: 0.5, count: 8), orderOutputs: false) { places.append(place) }
        #expect(places.count == 8, "several containers started and served the map")
        #expect(try openDescriptors(of: pid) > 1_440)
        #expect(await server.terminate() == 0)
    }
}

/// Sockets a flood opened, and how many connects failed.
struct Flood: Sendable {
    var sockets: [Int32] = []
    var opened: Int { sockets.count }
    var failed = 0
}

/// Opens `count` TCP connections from `source` to `port` on 127.0.0.1 and writes `payload(index)` on each; the
/// sockets stay open (the caller closes them). A connect that fails (or takes over 5 s) is counted, not thrown.
func openConnections(_ count: Int, to port: UInt16, from source: String, payload: (Int) -> Data) -> Flood {
    var flood = Flood()
    for index in 0..<count {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            flood.failed += 1
            continue
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard bind(fd, address: source, port: 0), connect(fd, address: "127.0.0.1", port: port) else {
            close(fd)
            flood.failed += 1
            continue
        }
        let bytes = payload(index)
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        flood.sockets.append(fd)
    }
    return flood
}

private func bind(_ fd: Int32, address: String, port: UInt16) -> Bool {
    var socketAddress = inetAddress(address, port: port)
    return withUnsafePointer(to: &socketAddress) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

private func connect(_ fd: Int32, address: String, port: UInt16) -> Bool {
    var socketAddress = inetAddress(address, port: port)
    return withUnsafePointer(to: &socketAddress) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}

private func inetAddress(_ address: String, port: UInt16) -> sockaddr_in {
    var socketAddress = sockaddr_in()
    socketAddress.sin_family = sa_family_t(AF_INET)
    socketAddress.sin_port = port.bigEndian
    inet_pton(AF_INET, address, &socketAddress.sin_addr)
    return socketAddress
}

/// How many descriptors process `pid` has open.
func openDescriptors(of pid: Int32) throws -> Int {
    try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
}

/// A memory figure of process `pid` from `/proc/PID/status`, in bytes: its resident memory, or its peak (`VmHWM`).
func residentMemory(of pid: Int32, field: String = "VmRSS") throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix(field + ":") })
    return try #require(Int(line.split(separator: " ").dropFirst().first ?? "")) * 1024
}
