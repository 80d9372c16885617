import Aloft
import AloftPostgres
import Foundation
import Testing

/// Several hosts on this machine: network namespaces joined by a bridge. The server (with PostgreSQL, when the run
/// has one, else SQLite) listens on the bridge in this namespace; two worker hosts run in namespaces of their own and
/// reach it only over the bridge. Needs root (`ip netns`); skipped elsewhere.
@Suite(
    "Multi-host (network namespaces)", .serialized, .timeLimit(.minutes(8)), .enabled { await NetworkHosts.available })
struct MultiHostTests {
    @Test(
        "the seed example and a 10,000-input map across two worker hosts; a worker killed and the server restarted mid-map lose nothing"
    )
    func acrossHosts() async throws {
        try await NetworkHosts.with(workers: 2) { hosts in try await acrossHosts(hosts) }
    }

    func acrossHosts(_ hosts: NetworkHosts) async throws {
        let directory = temporaryPath("aloft-multihost")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freePort()
        var serverArguments = [
            "--host", hosts.serverIP, "--port", String(port), "--local-worker", "off", "--worker-lease", "3",
        ]
        var schema: String?
        if let url = testPostgresURL {
            schema = "aloft_multihost_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
            serverArguments += ["--store", "postgres", "--postgres-url", url, "--postgres-schema", schema!]
        }
        var server = try await ServerProcess(dataDirectory: directory, arguments: serverArguments)
        let address = "\(hosts.serverIP):\(port)"
        let token = try await runProduct(
            "aloft",
            arguments: ["token", "new", "--kind", "worker", "--data-dir", directory] + storeArguments(serverArguments)
        )
        .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let workers = try await (0..<2).asyncMap { index in
            try await WorkerProcess(
                server: server, token: token, name: "host\(index + 1)",
                cacheDirectory: "\(directory)/cache-\(index + 1)",
                namespace: hosts.namespaces[index], serverAddress: address, maxContainers: 3)
        }
        let cli = ["ALOFT_API_URL": server.httpURL, "ALOFT_TOKEN": server.token]

        // The seed example, its functions running on the worker hosts from the uploaded executable.
        let seed = try await runProduct(
            "aloft",
            arguments: [
                "run", "--executable", productsDirectory.appendingPathComponent("seed-example").path,
                "--server", address,
            ], environment: cli)
        #expect(seed.status == 0, "\(seed.stderr)")
        #expect(seed.stdout.contains("420\n"))
        #expect(seed.stdout.contains("gathered 100 results"))

        let deployed = try await runProduct(
            "aloft",
            arguments: ["deploy", "--executable", productsDirectory.appendingPathComponent("aloft-test-app").path],
            environment: cli)
        #expect(deployed.status == 0, "\(deployed.stderr)")
        let squareWhere = Function<Int, String>.lookup(
            app: "fixtures", name: "square_where",
            controlPlane: RemoteControlPlane(address, token: server.token))
        var index = 0
        var hostsSeen: Set<String> = []
        for try await result in squareWhere.map(0..<10_000) {
            let parts = result.split(separator: "@")
            #expect(parts.count == 2 && String(parts[0]) == String(index * index), "input \(index): \(result)")
            hostsSeen.insert(String(parts.last ?? ""))
            index += 1
            if index == 2_500 { await workers[0].kill() }
            if index == 5_000 {
                await server.kill()
                server = try await ServerProcess(dataDirectory: directory, arguments: serverArguments)
            }
        }
        #expect(index == 10_000)
        #expect(hostsSeen == ["host1", "host2"])
        // Each worker fetched the executables it ran once, by hash, into its cache (beside its relay socket).
        let cached = try FileManager.default.contentsOfDirectory(atPath: "\(directory)/cache-2").filter {
            !$0.contains(".partial") && $0 != "control.sock"
        }
        #expect(cached.count == 2 && cached.allSatisfy { $0.count == 64 }, "\(cached)")
        #expect(await server.terminate() == 0)
        if let url = testPostgresURL, let schema {
            let cleanup = try PostgresStore(url: url, schema: schema)
            try await cleanup.open()
            try await cleanup.dropSchema()
            await cleanup.close()
        }
    }

