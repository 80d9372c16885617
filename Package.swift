// swift-tools-version: 6.2
import PackageDescription

// Dependency direction (a target imports only what it lists):
//   AloftCore  <-  AloftWire  <-  AloftClient (the SDK)           <-  Aloft (umbrella: SDK + embedded control plane)
//                             <-  AloftControlPlane (never imports the SDK)  <-'
//                                   <-  AloftSQLite, AloftPostgres (the store in SQLite, in PostgreSQL)
//                                   <-  AloftServer (`aloft server`: control plane + store)  <-  aloft (the CLI)
//                                   <-  AloftWorker (`aloft worker`: runs a server's containers on another host)  <-
// The project's own code builds without warnings (CI builds from clean, so every warning would show); SwiftPM
// ignores this setting when Aloft is a dependency of another package.
let noWarnings: [SwiftSetting] = [.treatAllWarnings(as: .error)]
let upcoming: [SwiftSetting] =
    [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ] + noWarnings

let package = Package(
    name: "aloft",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Aloft", targets: ["Aloft"]),
        .library(name: "AloftClient", targets: ["AloftClient"]),
        .library(name: "AloftControlPlane", targets: ["AloftControlPlane"]),
        .library(name: "AloftTesting", targets: ["AloftTesting"]),
        // The control plane's spans over OTLP from a program of your own (`aloft server` has `--otlp-endpoint`).
        .library(name: "AloftOTLP", targets: ["AloftOTLP"]),
        .executable(name: "aloft", targets: ["AloftCommand"]),
        .executable(name: "aloft-fuzz-wire", targets: ["AloftFuzz"]),
        .executable(name: "hello", targets: ["hello"]),
        .executable(name: "seed-example", targets: ["seed-example"]),
        .executable(name: "concurrency-example", targets: ["concurrency-example"]),
        .executable(name: "hello-client", targets: ["hello-client"]),
        .executable(name: "starter", targets: ["starter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // `aloft deploy` streams its upload with it (for a progress line); AloftTracing posts spans with it.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .target(name: "AloftCore", swiftSettings: upcoming),
        .target(
            name: "AloftWire",
            dependencies: [
                "AloftCore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["Generated/README.md"],
            swiftSettings: upcoming
        ),
        .target(
            name: "AloftClient",
            dependencies: [
                "AloftCore", "AloftWire", "CAloftStdio",
                // Typed entrypoint arguments (`ParsableArguments`).
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                // Types only (a raw web handler's request and response), no HTTP server.
                .product(name: "HTTPTypes", package: "swift-http-types"),
                // The instrumentation API only (the caller's trace context on the wire); a tracer is the app's choice.
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ],
            swiftSettings: upcoming
        ),
        // posix_spawn for container processes (closefrom, signal defaults, a process group): C, for the glibc API.
        .target(name: "CAloftSpawn"),
        // fopencookie for a container's tagged stdout and stderr (glibc's, which the Glibc module does not show).
        .target(name: "CAloftStdio"),
        .target(
            name: "AloftControlPlane",
            dependencies: [
                "AloftCore", "AloftWire", "AloftTracing", "CAloftSpawn",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "Aloft",
            dependencies: [
                "AloftClient", "AloftControlPlane", .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcoming),
        // The test kit: an app's containers as threads of the test process (the real scheduler and wire).
        .target(
            name: "AloftTesting", dependencies: ["Aloft", "AloftClient", "AloftControlPlane", "AloftCore"],
            swiftSettings: upcoming),

        // Server mode: the store in SQLite (the system's libsqlite3), the server, and the `aloft` command.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "AloftSQLite", dependencies: ["AloftCore", "AloftControlPlane", "CSQLite"], swiftSettings: upcoming),
        .target(
            name: "AloftPostgres",
            dependencies: [
                "AloftCore", "AloftControlPlane",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "AloftServer",
            dependencies: [
                "AloftCore", "AloftWire", "AloftControlPlane", "AloftSQLite", "AloftPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .target(
            name: "AloftWorker",
            dependencies: [
                "AloftCore", "AloftWire", "AloftControlPlane",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        // A light tracer (swift-distributed-tracing's `Tracer`) whose spans the control plane also records directly.
        .target(
            name: "AloftTracing", dependencies: [.product(name: "Tracing", package: "swift-distributed-tracing")],
            swiftSettings: upcoming),
        // Its OTLP/HTTP exporter, for `aloft server` (an HTTP client the SDK's programs do not link).
        .target(
            name: "AloftOTLP",
            dependencies: [
                "AloftCore", "AloftTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),
        .executableTarget(
            name: "AloftCommand",
            dependencies: [
                "AloftCore", "AloftServer", "AloftControlPlane", "AloftWorker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                // `aloft server --otlp-endpoint`: the OTLP exporter of the control plane's spans.
                "AloftOTLP",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: upcoming
        ),

        // The wire fuzzer: libFuzzer's target with `scripts/fuzz`, a replayer of its corpus otherwise.
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "AloftFuzz",
            dependencies: [
                "AloftCore", "AloftControlPlane", "AloftWire", "CLibFuzzer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: upcoming
        ),

        // Examples a newcomer runs with `swift run <name>`.
        .executableTarget(name: "hello", dependencies: ["Aloft"], path: "Examples/hello", swiftSettings: noWarnings),
        // What `aloft new NAME` writes (AloftCommand/NewCommand.swift holds the same text; a test compares them).
        .executableTarget(
            name: "starter", dependencies: ["Aloft"], path: "Examples/starter", swiftSettings: noWarnings),
        .executableTarget(
            name: "seed-example", dependencies: ["Aloft"], path: "Examples/seed-example", swiftSettings: noWarnings),
        .executableTarget(
            name: "concurrency-example", dependencies: ["Aloft"], path: "Examples/concurrency-example",
            swiftSettings: noWarnings),
        .executableTarget(
            name: "hello-client", dependencies: ["Aloft"], path: "Examples/hello-client", swiftSettings: noWarnings),

        // Quick workloads of ../shared/bench/WORKLOADS.md: `swift run -c release aloft-bench`.
        .executableTarget(
            name: "aloft-bench",
            dependencies: [
                "Aloft", "AloftControlPlane", .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "AloftTracing", "AloftOTLP", "AloftWire",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ], path: "bench/aloft-bench",
            swiftSettings: noWarnings),
        // W10's floor (bench/web): a plain Hummingbird server.
        .executableTarget(
            name: "aloft-bench-http-floor", dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            path: "bench/http-floor", swiftSettings: noWarnings),

        // The executable the end-to-end tests start as containers.
        .target(name: "AloftTestFixtures", dependencies: ["Aloft"], path: "Tests/Fixtures", swiftSettings: upcoming),
        .executableTarget(
            name: "aloft-test-app", dependencies: ["Aloft", "AloftControlPlane", "AloftTestFixtures"],
            path: "Tests/TestApp",
            swiftSettings: noWarnings),
        // The scheduler in-process: a fake container runtime and an embedded event loop (milliseconds, no processes).
        .testTarget(
            name: "AloftControlPlaneTests",
            dependencies: [
                "AloftCore", "AloftWire", "AloftControlPlane", "AloftTracing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            exclude: ["Fixtures"],  // read from the source tree (cron-next.json: scripts/cron-fixtures.py)
            swiftSettings: upcoming
        ),
        // AloftTesting's test: an example app (a library and its executable), one test body in both container modes.
        .target(
            name: "AloftTestingExample", dependencies: ["Aloft"], path: "Tests/TestingExample", swiftSettings: upcoming),
        .executableTarget(
            name: "aloft-testing-example", dependencies: ["AloftTestingExample"], path: "Tests/TestingExampleApp",
            swiftSettings: noWarnings),
        .testTarget(
            name: "AloftTestingTests", dependencies: ["Aloft", "AloftTesting", "AloftTestingExample"],
            swiftSettings: upcoming),
        // The light tracer's ids, sampling and OTLP encodings (protobuf checked with `protoc --decode_raw`).
        .testTarget(
            name: "AloftTracingTests",
            dependencies: [
                "AloftCore", "AloftTracing", "AloftOTLP",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: upcoming),
        // The HTTP API's routes, in-process (HummingbirdTesting's router) and live.
        .testTarget(
            name: "AloftServerTests",
            dependencies: [
                "AloftCore", "AloftControlPlane", "AloftServer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
        .testTarget(
            name: "AloftTests",
            dependencies: [
                "Aloft", "AloftCore", "AloftWire", "AloftClient", "AloftControlPlane", "AloftTestFixtures",
                "AloftSQLite", "AloftPostgres", "AloftServer",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: upcoming
        ),
    ]
)
