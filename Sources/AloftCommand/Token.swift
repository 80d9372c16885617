import AloftControlPlane
import AloftCore
import AloftServer
import ArgumentParser
import Foundation
import Logging

/// `aloft token new | list | revoke`: tokens in a server's store, managed where the store is (the data directory,
/// or the PostgreSQL database); a running server sees changes at once.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make, list and revoke the tokens clients present to a server.",
        subcommands: [New.self, List.self, Revoke.self]
    )

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it (it is shown once; only a hash of it is stored).")

        @Option(help: "The workspace it works in: its functions and calls are invisible to other workspaces.")
        var workspace = "main"

        @Option(help: "client (calls functions) or worker (a worker host).")
        var kind = "client"

        @Option(help: "How long it works: 30d, 12h, 45m or 90s from now (default: until revoked).")
        var expires: String?

        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let kind = StoredToken.Kind(rawValue: kind) else {
                throw ValidationError("--kind is client or worker, not '\(kind)'")
            }
            let expiresAt = try expires.map { Date().addingTimeInterval(try Self.seconds(in: $0)) }
            let (token, record) = try Tokens.issue(workspace: workspace, kind: kind, expiresAt: expiresAt)
            try await store.with { try await $0.apply([.putToken(record)]) }
            print(token)
            if let expiresAt {
                FileHandle.standardError.write(
                    Data("expires at \(ISO8601DateFormatter().string(from: expiresAt))\n".utf8))
            }
        }

        /// The seconds in a lifetime such as `30d`, `12h`, `45m` or `90s`.
        static func seconds(in lifetime: String) throws -> TimeInterval {
            let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            guard let unit = lifetime.last.flatMap({ units[$0] }), let count = Int(lifetime.dropLast()), count > 0
            else {
                throw ValidationError(
                    "--expires is a positive number and a unit: 30d, 12h, 45m or 90s (got '\(lifetime)')")
            }
            return TimeInterval(count) * unit
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List tokens: id, workspace, kind, created, state (active, revoked or expired), expiry.")

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let tokens = try await store.with { try await $0.tokens() }
            let formatter = ISO8601DateFormatter()
            for token in tokens {
                print(
                    [
                        token.id, token.workspace, token.kind.rawValue, formatter.string(from: token.createdAt),
                        token.revoked ? "revoked" : token.hasExpired() ? "expired" : "active",
                        token.expiresAt.map { formatter.string(from: $0) } ?? "never",
                    ].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id (the part after aloft_).")

        @Argument(help: "The token's id, as `aloft token list` shows it.")
        var id: String

        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await store.with { store in
                guard try await store.token(id: id) != nil else { throw ValidationError("no token with id '\(id)'") }
                try await store.apply([.revokeToken(id: id)])
            }
            print("revoked \(id)")
        }
    }
}

/// Where a server keeps its state: shared by `aloft server` and the commands that work on its store.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .customLong("data-dir"),
        help: "The database, the socket and the first token [$ALOFT_DATA_DIR, default ~/.aloft].")
    var dataDirectory: String?

    @Option(
        help:
            "sqlite (durable, default), postgres (durable, in a PostgreSQL database) or memory (nothing survives a restart) [$ALOFT_SERVER_STORE]."
    )
    var store: String?

    @Option(
        name: .customLong("postgres-url"),
        help:
            "postgres://user:password@host:port/database, for --store postgres [$ALOFT_POSTGRES_URL; prefer it: flags show in ps]."
    )
    var postgresURL: String?

    @Option(
        name: .customLong("postgres-schema"),
        help: "The PostgreSQL schema for Aloft's tables [$ALOFT_POSTGRES_SCHEMA, default aloft].")
    var postgresSchema: String?

    /// These flags, by the variables they override.
    var flags: [String: String?] {
        [
            AloftEnvironment.dataDirectory: dataDirectory, AloftEnvironment.store: store,
            AloftEnvironment.postgresURL: postgresURL, AloftEnvironment.postgresSchema: postgresSchema,
        ]
    }

    /// Opens the store, runs `body` with it, and closes it.
    func with<T: Sendable>(_ body: (any ControlPlaneStore) async throws -> T) async throws -> T {
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration(
                settings: Settings(flags: flags, environment: ProcessInfo.processInfo.environment))
        } catch {
            throw ValidationError("\(error)")
        }
        guard configuration.store != .memory else {
            throw ValidationError("a memory store lives inside its server: nothing to manage here")
        }
        if configuration.store == .sqlite && !FileManager.default.fileExists(atPath: configuration.databasePath) {
            throw ValidationError(
                "no server data at \(configuration.databasePath) (start `aloft server` there first, or pass --data-dir)"
            )
        }
        var logger = Logger(label: "aloft.token")
        logger.logLevel = .warning
        let store = try configuration.makeStore(logger: logger)
        try await store.open()
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}
