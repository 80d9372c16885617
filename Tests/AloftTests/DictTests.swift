import Aloft
import Foundation
import Testing

/// Dicts through the SDK, on the embedded control plane and on a server.
@Suite("Dicts", .timeLimit(.minutes(3)))
struct DictTests {
    struct Point: Codable, Hashable, Sendable {
        var x: Int
        var y: Int
    }

    @Test("every operation, async and blocking, with typed keys; pages; errors for missing dicts, big and bad values")
    func operations() async throws {
        let name = "points-" + UUID().uuidString.prefix(8)
        let missing = Dict<Point, String>.fromName(name)
        #expect(await aloftError { _ = try await missing.get(Point(x: 0, y: 0)) }?.code == .notFound)

        let dict = Dict<Point, String>.fromName(name, createIfMissing: true)
        #expect(try await dict.put(Point(x: 1, y: 2), "a"))
        #expect(try await !dict.put(Point(x: 1, y: 2), "b", skipIfExists: true))
        #expect(try await dict.get(Point(x: 1, y: 2)) == "a")
        #expect(try await dict.get(Point(x: 9, y: 9)) == nil)
        try await dict.update((0..<10).map { (Point(x: $0, y: 0), "p\($0)") })
        #expect(try await dict.count() == 11)
        #expect(try await dict.contains(Point(x: 3, y: 0)))
        #expect(try await dict.pop(Point(x: 3, y: 0)) == "p3")
        #expect(try await !dict.contains(Point(x: 3, y: 0)))
        #expect(try await dict.pop(Point(x: 3, y: 0), default: "gone") == "gone")
        #expect(await aloftError { _ = try await dict.pop(Point(x: 3, y: 0)) }?.code == .notFound)

        var seen: [Point: String] = [:]
        for try await (key, value) in dict.items(pageSize: 3) { seen[key] = value }
        #expect(seen.count == 10 && seen[Point(x: 1, y: 2)] == "a" && seen[Point(x: 9, y: 0)] == "p9")
        var keys: [Point] = []
        for try await key in dict.keys() { keys.append(key) }
        #expect(Set(keys) == Set(seen.keys))

        // A value over the payload limit, and one read as another type, are clear errors that lose nothing.
        let big = String(repeating: "x", count: 3 << 20)
        #expect(await aloftError { try await dict.put(Point(x: 7, y: 7), big) }?.code == .payloadTooLarge)
        let asNumbers = Dict<Point, Int>.fromName(name)
        #expect(await aloftError { _ = try await asNumbers.get(Point(x: 1, y: 2)) }?.code == .invalidArgument)
        #expect(try await dict.count() == 10)

        // The blocking forms, from a plain thread.
        let blocking = try await offThePool {
            try dict.put(Point(x: 100, y: 0), "blocking")
            return (try dict[Point(x: 100, y: 0)], try dict.count(), try dict.allItems().count)
        }
        #expect(blocking.0 == "blocking" && blocking.1 == 11 && blocking.2 == 11)
        try await dict.clear()
        #expect(try await dict.count() == 0)
        try await dict.delete()
        #expect(await aloftError { _ = try await missing.count() }?.code == .notFound)
    }

    @Test("a container reads and writes the caller's dict by name; an ephemeral dict too")
    func fromContainers() async throws {
        let name = "shared-" + UUID().uuidString.prefix(8)
        let dict = Dict<String, Int>.fromName(name, createIfMissing: true)
        try await dict.put("seed", 7)
        let roundTrip: Function<String, Int?> = fixtures.lookup("dict_round_trip")
        #expect(try await roundTrip.remote(name) == 7)
        #expect(try await dict.get("from-container") == 42)

        let ephemeral = try await Dict<String, Int>.ephemeral()
        try await ephemeral.put("seed", 8)
        #expect(try await roundTrip.remote(ephemeral.name) == 8)
        #expect(try await ephemeral.get("from-container") == 42)
    }

    @Test(
        "on a server: an acknowledged put survives kill -9; another workspace sees nothing; ephemeral dicts are not kept"
    )
    func serverDurability() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await ServerProcess(dataDirectory: directory)
        let provider = RemoteControlPlane(first.address, token: first.token)
        let dict = Dict<String, [Int]>.fromName("durable", createIfMissing: true, controlPlane: provider)
        for index in 0..<200 { try await dict.put("k\(index)", [index, index * 2]) }
        try await dict.update([("many", [1, 2, 3])])
        _ = try await dict.pop("k0")
        let ephemeral = try await Dict<String, Int>.ephemeral(controlPlane: provider)
        try await ephemeral.put("x", 1)
        let roundTrip: Function<String, Int?> = first.app("dicts").lookup("dict_round_trip")
        #expect(try await roundTrip.remote("durable") == nil)  // the container writes "from-container"
        await first.kill()