    /// The store flags of the server's arguments, for `aloft token` on the same store.
    func storeArguments(_ arguments: [String]) -> [String] {
        var result: [String] = []
        for flag in ["--store", "--postgres-url", "--postgres-schema"] {
            if let position = arguments.firstIndex(of: flag) { result += [flag, arguments[position + 1]] }
        }
        return result
    }
}

/// `.ci/run` installs iproute2 and sets `ALOFT_REQUIRE_NETNS=1`, so that a CI run cannot pass with the multi-host
/// suite skipped.
@Suite("Network namespace availability")
struct NetworkHostsAvailabilityTests {
    @Test(
        "root, ip and network namespaces are there for the multi-host suite",
        .enabled(if: ProcessInfo.processInfo.environment["ALOFT_REQUIRE_NETNS"] == "1"))
    func available() async {
        #expect(await NetworkHosts.available, "the multi-host suite needs root, /usr/sbin/ip (iproute2) and ip netns")
    }
}

/// Network namespaces as hosts: a bridge in this namespace (the server's host) and one namespace per worker host,
/// each joined to the bridge by a veth pair, on a /24 of 10.213.0.0/16.
final class NetworkHosts: @unchecked Sendable {
    let serverIP: String
    let namespaces: [String]
    private let bridge: String

    /// Root, `ip`, and a namespace can be made (found out once).
    static var available: Bool {
        get async { await probe.value }
    }

    private static let probe = Task<Bool, Never> {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") else { return false }
        let name = "aloft-probe-\(getpid())"
        guard (try? await ip(["netns", "add", name])) != nil else { return false }
        _ = try? await ip(["netns", "del", name])
        return true
    }

    /// Makes the hosts, runs `body` with them and removes them, whether `body` throws or not.
    static func with(workers: Int, _ body: (NetworkHosts) async throws -> Void) async throws {
        let hosts = try await NetworkHosts(workers: workers)
        do {
            try await body(hosts)
        } catch {
            await hosts.remove()
            throw error
        }
        await hosts.remove()
    }

    private init(workers: Int) async throws {
        let tag = String(getpid() % 100_000)
        let subnet = "10.213.\(Int(getpid()) % 250 + 1)"
        bridge = "albr\(tag)"
        serverIP = "\(subnet).1"
        namespaces = (1...workers).map { "aloft-\(tag)-w\($0)" }
        do {
            try await Self.ip(["link", "add", bridge, "type", "bridge"])
            try await Self.ip(["addr", "add", "\(serverIP)/24", "dev", bridge])
            try await Self.ip(["link", "set", bridge, "up"])
            for (offset, namespace) in namespaces.enumerated() {
                let outside = "alv\(offset)h\(tag)"
                let inside = "alv\(offset)n\(tag)"
                try await Self.ip(["netns", "add", namespace])
                try await Self.ip(["link", "add", outside, "type", "veth", "peer", "name", inside])
                try await Self.ip(["link", "set", inside, "netns", namespace])
                try await Self.ip(["link", "set", outside, "master", bridge, "up"])
                try await Self.ip(["-n", namespace, "addr", "add", "\(subnet).\(offset + 2)/24", "dev", inside])
                try await Self.ip(["-n", namespace, "link", "set", inside, "up"])
                try await Self.ip(["-n", namespace, "link", "set", "lo", "up"])
            }
        } catch {
            await remove()
            throw error
        }
    }

    func remove() async {
        // Deleting a namespace takes its veth pair with it.
        for namespace in namespaces { _ = try? await Self.ip(["netns", "del", namespace]) }
        _ = try? await Self.ip(["link", "del", bridge])
    }

    @discardableResult
    static func ip(_ arguments: [String]) async throws -> String {
        let run = try await runProcess("/usr/sbin/ip", arguments: arguments, timeout: .seconds(30))
        guard run.status == 0 else {
            throw AloftError(
                .invalidConfiguration, "ip \(arguments.joined(separator: " ")) failed: \(run.stdout)\(run.stderr)")
        }
        return run.stdout
    }
}
