import Aloft
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `aloft deploy` and `aloft app …` against a real server: the test app's executable is uploaded to the server's
/// artifact store and its containers run that copy.
@Suite("Deploy and look up", .serialized, .timeLimit(.minutes(5)))
struct DeployTests {
    let testApp = productsDirectory.appendingPathComponent("aloft-test-app").path

    /// Runs `aloft ARGUMENTS` against `server`'s HTTP API with its token.
    func aloft(
        _ arguments: [String], _ server: ServerProcess
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runProduct(
            "aloft", arguments: arguments, environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token])
    }

    func lookup<I, O>(_ name: String, on server: ServerProcess, app: String = "fixtures") -> Function<I, O> {
        Function<I, O>.lookup(
            app: app, name: name, controlPlane: RemoteControlPlane(server.address, token: server.token))
    }

    @Test("deploy uploads the executable once, serves calls by name from Swift, HTTP and the CLI, and survives kill -9")
    func deployAndLookUp() async throws {
        let directory = temporaryPath("aloft-deploy")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var server = try await ServerProcess(dataDirectory: directory)

        let first = try await aloft(["deploy", "--executable", testApp], server)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("deployed app 'fixtures' version 1"))
        #expect(first.stdout.contains("uploaded"))

        let square: Function<Int, Int> = lookup("square", on: server)
        #expect(try await square.remote(6) == 36)
        // Its containers run the server's copy of the executable, named by its SHA-256.
        let path = try await (lookup("executable_path", on: server) as Function<NoArguments, String>).remote()
        #expect(path.hasPrefix(directory + "/artifacts/"), "\(path)")
        #expect(URL(fileURLWithPath: path).lastPathComponent.count == 64)
        // A container's own token lets its body call functions, never join as a worker host.
        #expect(
            try await (lookup("hello_as_worker", on: server) as Function<NoArguments, String>).remote()
                == "unauthenticated")
        // A deployed function that calls another one of its app.
        #expect(try await (lookup("blocking_caller", on: server) as Function<Int, Int>).remote(3) == 10)
        // Over HTTP and from the CLI, by name.
        let http = try await server.http("POST", "/v1/apps/fixtures/functions/square/call", body: "5")
        #expect(http.json["result"] as? Int == 25)
        #expect(try await aloft(["call", "fixtures.square", "--json", "8"], server).stdout == "64\n")

        // Look-ups are lazy: a missing function or app fails on first use, with notFound.
        let missing: Function<Int, Int> = lookup("nosuch", on: server)
        #expect(await aloftError { try await missing.remote(1) }?.code == .notFound)
        let missingApp: Function<Int, Int> = lookup("square", on: server, app: "nosuch")
        #expect(await aloftError { try await missingApp.remote(1) }?.code == .notFound)

        // A run of the app against the server (a definition from another executable) does not redefine a deployed
        // function: the deployed one answers.
        let impostor = App(
            "fixtures", controlPlane: RemoteControlPlane(server.address, token: server.token),
            configuration: AppConfiguration(containerExecutable: "/bin/false", containerArguments: []))
        let redefined = impostor.function("square") { (x: Int) -> Int in -x }
        #expect(try await redefined.remote(3) == 9)

        let spawned = try await square.spawn(9)
        #expect(try await spawned.get(timeout: .seconds(30)) == 81)

        // The same executable again: a new version, nothing uploaded.
        let second = try await aloft(["deploy", "--executable", testApp], server)
        #expect(second.stdout.contains("deployed app 'fixtures' version 2"), "\(second.stderr)")
        #expect(second.stdout.contains("already on the server"))

        await server.kill()
        server = try await ServerProcess(dataDirectory: directory)
        let control = RemoteControlPlane(server.address, token: server.token)
        #expect(
            try await FunctionCall<Int>.lookup(id: spawned.id, controlPlane: control).get(timeout: .seconds(10)) == 81)
        #expect(try await (lookup("square", on: server) as Function<Int, Int>).remote(4) == 16)
        let history = try await aloft(["app", "history", "fixtures"], server)
        let lines = history.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.last?.hasPrefix("v2\t") == true && lines.last?.hasSuffix("\tlive") == true, "\(history.stdout)")
        #expect(await server.terminate() == 0)
    }

    @Test("a stopped app takes no calls, also after a restart, until a rollback makes a version live again")
    func stopAndRollback() async throws {
        let directory = temporaryPath("aloft-deploy")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var server = try await ServerProcess(dataDirectory: directory)
        for _ in 0..<2 { #expect(try await aloft(["deploy", "--executable", testApp], server).status == 0) }
        #expect(try await (lookup("square", on: server) as Function<Int, Int>).remote(2) == 4)

        let stopped = try await aloft(["app", "stop", "fixtures"], server)
        #expect(stopped.stdout == "stopped app 'fixtures'\n", "\(stopped.stderr)")
        let afterStop: Function<Int, Int> = lookup("square", on: server)
        #expect(await aloftError { try await afterStop.remote(2) }?.code == .notFound)
        #expect(try await server.http("POST", "/v1/apps/fixtures/functions/square/call", body: "2").status == 404)
        #expect(try await aloft(["app", "list"], server).stdout.hasPrefix("fixtures\tstopped\t2 versions"))
        let again = try await aloft(["app", "stop", "fixtures"], server)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already stopped"))

        await server.kill()
        server = try await ServerProcess(dataDirectory: directory)
        let afterRestart: Function<Int, Int> = lookup("square", on: server)
        #expect(await aloftError { try await afterRestart.remote(2) }?.code == .notFound)

        // A stopped app rolls back to its last version; then to an explicit one.
        #expect(
            try await aloft(["app", "rollback", "fixtures"], server).stdout == "app 'fixtures' is live at version 2\n")
        #expect(try await (lookup("square", on: server) as Function<Int, Int>).remote(3) == 9)
        #expect(
            try await aloft(["app", "rollback", "fixtures", "1"], server).stdout
                == "app 'fixtures' is live at version 1\n")
        #expect(
            try await aloft(["app", "rollback", "fixtures"], server).stderr.contains("no version before its live one"))
        #expect(try await aloft(["app", "rollback", "fixtures", "7"], server).stderr.contains("has no version 7"))
        await server.kill()
        server = try await ServerProcess(dataDirectory: directory)
        #expect(try await aloft(["app", "list"], server).stdout.hasPrefix("fixtures\tv1\t2 versions"))
        #expect(try await (lookup("square", on: server) as Function<Int, Int>).remote(5) == 25)
        #expect(await server.terminate() == 0)
    }

    @Test("bad uploads and deployments are refused with a clear error and leave nothing behind")
    func badDeployments() async throws {
        let directory = temporaryPath("aloft-deploy")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        func code(_ reply: ServerProcess.Reply) -> String? {
            (reply.json["error"] as? [String: Any])?["code"] as? String
        }

        let zeros = String(repeating: "0", count: 64)
        let mislabelled = try await server.http("PUT", "/v1/artifacts/\(zeros)", body: "not the bytes of that hash")
        #expect(mislabelled.status == 400)
        #expect(code(mislabelled) == "invalidArgument")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/artifacts/main").isEmpty)
        #expect(try await server.http("PUT", "/v1/artifacts/not-a-hash", body: "x").status == 400)
        #expect(try await server.http("PUT", "/v1/artifacts/\(zeros)", body: "x", anonymous: true).status == 401)

        let unknown = try await server.http(
            "POST", "/v1/apps/demo/deploy",
            body:
                #"{"artifact": "\#(zeros)", "manifest": {"appName": "demo", "functions": [{"appName": "demo", "functionName": "f"}]}}"#
        )
        #expect(unknown.status == 404)
        #expect(code(unknown) == "notFound")
        let malformed = try await server.http("POST", "/v1/apps/demo/deploy", body: #"{"manifest": 3}"#)
        #expect(malformed.status == 400)

        // An executable that is not an aloft app prints no manifest.
        let notAnApp = try await aloft(["deploy", "--executable", "/bin/true"], server)
        #expect(notAnApp.status != 0)
        #expect(notAnApp.stderr.contains("did not print an app manifest"), "\(notAnApp.stderr)")
        #expect(try await aloft(["app", "list"], server).stdout.isEmpty)
        #expect(await server.terminate() == 0)
    }
}
