import AloftCore
import AloftWire
import NIOCore
import Testing

@testable import AloftControlPlane

@Suite("Autoscaler")
struct AutoscalerTests {
    let knobs = Autoscaler.Knobs(targetPerContainer: 4, minContainers: 1, maxContainers: 5, bufferContainers: 0)

    @Test("desired containers: load over target, rounded up, within min and max")
    func desired() {
        #expect(Autoscaler.desiredContainers(load: 0, knobs: knobs) == 1)  // the warm floor
        #expect(Autoscaler.desiredContainers(load: 4, knobs: knobs) == 1)
        #expect(Autoscaler.desiredContainers(load: 5, knobs: knobs) == 2)
        #expect(Autoscaler.desiredContainers(load: 100, knobs: knobs) == 5)
        #expect(Autoscaler.desiredContainers(load: 100, knobs: knobs, stopped: true) == 0)
    }

    @Test("buffer containers are added only while there is load")
    func buffer() {
        var buffered = knobs
        buffered.minContainers = 0
        buffered.bufferContainers = 2
        #expect(Autoscaler.desiredContainers(load: 0, knobs: buffered) == 0)
        #expect(Autoscaler.desiredContainers(load: 1, knobs: buffered) == 3)
        #expect(Autoscaler.desiredContainers(load: 17, knobs: buffered) == 5)  // 5 + 2, capped
    }

    @Test("a container takes up to the target below the limit, its slots and the extra at it")
    func inputLimit() {
        #expect(Autoscaler.inputLimit(slots: 8, knobs: knobs, atLimit: false, extra: 0) == 4)
        #expect(Autoscaler.inputLimit(slots: 8, knobs: knobs, atLimit: true, extra: 0) == 8)
        #expect(Autoscaler.inputLimit(slots: 8, knobs: knobs, atLimit: true, extra: 16) == 24)
        #expect(Autoscaler.inputLimit(slots: 2, knobs: knobs, atLimit: false, extra: 0) == 2)
    }

    @Test("only containers idle for the whole window are stopped, and only the surplus")
    func idle() {
        let idle: [(container: String, idleFor: TimeAmount)] = [
            ("a", .seconds(90)), ("b", .seconds(30)), ("c", .seconds(61)),
        ]
        #expect(Autoscaler.idleToStop(idle, active: 3, desired: 0, window: .seconds(60)) == ["a", "c"])
        #expect(Autoscaler.idleToStop(idle, active: 3, desired: 2, window: .seconds(60)) == ["a"])
        #expect(Autoscaler.idleToStop(idle, active: 1, desired: 1, window: .seconds(60)).isEmpty)
    }

    @Test("containers that keep failing to start are started again only for inputs")
    func startFailures() {
        #expect(Autoscaler.mayStart(consecutiveStartFailures: 2, cap: 3, hasBacklog: false))
        #expect(!Autoscaler.mayStart(consecutiveStartFailures: 3, cap: 3, hasBacklog: false))
        #expect(Autoscaler.mayStart(consecutiveStartFailures: 3, cap: 3, hasBacklog: true))
    }
}

@Suite("Store batches")
struct StoreBatchTests {
    @Test("one batch at a time; waiters run after the batch that holds what they wait for")
    func batches() {
        var batch = StoreBatch()
        let idleWait = batch.wait { _ in }
        #expect(!idleWait)  // nothing pending: the waiter may run now
        batch.add(.closeInputs(callID: "fc-1"))
        let pendingWait = batch.wait { _ in }
        #expect(pendingWait)
        let first = batch.startBatch()
        #expect(first?.changes.count == 1 && first?.waiting.count == 1)
        let whileWriting = batch.startBatch()
        #expect(whileWriting == nil)  // the first is being written
        let writingWait = batch.wait { _ in }
        #expect(writingWait)  // waits for the batch being written
        batch.add(.deleteCall(id: "fc-1"))
        let more = batch.batchEnded()
        #expect(more)
        let second = batch.startBatch()
        #expect(second?.changes.count == 1 && second?.waiting.count == 1)
        let none = batch.batchEnded()
        #expect(!none)
    }
}

