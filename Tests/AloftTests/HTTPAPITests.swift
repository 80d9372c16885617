import Aloft
import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The HTTP/JSON API of a real `aloft server`, called over HTTP as a program in another language would.
@Suite("HTTP API", .serialized, .timeLimit(.minutes(5)))
struct HTTPAPITests {
    func errorCode(_ reply: ServerProcess.Reply) -> String? {
        (reply.json["error"] as? [String: Any])?["code"] as? String
    }

    @Test("call, spawn and fetch a registered function over HTTP/JSON; failures carry a code and a fitting status")
    func callSpawnAndFetch() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        // A run of the app against the server registers its functions.
        let app = server.app("web")
        #expect(try await (app.lookup("square") as Function<Int, Int>).remote(2) == 4)
        #expect(try await (app.lookup("reverse_bytes") as Function<Data, Data>).remote(Data([1])) == Data([1]))
        _ = try? await (app.lookup("fail_plain") as Function<String, Int>).remote("x")
        _ = try await (app.lookup("sleepy") as Function<Double, Int>).remote(0)
        let base = "/v1/apps/web/functions"

        let squared = try await server.http("POST", base + "/square/call", body: "7")
        #expect(squared.status == 200)
        #expect(squared.json["result"] as? Int == 49)

        // base64 of 1, 2, 3
        let reversed = try await server.http("POST", base + "/reverse_bytes/call", body: #""AQID""#)
        #expect(reversed.json["result"] as? String == "AwIB")

        let thrown = try await server.http("POST", base + "/fail_plain/call", body: #""boom""#)
        #expect(thrown.status == 500)
        #expect(errorCode(thrown) == "remoteError")

        let undecodable = try await server.http("POST", base + "/square/call", body: #""seven""#)
        #expect(undecodable.status == 400)
        #expect(errorCode(undecodable) == "invalidArgument")
        // Said plainly, not as Swift's DecodingError dump.
        let said = (undecodable.json["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(said.hasSuffix("as Int: expected Int at the top level"), "\(said)")
        #expect(!said.contains("DecodingError") && !said.contains("Context("), "\(said)")

        // A generator's items cannot come back from /call: refused, not answered null.
        let countUp: GeneratorFunction<Int, Int> = app.lookupGenerator("count_up")
        var items: [Int] = []
        for try await item in countUp.remoteStream(2) { items.append(item) }
        #expect(items == [0, 1])
        let generator = try await server.http("POST", base + "/count_up/call", body: "3")
        #expect(generator.status == 400)
        #expect(errorCode(generator) == "invalidArgument")
        let refusal = (generator.json["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(refusal.contains("'count_up' is a generator"), "\(refusal)")

        let missing = try await server.http("POST", base + "/nosuch/call", body: "1")
        #expect(missing.status == 404)
        #expect(errorCode(missing) == "notFound")

        let oversized = try await server.http(
            "POST", base + "/square/call", body: String(repeating: "1", count: 3 * 1024 * 1024))
        #expect(oversized.status == 413)
        #expect(errorCode(oversized) == "payloadTooLarge")

        // Pending until the test lets it go: the release file is made after the first GET.
        let release = temporaryPath("aloft-release")
        defer { try? FileManager.default.removeItem(atPath: release) }
        // A call from Swift registers the function (its file exists: it answers at once).
        #expect(try await (app.lookup("wait_for_file") as Function<String, Int>).remote(directory) == 0)
        let spawned = try await server.http("POST", base + "/wait_for_file/spawn", body: "\"\(release)\"")
        #expect(spawned.status == 202)
        let callID = try #require(spawned.json["call_id"] as? String)
        let pending = try await server.http("GET", "/v1/calls/\(callID)")
        #expect(pending.status == 202)
        #expect(pending.json["status"] as? String == "pending")
        _ = FileManager.default.createFile(atPath: release, contents: nil)
        let finished = try await server.http("GET", "/v1/calls/\(callID)?timeout=30")
        #expect(finished.status == 200)
        #expect(finished.json["result"] as? Int == 0)
        // The same call from Swift, by id.
        #expect(try await FunctionCall<Int>(id: callID, app: app).get(timeout: .seconds(10)) == 0)

        let unknown = try await server.http("GET", "/v1/calls/fc-nosuchcall")
        #expect(unknown.status == 404)

        // The same through `aloft call` and `aloft result`.
        let api = ["--api", server.httpURL, "--token", server.token]
        let called = try await runProduct("aloft", arguments: ["call", "web.square", "--json", "6"] + api)
        #expect(called.status == 0, "stderr: \(called.stderr)")
        #expect(called.stdout == "36\n")
        let spawnedByCLI = try await runProduct(
            "aloft", arguments: ["call", "web.sleepy", "--json", "0.1", "--spawn"] + api)
        let cliCallID = spawnedByCLI.stdout.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(
            of: "\"", with: "")
        #expect(cliCallID.hasPrefix("fc-"), "stdout: \(spawnedByCLI.stdout) stderr: \(spawnedByCLI.stderr)")
        let fetched = try await runProduct("aloft", arguments: ["result", cliCallID, "--timeout", "30"] + api)
        #expect(fetched.stdout == "0\n", "stderr: \(fetched.stderr)")
        let failed = try await runProduct("aloft", arguments: ["call", "web.nosuch", "--json", "1"] + api)
        #expect(failed.status == 1)
        #expect(failed.stderr.contains("notFound"))
        let misnamed = try await runProduct("aloft", arguments: ["call", "square"] + api)
        #expect(misnamed.status != 0)
        #expect(misnamed.stderr.contains("APP.FUNCTION"))
        #expect(await server.terminate() == 0)
    }
}
