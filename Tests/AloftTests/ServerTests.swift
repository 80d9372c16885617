import Aloft
@testable import AloftClient
import AloftWire
import AloftPostgres
import Foundation
import NIOCore
import NIOPosix
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `aloft server` as a user runs it: the real executable, a real SQLite file, callers and containers over its
/// sockets, and `kill -9` for a crash.
@Suite("Server", .serialized, .timeLimit(.minutes(5)))
struct ServerTests {
    @Test(
        "a spawned call accepted before kill -9 completes after the restart; results are fetched by id",
        arguments: StoreConformanceTests.Kind.available.filter { $0 != .memory })
    func spawnSurvivesKill(store: StoreConformanceTests.Kind) async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var storeArguments = ["--store", store.rawValue]
        if store == .postgres, let url = testPostgresURL {
            let schema = "aloft_server_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            storeArguments += ["--postgres-url", url, "--postgres-schema", schema]
        }
        let first = try await ServerProcess(dataDirectory: directory, arguments: storeArguments)
        let app = first.app("durable")
        let finished = try await (app.lookup("square") as Function<Int, Int>).spawn(7)
        #expect(try await finished.get(timeout: .seconds(60)) == 49)
        let unfinished = try await (app.lookup("sleepy") as Function<Double, Int>).spawn(1.0)
        await first.kill()

        let second = try await ServerProcess(dataDirectory: directory, arguments: storeArguments)
        let restarted = second.app("durable")
        #expect(try await FunctionCall<Int>(id: finished.id, app: restarted).get(timeout: .seconds(30)) == 49)
        #expect(try await FunctionCall<Int>(id: unfinished.id, app: restarted).get(timeout: .seconds(60)) == 0)

