package import AloftCore
import SwiftProtobuf

// Function options cross the wire once, at registration: the SDK writes them, the control plane reads them back
// into `FunctionOptions`. A zero on the wire means the field's default.

extension Aloft_V1_FunctionOptions {
    package init(_ options: FunctionOptions) {
        self.init()
        func ms(_ duration: Duration) -> UInt32 { UInt32(clamping: duration.wireMilliseconds) }
        timeoutMs = ms(options.timeout)
        startupTimeoutMs = options.startupTimeout.map(ms) ?? 0
        maxRetries = UInt32(options.retries.maxRetries)
        backoffCoefficient = options.retries.backoffCoefficient
        initialDelayMs = ms(options.retries.initialDelay)
        maxDelayMs = ms(options.retries.maxDelay)
        maxBatchSize = UInt32(options.batching?.maxBatchSize ?? 0)
        batchWaitMs = options.batching.map { ms($0.wait) } ?? 0
        maxInputs = UInt32(options.maxInputs)
        targetInputs = UInt32(options.targetInputs ?? options.maxInputs)
        minContainers = UInt32(options.minContainers)
        maxContainers = UInt32(options.maxContainers ?? 0)
        bufferContainers = UInt32(options.bufferContainers)
        scaledownWindowMs = ms(options.scaledownWindow)
        environment = options.environment
        secrets = options.secrets.map(Aloft_V1_SecretRef.init)
        if let schedule = options.schedule { self.schedule = Aloft_V1_Schedule(schedule) }
        let resources = Aloft_V1_ContainerResources(options)
        if resources != Aloft_V1_ContainerResources() { self.resources = resources }
    }
}

extension Aloft_V1_ContainerResources {
    /// The resources `options` ask for; the defaults are sent as zeros (and then not at all), so that options
    /// without resources encode, and hash (`variantTag`), as before resources existed.
    package init(_ options: FunctionOptions) {
        self.init()
        if options.cpu.request != FunctionOptions.CPU.default.request { cpuRequest = options.cpu.request }
        cpuLimit = options.cpu.limit ?? 0
        if options.memory.request != FunctionOptions.Memory.default.request {
            memoryRequestMib = UInt32(clamping: options.memory.request)
        }
        memoryLimitMib = UInt32(clamping: options.memory.limit ?? 0)
        ephemeralDiskMib = UInt32(clamping: options.ephemeralDisk ?? 0)
        blockNetwork = options.blockNetwork
        gpu = options.gpu?.descriptions ?? []
    }

    /// The CPU these resources ask for (zeros: the defaults).
    package var cpu: FunctionOptions.CPU {
        FunctionOptions.CPU(
            request: cpuRequest > 0 ? cpuRequest : FunctionOptions.CPU.default.request,
            limit: cpuLimit > 0 ? cpuLimit : nil)
    }

    /// The memory these resources ask for (zeros: the defaults).
    package var memory: FunctionOptions.Memory {
        FunctionOptions.Memory(
            request: memoryRequestMib > 0 ? Int(memoryRequestMib) : FunctionOptions.Memory.default.request,
            limit: memoryLimitMib > 0 ? Int(memoryLimitMib) : nil)
    }
}

extension Aloft_V1_Schedule {
    package init(_ schedule: Schedule) {
        self.init()
        catchUp = schedule.catchUp
        switch schedule.kind {
        case .period(let period):
            // Negative fields fail validation before anything is sent; clamped here only so that encoding never traps.
            func field(_ value: Int) -> UInt32 { UInt32(clamping: value) }
            (years, months, weeks) = (field(period.years), field(period.months), field(period.weeks))
            (days, hours, minutes) = (field(period.days), field(period.hours), field(period.minutes))
            seconds = period.seconds
        case .cron(let expression, let timeZone):
            cron = expression
            self.timeZone = timeZone
        }
    }
}

extension Schedule {
    package init(wire: Aloft_V1_Schedule) {
        if wire.cron.isEmpty {
            let period = Period(
                years: Int(wire.years), months: Int(wire.months), weeks: Int(wire.weeks), days: Int(wire.days),
                hours: Int(wire.hours), minutes: Int(wire.minutes), seconds: wire.seconds)
            self.init(.period(period), catchUp: wire.catchUp)
        } else {
            self.init(.cron(wire.cron, timeZone: wire.timeZone.isEmpty ? "UTC" : wire.timeZone), catchUp: wire.catchUp)
        }
    }
}

extension Aloft_V1_SecretRef {
    package init(_ secret: Secret) {
        self.init()
        switch secret.source {
        case .named(let name, let required):
            self.name = name
            requiredKeys = required
        case .values(let values):
            self.values = values
        }
    }
}

extension Secret {
    /// A secret as the wire carries it; sealed values must have been opened (`values`) before.
    package init(wire: Aloft_V1_SecretRef) {
        self.init(
            source: wire.name.isEmpty ? .values(wire.values) : .named(wire.name, requiredKeys: wire.requiredKeys))
    }
}

extension FunctionOptions {
    /// The options a registration carries; zeros (an older or hand-written peer) read as the defaults.
    package init(wire: Aloft_V1_FunctionOptions) {
        func duration(_ ms: UInt32, default fallback: Duration) -> Duration {
            ms == 0 ? fallback : Duration(wireMilliseconds: ms)
        }
        let maxInputs = max(1, Int(wire.maxInputs))
        self.init(
            timeout: duration(wire.timeoutMs, default: .seconds(300)),
            startupTimeout: wire.startupTimeoutMs == 0 ? nil : Duration(wireMilliseconds: wire.startupTimeoutMs),
            retries: Retries(
                maxRetries: Int(wire.maxRetries),
                backoffCoefficient: max(1, wire.backoffCoefficient),
                initialDelay: Duration(wireMilliseconds: wire.initialDelayMs),
                maxDelay: duration(wire.maxDelayMs, default: .seconds(60))
            ),
            maxInputs: maxInputs,
            targetInputs: wire.targetInputs == 0 ? nil : min(Int(wire.targetInputs), maxInputs),
            minContainers: Int(wire.minContainers),
            maxContainers: wire.maxContainers == 0 ? nil : Int(wire.maxContainers),
            bufferContainers: Int(wire.bufferContainers),
            scaledownWindow: duration(wire.scaledownWindowMs, default: .seconds(60)),
            environment: wire.environment,
            secrets: wire.secrets.map(Secret.init(wire:)),
            schedule: wire.hasSchedule ? Schedule(wire: wire.schedule) : nil,
            cpu: wire.resources.cpu,
            memory: wire.resources.memory,
            ephemeralDisk: wire.resources.ephemeralDiskMib > 0 ? Int(wire.resources.ephemeralDiskMib) : nil,
            blockNetwork: wire.resources.blockNetwork,
            gpu: wire.resources.gpu.isEmpty
                ? nil : FunctionOptions.GPU(choices: wire.resources.gpu.flatMap { FunctionOptions.GPU($0).choices })
        )
        if wire.maxBatchSize > 0 {
            batching = Batching(
                maxBatchSize: Int(wire.maxBatchSize), wait: Duration(wireMilliseconds: wire.batchWaitMs))
        }
    }

    /// A short name for these options that is the same in every process and with every compiler: a hash of their
    /// canonical wire encoding (Swift's `Hasher` is seeded per process, and `String(describing:)` is not stable).
    package var variantTag: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        let bytes: [UInt8] = (try? Aloft_V1_FunctionOptions(self).serializedBytes()) ?? []
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
