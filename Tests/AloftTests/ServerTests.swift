import Aloft
import AloftPostgres
import Foundation
import Testing

/// `aloft server` as a user runs it: the real executable, a real SQLite file, callers and containers over its
/// sockets, and `kill -9` for a crash.
@Suite("Server", .serialized, .timeLimit(.minutes(5)))
struct ServerTests {
    @Test("a spawned call accepted before kill -9 completes after the restart; results are fetched by id",
          arguments: StoreConformanceTests.Kind.available.filter { $0 != .memory })
    func spawnSurvivesKill(store: StoreConformanceTests.Kind) async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var storeArguments = ["--store", store.rawValue]
        if store == .postgres, let url = testPostgresURL {
            let schema = "aloft_server_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            storeArguments += ["--postgres-url", url, "--postgres-schema", schema]
        }
        let first = try ServerProcess(dataDirectory: directory, arguments: storeArguments)
        let app = App("durable", controlPlane: RemoteControlPlane(first.address), configuration: fixtures.configuration)
        let finished = try await (app.lookup("square") as Function<Int, Int>).spawn(7)
        #expect(try await finished.get(timeout: .seconds(60)) == 49)
        let unfinished = try await (app.lookup("sleepy") as Function<Double, Int>).spawn(1.0)
        first.kill()

        let second = try ServerProcess(dataDirectory: directory, arguments: storeArguments)
        let restarted = App("durable", controlPlane: RemoteControlPlane(second.address), configuration: fixtures.configuration)
        #expect(try await FunctionCall<Int>(id: finished.id, app: restarted).get(timeout: .seconds(30)) == 49)
        #expect(try await FunctionCall<Int>(id: unfinished.id, app: restarted).get(timeout: .seconds(60)) == 0)

        let unknown = await aloftError { try await FunctionCall<Int>(id: "fc-nosuchcall", app: restarted).get(timeout: .seconds(5)) }
        #expect(unknown?.code == .notFound)
        #expect(unknown?.message.contains("kept for") == true)
        #expect(second.terminate() == 0)
        if store == .postgres, let url = testPostgresURL, let schema = storeArguments.last {
            let cleanup = try PostgresStore(url: url, schema: schema)
            try await cleanup.open()
            try await cleanup.dropSchema()
            await cleanup.close()
        }
    }

    @Test("SIGTERM stops the server gracefully: it exits 0 and its containers are gone")
    func gracefulStop() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try ServerProcess(dataDirectory: directory)
        let app = App("graceful", controlPlane: RemoteControlPlane(server.address), configuration: fixtures.configuration)
        let containerPID = try await (app.lookup("process_id") as Function<NoArguments, Int32>).remote()
        #expect(kill(containerPID, 0) == 0)
        #expect(server.terminate() == 0)
        #expect(try await eventually { kill(containerPID, 0) != 0 })
    }

    @Test("bad flags and settings are refused with a message that says what was expected")
    func badConfiguration() throws {
        let store = try runProduct("aloft", arguments: ["server", "--store", "nosuch", "--data-dir", temporaryPath("aloft-server")])
        #expect(store.status != 0)
        #expect(store.stderr.contains("sqlite, postgres, memory"), "stderr: \(store.stderr)")
        let noURL = try runProduct("aloft", arguments: ["server", "--store", "postgres", "--data-dir", temporaryPath("aloft-server")])
        #expect(noURL.status != 0)
        #expect(noURL.stderr.contains("ALOFT_POSTGRES_URL"), "stderr: \(noURL.stderr)")
        let port = try runProduct("aloft", arguments: ["server", "--port", "99999", "--data-dir", temporaryPath("aloft-server")])
        #expect(port.status != 0)
        #expect(port.stderr.contains("ALOFT_SERVER_PORT=99999 is not a port number"), "stderr: \(port.stderr)")
        let help = try runProduct("aloft", arguments: ["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("server"))
    }
}

/// A running `aloft server` on a free port.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    /// `host:port` it listens on.
    let address: String
    /// `http://host:port` of its HTTP API.
    let httpURL: String

    init(dataDirectory: String, arguments: [String] = []) throws {
        process.executableURL = productsDirectory.appendingPathComponent("aloft")
        process.arguments = ["server", "--port", "0", "--http-port", "0", "--data-dir", dataDirectory, "--log-level", "warning"] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        // The first line says where it listens: "aloft server listening on HOST:PORT, HTTP API on URL (data in DIR)".
        var firstLine = Data()
        while !firstLine.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw AloftError(.connectionFailed, "aloft server exited before it listened") }
            firstLine.append(chunk)
        }
        // Its containers' output is forwarded to this pipe: keep draining it.
        output.fileHandleForReading.readabilityHandler = { handle in _ = handle.availableData }
        let text = String(decoding: firstLine, as: UTF8.self)
        func word(after marker: String) throws -> String {
            guard let range = text.range(of: marker) else { throw AloftError(.protocolError, "unexpected first line from aloft server: \(text)") }
            return String(text[range.upperBound...].prefix { $0 != "," && $0 != " " })
        }
        address = try word(after: "listening on ")
        httpURL = try word(after: "HTTP API on ")
    }

    /// SIGKILL: a crash.
    func kill() {
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, then waits; returns the exit status.
    func terminate() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill() }
    }
}