@Suite("Function options on the wire")
struct OptionsWireTests {
    @Test("options survive the wire; zeros read as the defaults")
    func roundTrip() {
        var options = FunctionOptions(
            timeout: .seconds(30), startupTimeout: .seconds(5), retries: .count(2), minContainers: 1,
            maxContainers: 7, bufferContainers: 1, scaledownWindow: .seconds(9)
        )
        .concurrent(maxInputs: 8, targetInputs: 3)
        options.batching = .init(maxBatchSize: 4, wait: .milliseconds(250))
        #expect(FunctionOptions(wire: Aloft_V1_FunctionOptions(options)) == options)
        options.cpu = .init(request: 0.25, limit: 1.5)
        options.memory = .init(request: 256, limit: 1024)
        options.ephemeralDisk = 2048
        options.blockNetwork = true
        #expect(FunctionOptions(wire: Aloft_V1_FunctionOptions(options)) == options)
        options.cpu = 2
        options.memory = 512
        options.gpu = ["H100:2", "A100-80GB"]
        #expect(FunctionOptions(wire: Aloft_V1_FunctionOptions(options)) == options)
        #expect(!Aloft_V1_FunctionOptions(FunctionOptions()).hasResources, "the defaults are not sent")
        var zeros = FunctionOptions(wire: Aloft_V1_FunctionOptions())
        #expect(zeros.retries.maxRetries == 0 && zeros.retries.initialDelay == .zero)  // a zero delay is a valid delay
        zeros.retries = .none
        #expect(zeros == FunctionOptions())
    }

    @Test("a variant's tag depends only on its options")
    func variantTag() {
        let options = FunctionOptions(timeout: .seconds(10))
        #expect(options.variantTag == FunctionOptions(timeout: .seconds(10)).variantTag)
        #expect(options.variantTag != FunctionOptions(timeout: .seconds(11)).variantTag)
        // Pinned: a tag names a pool, so it must not change with the compiler or between releases.
        #expect(FunctionOptions().variantTag == "d97d7d70b14ddc10")
    }
}

@Suite("Settings")
struct SettingsTests {
    @Test("a flag overrides its variable, which overrides the default; errors name where the value came from")
    func layers() throws {
        let environment = ["ALOFT_SERVER_PORT": "9000", "ALOFT_HTTP_PORT": "", "ALOFT_SERVER_STORE": "nosuch"]
        let fromEnvironment = Settings(environment: environment)
        #expect(try fromEnvironment.port("ALOFT_SERVER_PORT", flag: "--port") == 9000)
        #expect(try fromEnvironment.port("ALOFT_HTTP_PORT", flag: "--http-port") == nil)  // empty is unset
        let flagged = Settings(flags: ["ALOFT_SERVER_PORT": "9001", "ALOFT_HTTP_PORT": nil], environment: environment)
        #expect(try flagged.port("ALOFT_SERVER_PORT", flag: "--port") == 9001)

        let badFlag = Settings(flags: ["ALOFT_SERVER_PORT": "99999"], environment: environment)
        let flagError = #expect(throws: AloftError.self) { try badFlag.port("ALOFT_SERVER_PORT", flag: "--port") }
        #expect(flagError?.code == .invalidConfiguration)
        #expect(flagError?.message == "--port 99999 is not a port number (0-65535)")
        let variableError = #expect(throws: AloftError.self) {
            try fromEnvironment.toggle("ALOFT_SERVER_STORE", flag: "--store")
        }
        #expect(variableError?.message == "ALOFT_SERVER_STORE=nosuch (or --store) is not on or off")
    }
}

@Suite("Host capacity")
struct HostCapacityTests {
    @Test("--gpus reads TYPE:COUNT lists into one device per index; bad lists are clear errors")
    func parsesGPUs() throws {
        #expect(try HostCapacity.gpus(parsing: "H100:2,L4") == ["H100", "H100", "L4"])
        #expect(try HostCapacity.gpus(parsing: "") == [])
        for bad in ["H100:0", "H100:x", ":1", "H100:65"] {
            #expect(throws: AloftError.self) { try HostCapacity.gpus(parsing: bad) }
        }
        let capacity = HostCapacity(cpus: 8, memoryMiB: 4096, gpus: ["H100", "L4", "H100"])
        #expect(capacity.description == "8 cores, 4096 MiB, 1 L4, 2 H100")
    }
}