        let second = try await ServerProcess(dataDirectory: directory)
        let again = Dict<String, [Int]>.fromName(
            "durable", controlPlane: RemoteControlPlane(second.address, token: second.token))
        #expect(try await again.count() == 201)
        #expect(try await again.get("k199") == [199, 398])
        #expect(try await again.get("k0") == nil)
        #expect(try await again.get("many") == [1, 2, 3])
        let fromContainer = Dict<String, Int>.fromName(
            "durable", controlPlane: RemoteControlPlane(second.address, token: second.token))
        #expect(try await fromContainer.get("from-container") == 42)
        let lostEphemeral = Dict<String, Int>.fromName(
            ephemeral.name, controlPlane: RemoteControlPlane(second.address, token: second.token))
        #expect(await aloftError { _ = try await lostEphemeral.count() }?.code == .notFound)

        let otherToken = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "other", "--data-dir", directory]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let elsewhere = Dict<String, [Int]>.fromName(
            "durable", controlPlane: RemoteControlPlane(second.address, token: otherToken))
        #expect(await aloftError { _ = try await elsewhere.get("k1") }?.code == .notFound)
        #expect(await second.terminate() == 0)
    }

    @Test("the HTTP API and aloft dict read and write the same entries as the SDK; other workspaces get 404")
    func httpAndCLI() async throws {
        let directory = temporaryPath("aloft-server")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let server = try await ServerProcess(dataDirectory: directory)
        let provider = RemoteControlPlane(server.address, token: server.token)
        let dict = Dict<Point, [String: Int]>.fromName("shared", createIfMissing: true, controlPlane: provider)
        try await dict.put(Point(x: 1, y: 2), ["b": 2, "a": 1])
        let put = try await server.http(
            "POST", "/v1/dicts/shared/put", body: #"{"key": {"y": 5, "x": 4}, "value": {"z": 26}}"#)
        #expect(put.status == 200 && put.json["written"] as? Bool == true)
        #expect(try await dict.get(Point(x: 4, y: 5)) == ["z": 26])
        let got = try await server.http("POST", "/v1/dicts/shared/get", body: #"{"key": {"x": 1, "y": 2}}"#)
        #expect((got.json["value"] as? [String: Int]) == ["a": 1, "b": 2])
        #expect(try await server.http("GET", "/v1/dicts/shared").json["count"] as? Int == 2)
        #expect(try await server.http("POST", "/v1/dicts/nothing/get", body: #"{"key": 1}"#).status == 404)
        #expect(try await server.http("POST", "/v1/dicts/shared/get", body: "not json").status == 400)

        func aloft(
            _ arguments: [String], token: String? = nil
        ) async throws -> (
            status: Int32, stdout: String, stderr: String
        ) {
            try await runProduct(
                "aloft", arguments: arguments,
                environment: ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": token ?? server.token])
        }
        #expect(try await aloft(["dict", "list"]).stdout == "shared\n")
        let value = try await aloft(["dict", "get", "shared", #"{"x":1,"y":2}"#])
        #expect(value.status == 0 && value.stdout == #"{"a":1,"b":2}"# + "\n", "\(value.stderr)")
        let items = try await aloft(["dict", "items", "shared"])
        #expect(items.stdout.split(separator: "\n").count == 2, "\(items.stdout)")
        #expect(try await aloft(["dict", "get", "shared", "7"]).status != 0)
        #expect(try await aloft(["dict", "clear", "shared"]).stdout.contains("2 entries"))
        #expect(try await dict.count() == 0)
        #expect(try await aloft(["dict", "delete", "shared"]).status == 0)
        let existing = Dict<Point, [String: Int]>.fromName("shared", controlPlane: provider)
        #expect(await aloftError { _ = try await existing.count() }?.code == .notFound)

        let otherToken = try await runProduct(
            "aloft", arguments: ["token", "new", "--workspace", "other", "--data-dir", directory]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try await dict.put(Point(x: 0, y: 0), [:])
        #expect(try await server.http("GET", "/v1/dicts/shared", token: otherToken).status == 404)
        #expect(try await aloft(["dict", "list"], token: otherToken).stdout.isEmpty)
        #expect(await server.terminate() == 0)
    }
}
