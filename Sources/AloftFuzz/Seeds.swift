import AloftCore
import AloftWire
import Foundation

/// The fuzzer's starting inputs, made from the wire's own types so that they stay valid as the protocol grows:
/// `aloft-fuzz-wire --write-seeds DIRECTORY` (scripts/fuzz --seeds) writes them to `fuzz/corpus/wire`.
/// Each is a cut byte (see `WireFuzzer`) and the frames a peer would send: a client that says hello and then
/// registers, calls, spawns, maps, cancels, looks up, follows logs and uses dicts and queues, a container and a worker host that say hello
/// unknown to the server, and hellos with a wrong version or role.
enum Seeds {
    static func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (name, (cut, frames)) in all {
            var bytes: [UInt8] = [cut]
            for (requestID, body) in frames.enumerated() {
                bytes += try Aloft_V1_Envelope(requestID: UInt64(requestID + 1), body: body).frameBytes()
            }
            try Data(bytes).write(to: URL(fileURLWithPath: directory + "/seed-" + name))
        }
        print("wrote \(all.count) seeds to \(directory)")
    }

    private typealias Body = Aloft_V1_Envelope.OneOf_Body

    private static var all: [String: (UInt8, [Body])] {
        let client = hello(.client)
        return [
            "hello": (0, [client]),
            "hello-bad-version": (1, [hello(.client, version: 9_999)]),
            "hello-twice": (2, [client, client]),
            "no-hello": (0, [.functionLookup(lookup())]),
            "container-unknown": (3, [hello(.container, containerID: "ctr-0000000000000000")]),
            "worker-no-token": (0, [hello(.worker)]),
            "register-invoke": (0, [client, .functionRegister(register()), .functionInvoke(invoke())]),
            "register-invoke-split": (7, [client, .functionRegister(register()), .functionInvoke(invoke())]),
            "spawn-get-cancel": (
                1,
                [
                    client, .functionRegister(register()), .callCreate(create(.spawn, last: true)),
                    .callGet(get()), .callCancel(cancel()),
                ]
            ),
            "map-inputs": (
                2,
                [
                    client, .functionRegister(register()), .callCreate(create(.map, last: false)),
                    .callPutInputs(put()), .callPutInputs(put(last: true)),
                ]
            ),
            "generator": (0, [client, .functionRegister(register()), .callCreate(create(.generator, last: true))]),
            "dict-ops": (
                2,
                [
                    client, .dictRequest(dict(.put)), .dictRequest(dict(.get)), .dictRequest(dict(.scan)),
                    .dictRequest(dict(.createEphemeral)), .dictRequest(dict(.delete)),
                ]
            ),
            "queue-ops": (
                1,
                [
                    client, .queueRequest(queue(.get)), .queueRequest(queue(.put)), .queueRequest(queue(.peek)),
                    .queueRequest(queue(.createEphemeral)), .queueRequest(queue(.clear)),
                ]
            ),
            "lookup-stats-logs": (
                0, [client, .functionLookup(lookup()), .functionGetStats(stats()), .logsFollow(logs())]
            ),
        ]
    }

    private static func hello(
        _ role: Aloft_V1_Role, version: UInt32 = AloftLimits.protocolVersion, containerID: String = ""
    ) -> Body {
        var hello = Aloft_V1_Hello()
        hello.protocolVersion = version
        hello.role = role
        hello.containerID = containerID
        return .hello(hello)
    }

    private static func register() -> Aloft_V1_FunctionRegister {
        var register = Aloft_V1_FunctionRegister()
        register.appName = "fuzz"
        register.functionName = "square"
        register.executable = "/fuzz/app"
        register.isDefinition = true
        return register
    }

    private static func invoke() -> Aloft_V1_FunctionInvoke {
        var invoke = Aloft_V1_FunctionInvoke()
        invoke.functionID = 1
        invoke.data = Data("7".utf8)
        invoke.callID = "fc-0000000000000001"
        return invoke
    }

    private static func create(_ kind: Aloft_V1_CallKind, last: Bool) -> Aloft_V1_CallCreate {
        var create = Aloft_V1_CallCreate()
        create.functionID = 1
        create.kind = kind
        create.callID = "fc-0000000000000002"
        create.inputs = [input(0)]
        create.last = last
        return create
    }

    private static func put(last: Bool = false) -> Aloft_V1_CallPutInputs {
        var put = Aloft_V1_CallPutInputs()
        put.callID = "fc-0000000000000002"
        put.inputs = [input(1), input(2)]
        put.last = last
        return put
    }

    private static func input(_ index: UInt64) -> Aloft_V1_Input {
        var input = Aloft_V1_Input()
        input.index = index
        input.data = Data("\(index)".utf8)
        return input
    }

    private static func get() -> Aloft_V1_CallGet {
        var get = Aloft_V1_CallGet()
        get.callID = "fc-0000000000000002"
        get.timeoutMs = 0
        return get
    }

    private static func cancel() -> Aloft_V1_CallCancel {
        var cancel = Aloft_V1_CallCancel()
        cancel.callID = "fc-0000000000000002"
        return cancel
    }

    private static func lookup() -> Aloft_V1_FunctionLookup {
        var lookup = Aloft_V1_FunctionLookup()
        lookup.appName = "fuzz"
        lookup.functionName = "square"
        return lookup
    }

    private static func stats() -> Aloft_V1_FunctionGetStats {
        var stats = Aloft_V1_FunctionGetStats()
        stats.functionID = 1
        return stats
    }

    private static func dict(_ op: Aloft_V1_DictOp) -> Aloft_V1_DictRequest {
        var request = Aloft_V1_DictRequest()
        request.name = "fuzz"
        request.createIfMissing = true
        request.op = op
        request.key = Data("\"k\"".utf8)
        request.value = Data("1".utf8)
        return request
    }

    private static func queue(_ op: Aloft_V1_QueueOp) -> Aloft_V1_QueueRequest {
        var request = Aloft_V1_QueueRequest()
        request.name = "fuzz"
        request.createIfMissing = true
        request.op = op
        request.items = [Data("1".utf8)]
        request.timeoutMs = 1_000
        return request
    }

    private static func logs() -> Aloft_V1_LogsFollow {
        var logs = Aloft_V1_LogsFollow()
        logs.appName = "fuzz"
        return logs
    }
}