        let unknown = await aloftError {
            try await FunctionCall<Int>(id: "fc-nosuchcall", app: restarted).get(timeout: .seconds(5))
        }
        #expect(unknown?.code == .notFound)
        #expect(unknown?.message.contains("kept for") == true)
        #expect(await second.terminate() == 0)
        if store == .postgres, let url = testPostgresURL, let schema = storeArguments.last {
            let cleanup = try PostgresStore(url: url, schema: schema)
            try await cleanup.open()
            try await cleanup.dropSchema()
            await cleanup.close()
        }
    }

    @Test(
        "one server per data directory; a port in use is an error, not a hang; containers never see the server's settings, signals or files"
    )
    func exclusiveAndIsolated() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(
            dataDirectory: directory, environment: ["ALOFT_POSTGRES_URL": "postgres://u:secretpw@localhost/db"])
        let second = try await runProduct(
            "aloft", arguments: ["server", "--port", "0", "--http-port", "0", "--data-dir", directory],
            timeout: .seconds(60))
        #expect(second.status != 0)
        #expect(second.stderr.contains("another aloft server is using the data directory"), "stderr: \(second.stderr)")

        let httpPort = try #require(server.httpURL.split(separator: ":").last.map(String.init))
        let busy = try await runProduct(
            "aloft",
            arguments: ["server", "--port", "0", "--http-port", httpPort, "--data-dir", temporaryPath("aloft-server")],
            timeout: .seconds(60))
        #expect(busy.status != 0, "stdout: \(busy.stdout)")
        #expect(
            busy.stderr.contains("HTTP API could not start") || busy.stderr.contains("in use"), "stderr: \(busy.stderr)"
        )

        let app = server.app("isolated")
        let names = try await (app.lookup("environment_names") as Function<String, [String]>).remote("ALOFT_")
        #expect(!names.contains("ALOFT_POSTGRES_URL") && !names.contains("ALOFT_DATA_DIR"), "\(names)")
        #expect(names.contains("ALOFT_TOKEN"))  // its own, for the calls its body makes
        // Nor the server's signal dispositions (it ignores SIGPIPE and SIGQUIT; a container ignores SIGTERM itself,
        // to drain) or descriptors (its database, its sockets).
        let ignored = try await (app.lookup("ignored_signals") as Function<NoArguments, [Int32]>).remote()
        #expect(!ignored.contains(SIGPIPE) && !ignored.contains(SIGQUIT) && !ignored.contains(SIGINT), "\(ignored)")
        let files = try await (app.lookup("open_files") as Function<NoArguments, [String]>).remote()
        #expect(!files.contains { $0.hasPrefix(directory) }, "\(files)")
        #expect(files.filter { $0.hasPrefix("socket:") }.count <= 1, "\(files)")  // its own connection only
        #expect(await server.terminate() == 0)
    }

    @Test("SIGTERM stops the server gracefully: it exits 0 and its containers are gone")
    func gracefulStop() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let app = server.app("graceful")
        let containerPID = try await (app.lookup("process_id") as Function<NoArguments, Int32>).remote()
        #expect(kill(containerPID, 0) == 0)
        #expect(await server.terminate() == 0)
        #expect(try await eventually { kill(containerPID, 0) != 0 })
    }

    @Test("bad flags and settings are refused with a message that says what was expected")
    func badConfiguration() async throws {
        let store = try await runProduct(
            "aloft", arguments: ["server", "--store", "nosuch", "--data-dir", temporaryPath("aloft-server")])
        #expect(store.status != 0)
        #expect(store.stderr.contains("sqlite, postgres, memory"), "stderr: \(store.stderr)")
        let noURL = try await runProduct(
            "aloft", arguments: ["server", "--store", "postgres", "--data-dir", temporaryPath("aloft-server")])
        #expect(noURL.status != 0)
        #expect(noURL.stderr.contains("ALOFT_POSTGRES_URL"), "stderr: \(noURL.stderr)")
        let port = try await runProduct(
            "aloft", arguments: ["server", "--port", "99999", "--data-dir", temporaryPath("aloft-server")])
        #expect(port.status != 0)
        #expect(port.stderr.contains("--port 99999 is not a port number"), "stderr: \(port.stderr)")
        let help = try await runProduct("aloft", arguments: ["--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("server"))
    }
}

@Suite("Tokens and workspaces", .serialized, .timeLimit(.minutes(5)))
struct TokenTests {
    @Test("a missing, wrong or revoked token gets unauthenticated and nothing else; tokens never reach the logs")
    func refusedTokens() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = directory + ".log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let server = try await ServerProcess(
            dataDirectory: directory, arguments: ["--log-level", "debug"], standardError: log)
        let secret = String(server.token.split(separator: "_").last ?? "")

        for (token, expected) in [
            ("", "needs a token"), ("aloft_nosuch_secret", "not known"), ("garbage", "not an aloft token"),
        ] {
            let app = server.app("refused", token: token)
            let error = await aloftError { try await (app.lookup("square") as Function<Int, Int>).remote(2) }
            #expect(error?.code == .unauthenticated, "token '\(token)'")
            #expect(error?.message.contains(expected) == true, "\(String(describing: error))")
        }

        let made = try await runProduct("aloft", arguments: ["token", "new", "--data-dir", directory])
        let extra = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(made.status == 0 && extra.hasPrefix("aloft_"), "stderr: \(made.stderr)")
        let app = server.app("revoked", token: extra)
        let openSquare: Function<Int, Int> = app.lookup("square")
        #expect(try await openSquare.remote(3) == 9)
        let extraID = String(extra.split(separator: "_")[1])
        let listed = try await runProduct("aloft", arguments: ["token", "list", "--data-dir", directory])
        #expect(listed.stdout.contains(extraID) && !listed.stdout.contains(secret), "stdout: \(listed.stdout)")
        let revoked = try await runProduct("aloft", arguments: ["token", "revoke", extraID, "--data-dir", directory])
        #expect(revoked.status == 0, "stderr: \(revoked.stderr)")
        #expect(
            try await runProduct("aloft", arguments: ["token", "list", "--data-dir", directory]).stdout.contains(
                "revoked"))
        // The connection already open with it is closed within a few seconds: its calls then fail.
        #expect(try await eventuallyAsync(timeout: .seconds(20)) { await callFails(openSquare) })
        // A new connection with the revoked token is refused.
        let again = App(
            "revoked",
            controlPlane: RemoteControlPlane(
                server.address.replacingOccurrences(of: "127.0.0.1", with: "localhost"), token: extra),
            configuration: fixtures.configuration)
        let error = await aloftError { try await (again.lookup("square") as Function<Int, Int>).remote(3) }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message.contains("revoked") == true)

        #expect(try await server.http("GET", "/v1/calls/fc-x", anonymous: true).status == 401)

        #expect(await server.terminate() == 0)
        let logs = try String(contentsOfFile: log, encoding: .utf8)
        #expect(logs.contains("refused a client"))
        #expect(!logs.contains(secret) && !logs.contains(String(extra.split(separator: "_")[2])))
    }

    @Test("a token made with --expires works until then; after, its open connection is closed and new ones refused")
    func expiringToken() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let made = try await runProduct(
            "aloft", arguments: ["token", "new", "--expires", "15s", "--data-dir", directory])
        let token = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(made.status == 0 && made.stderr.contains("expires at"), "stderr: \(made.stderr)")
        let bad = try await runProduct(
            "aloft", arguments: ["token", "new", "--expires", "soon", "--data-dir", directory])
        #expect(bad.status != 0 && bad.stderr.contains("--expires is a positive number and a unit"))

        let square: Function<Int, Int> = server.app("expiring", token: token).lookup("square")
        #expect(try await square.remote(4) == 16)
        #expect(try await eventuallyAsync(timeout: .seconds(40)) { await callFails(square) })
        let fresh: Function<Int, Int> = App(
            "expiring",
            controlPlane: RemoteControlPlane(
                server.address.replacingOccurrences(of: "127.0.0.1", with: "localhost"), token: token),
            configuration: fixtures.configuration
        ).lookup("square")
        let error = await aloftError { try await fresh.remote(4) }
        #expect(error?.code == .unauthenticated)
        #expect(error?.message.contains("expired at") == true)
        let listed = try await runProduct("aloft", arguments: ["token", "list", "--data-dir", directory])
        let id = String(token.split(separator: "_")[1])
        #expect(listed.stdout.split(separator: "\n").contains { $0.hasPrefix(id) && $0.contains("\texpired\t") })
        #expect(await server.terminate() == 0)
    }

    @Test(
        "a workspace cannot call or read the calls of another, nor list or read its dicts, queues and secrets; a function's own calls stay in its workspace"
    )
    func workspacesAreIsolated() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let main = server.app("shared-name")
        let spawned = try await (main.lookup("square") as Function<Int, Int>).spawn(5)
        #expect(try await spawned.get(timeout: .seconds(30)) == 25)
        // async_function calls blocking_function from inside its container: with the container's own token.
        #expect(try await (main.lookup("async_function") as Function<NoArguments, Int>).remote() == 420)

        let made = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "other", "--data-dir", directory])
        let otherToken = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let other = server.app("shared-name", token: otherToken)
        let unseen = await aloftError {
            try await FunctionCall<Int>(id: spawned.id, app: other).get(timeout: .seconds(5))
        }
        #expect(unseen?.code == .notFound)

        #expect(
            try await server.http("POST", "/v1/apps/shared-name/functions/square/call", body: "4", token: otherToken)
                .status == 404)
        #expect(try await server.http("GET", "/v1/calls/\(spawned.id)", token: otherToken).status == 404)

        // Listing from the other workspace shows none of main's dicts, queues or secrets, and reading them is 404.
        let mainPlane = RemoteControlPlane(server.address, token: server.token)
        try await Dict<String, Int>.fromName("main-dict", createIfMissing: true, controlPlane: mainPlane).put("k", 1)
        try await Queue<Int>.fromName("main-queue", createIfMissing: true, controlPlane: mainPlane).put(1)
        let secret = try await server.http(
            "POST", "/v1/secrets", body: #"{"name": "main-secret", "values": {"K": "v"}}"#)
        #expect(secret.status == 201 || secret.status == 200)
        for (path, key, name) in [
            ("/v1/dicts", "dicts", "main-dict"), ("/v1/queues", "queues", "main-queue"),
            ("/v1/secrets", "secrets", "main-secret"),
        ] {
            let mine = try await server.http("GET", path)
            let theirs = try await server.http("GET", path, token: otherToken)
            #expect(mine.status == 200 && theirs.status == 200)
            #expect("\(mine.json[key] ?? "")".contains(name), "main lists \(path): \(mine.json)")
            #expect(!"\(theirs.json[key] ?? "")".contains(name), "the other workspace lists \(path): \(theirs.json)")
        }
        #expect(try await server.http("GET", "/v1/dicts/main-dict", token: otherToken).status == 404)
        #expect(try await server.http("GET", "/v1/queues/main-queue", token: otherToken).status == 404)

        // The other workspace's own app of the same name is its own.
        #expect(try await (other.lookup("square") as Function<Int, Int>).remote(6) == 36)
        #expect(await server.terminate() == 0)
    }

    @Test("before its hello is answered, a connection announcing a large frame is closed at once")
    func largeFrameBeforeHello() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let port = try #require(Int(server.address.split(separator: ":").last ?? ""))
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        var buffer = channel.allocator.buffer(capacity: 4 + 4096)
        buffer.writeInteger(UInt32(60 << 20))  // 60 MiB announced: the server must not wait to buffer it
        buffer.writeBytes([UInt8](repeating: 0, count: 4096))
        try await channel.writeAndFlush(buffer)
        try await channel.closeFuture.get()
        #expect(!channel.isActive)
        // The server is fine: a well-behaved client still gets in.
        #expect(try await (server.app("after").lookup("square") as Function<Int, Int>).remote(3) == 9)
        #expect(await server.terminate() == 0)
    }

    @Test("a hello and a first request in one write both get their answers while the token is checked")
    func helloAndRequestInOneWrite() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let socket = try BlockingWireSocket(address: server.address)
        var lookup = Aloft_V1_FunctionLookup()
        lookup.appName = "nosuch"
        lookup.functionName = "f"
        try socket.send([
            Aloft_V1_Envelope(requestID: 1, body: .hello(Aloft_V1_Hello(role: .client, token: server.token))),
            Aloft_V1_Envelope(requestID: 2, body: .functionLookup(lookup)),
        ])
        let welcome = try #require(try socket.receive())
        guard case .helloReply = welcome.body else { throw AloftError(.protocolError, "got \(welcome)") }
        let answer = try #require(try socket.receive())
        #expect(answer.requestID == 2)
        guard case .error(let error) = answer.body else { throw AloftError(.protocolError, "got \(answer)") }
        #expect(error.code == AloftError.Code.notFound.rawValue)
        #expect(await server.terminate() == 0)
    }

    @Test("the data directory and the database are its owner's only, even when the directory existed")
    func privateDataDirectory() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let server = try await ServerProcess(dataDirectory: directory)
        func mode(_ path: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) & 0o777
        }
        #expect(try mode(directory) == 0o700)
        #expect(try mode(directory + "/aloft.sqlite") == 0o600)
        #expect(try mode(directory + "/client-token") == 0o600)
        #expect(await server.terminate() == 0)
    }

    @Test("a finished call's id stays its own: another workspace's call with that id is refused")
    func callIDsCannotBeTakenOver() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let owner = server.app("takeover")
        let spawned = try await (owner.lookup("square") as Function<Int, Int>).spawn(5)
        #expect(try await spawned.get(timeout: .seconds(30)) == 25)

        let made = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "intruder", "--data-dir", directory])
        let intruder = server.app("takeover", token: made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let (connection, functionID) = try await (intruder.lookup("square") as Function<Int, Int>).connectAndRegister()
        var create = Aloft_V1_CallCreate()
        create.callID = spawned.id
        create.functionID = functionID
        create.kind = .spawn
        var input = Aloft_V1_Input()
        input.data = Data("7".utf8)
        create.inputs = [input]
        create.last = true
        let refused = await aloftError { try await connection.request(.callCreate(create)) }
        #expect(refused?.code == .protocolError)
        #expect(refused?.message == "call id '\(spawned.id)' is already in use")
        #expect(try await spawned.get(timeout: .seconds(5)) == 25)  // the owner's result is still its own
        #expect(await server.terminate() == 0)
    }
}

/// Whether a call of `function` fails because its connection was closed or refused (not for another reason).
func callFails(_ function: Function<Int, Int>) async -> Bool {
    do {
        _ = try await function.remote(1)
        return false
    } catch let error as AloftError {
        return error.code == .connectionFailed || error.code == .unauthenticated
    } catch {
        return false
    }
}
