// W10's floor: a plain Hummingbird server answering the same trivial JSON as the benchmark's endpoint, so that
// `bench/web` shows what the HTTP layer alone costs. `aloft-bench-http-floor [PORT]` prints `listening PORT`.
import Hummingbird

#if canImport(Glibc)
@preconcurrency import Glibc
#endif

let router = Router()
router.get("square") { request, _ -> Response in
    let x = request.uri.queryParameters.get("x", as: Int.self) ?? 0
    return Response(
        status: .ok, headers: [.contentType: "application/json"],
        body: .init(byteBuffer: ByteBuffer(string: #"{"square":\#(x * x)}"#)))
}
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 0
let server = Application(
    router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
    onServerRunning: { channel in print("listening \(channel.localAddress?.port ?? port)") })
setvbuf(stdout, nil, _IOLBF, 0)
try await server.runService(gracefulShutdownSignals: [.sigterm, .sigint])
