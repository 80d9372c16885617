public import AloftCore
import AloftWire
import Foundation
import Synchronization

/// A function that runs in containers: Modal's `modal.Function`. `Input` and `Output` travel as JSON.
///
/// Every call has an async form (`try await f.remote(x)`) and a blocking form (`try f.remote(x)`) of the same
/// name; Swift picks the async one in async code. The blocking form runs the async one on the runtime's own
/// thread and waits.
public struct Function<Input: Codable & Sendable, Output: Codable & Sendable>: Sendable {
    public let name: String
    public let app: App
    public let options: FunctionOptions
    let body: FunctionBody<Input, Output>?
    /// A batched function's body, which takes arrays (then `body` adapts it for `local`).
    let batchBody: BatchBody<Input, Output>?
    let registration: Registration
    /// This process defines the function (for a generator, the body lives in its `GeneratorFunction`).
    let isDefinition: Bool
    /// For a method of a class bound to parameters: the pool it shares with the class's other methods.
    let classBinding: ClassBinding?
    /// Set on a variant made by `withOptions`: it names a pool of its own.
    var variant: String?
    /// Made by `lookup(app:name:)`: a function of a deployed app, found by name on first use, never registered.
    var isDeployedLookup = false
    /// Set by `App.webEndpoint` and `App.webHandler`: how `aloft server` serves it over HTTP.
    var webEndpoint: WebEndpointSpec?

    struct ClassBinding: Sendable {
        var poolName: String
        var className: String
        var parameters: Data
    }

    init(
        name: String, app: App, options: FunctionOptions, body: FunctionBody<Input, Output>?, isDefinition: Bool? = nil,
        batchBody: BatchBody<Input, Output>? = nil, classBinding: ClassBinding? = nil
    ) {
        self.classBinding = classBinding
        self.name = name
        self.app = app
        self.options = options
        self.body = body
        self.batchBody = batchBody
        self.registration = Registration()
        self.isDefinition = isDefinition ?? (body != nil)
    }

    /// Caches the function's id on the control plane it was registered with.
    final class Registration: Sendable {
        let state = Mutex<(connection: UInt64, id: UInt64)?>(nil)
        /// A web endpoint's URL, as the control plane answered the registration.
        let webURL = Mutex<String?>(nil)
    }

    /// The connection and function id to call, registering the function (or looking up a deployed one) on first use.
    func connectAndRegister() async throws -> (WireConnection, UInt64) {
        let connection = try await AloftRuntime.shared.connection(for: app.controlPlane)
        if let cached = registration.state.withLock({ $0 }), cached.connection == connection.serial {
            return (connection, cached.id)
        }
        let request: Aloft_V1_Envelope.OneOf_Body
        if isDeployedLookup {
            var lookup = Aloft_V1_FunctionLookup()
            lookup.appName = app.name
            lookup.functionName = name
            request = .functionLookup(lookup)
        } else {
            try options.validate()
            var register = registrationMessage()
            // A container's own registrations never redefine a pool: it may run a copy of the executable at another
            // path (a worker host's cache), and the pool's definition came from the app that deployed or ran it.
            if AloftRuntime.isContainer { register.isDefinition = false }
            request = .functionRegister(register)
        }
        guard case .functionRegistered(let registered) = try await connection.request(request) else {
            throw AloftError(.protocolError, "unexpected reply to registering function '\(name)'")
        }
        registration.state.withLock { $0 = (connection.serial, registered.functionID) }
        registration.webURL.withLock { $0 = registered.webURL.isEmpty ? nil : registered.webURL }
        return (connection, registered.functionID)
    }

    /// Runs `attempt` on the function's connection. If that connection closes under it (a server restart), it
    /// reconnects within the provider's reconnect window and runs `attempt` again: the input may run twice
    /// (at-least-once), its result is returned once. A control plane that cannot be reached at all fails at once.
    func withReconnects<T>(_ attempt: (WireConnection, UInt64) async throws -> T) async throws -> T {
        let window = AloftRuntime.shared.reconnectWindow(for: app.controlPlane)
        var connected = false
        // Counted from when the connection was lost; a call that then ran longer than the window starts a new one.
        var deadline: ContinuousClock.Instant?
        while true {
            var started = ContinuousClock.now
            do {
                let (connection, functionID) = try await connectAndRegister()
                connected = true
                started = .now
                return try await attempt(connection, functionID)
            } catch let error as AloftError where error.code == .connectionFailed {
                guard connected, !Task.isCancelled else { throw error }
                if deadline == nil || ContinuousClock.now - started > window { deadline = .now + window }
                guard let deadline, ContinuousClock.now < deadline else { throw error }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// What registering this function sends; also its entry in the app's manifest (`aloft deploy`).
    func registrationMessage() -> Aloft_V1_FunctionRegister {
        var register = Aloft_V1_FunctionRegister()
        register.appName = app.name
        register.functionName = name
        register.executable = app.containerExecutable
        register.arguments = app.containerArguments
        register.options = Aloft_V1_FunctionOptions(app.configuration.withAppDefaults(options))
        register.isDefinition = isDefinition
        register.takesArguments = Input.self != NoArguments.self
        if let webEndpoint {
            register.webEndpoint.method = webEndpoint.method?.rawValue ?? ""
            register.webEndpoint.requiresAuth = webEndpoint.requiresAuth
            register.webEndpoint.raw = webEndpoint.method == nil
        }
        register.artifact = AloftRuntime.artifact
        if let classBinding {
            register.poolName = classBinding.poolName
            register.className = classBinding.className
            register.classParameters = classBinding.parameters
        }
        if let variant { register.poolName = (classBinding?.poolName ?? name) + "#" + variant }
        return register
    }

    func encodeInput(_ input: Input, limit: Int) throws -> Data {
        let data: Data
        do {
            data = try PayloadCodec.encode(input)
        } catch {
            throw AloftError(.invalidArgument, "could not encode the argument of '\(name)': \(error)")
        }
        try PayloadCodec.checkSize(data, limit: limit, what: "argument of '\(name)'")
        return data
    }

    static func decode(_ result: Aloft_V1_Result, functionName: String) throws -> Output {
        guard result.status == .success else {
            if !result.error.encodedError.isEmpty,
                let error = ErrorRegistry.decode(typeName: result.error.typeName, data: result.error.encodedError)
            {
                throw error
            }
            throw result.aloftError
        }
        do {
            return try PayloadCodec.decode(Output.self, from: result.data)
        } catch {
            throw AloftError(
                .invalidArgument, "could not decode the result of '\(functionName)' as \(Output.self): \(error)")
        }
    }

    // MARK: remote

    /// Runs the function in a container and returns its result.
    ///
    /// Cancelling the calling task cancels the call: the input stops in its container (see `AloftInput`), and
    /// this throws `CancellationError`.
    public func remote(_ input: Input) async throws -> Output {
        try Task.checkCancellation()  // a cancel sent before the call itself would find nothing to cancel
        let reply = try await withReconnects { connection, functionID in
            var invoke = Aloft_V1_FunctionInvoke()
            invoke.functionID = functionID
            invoke.data = try encodeInput(input, limit: connection.maxPayloadBytes)
            invoke.traceContext = TraceContext.headers()
            let callID = CallID.make()
            invoke.callID = callID
            let request = invoke
            return try await withTaskCancellationHandler {
                try await connection.request(.functionInvoke(request))
            } onCancel: {
                var cancel = Aloft_V1_CallCancel()
                cancel.callID = callID
                connection.send(.callCancel(cancel))
            }
        }
        guard case .invokeResult(let result) = reply else {
            throw AloftError(.protocolError, "unexpected reply to calling '\(name)'")
        }
        if result.result.status == .cancelled && Task.isCancelled { throw CancellationError() }
        return try Self.decode(result.result, functionName: name)
    }

    // MARK: local

    /// Runs the body in this process, as a plain function call (for tests).
    public func local(_ input: Input) async throws -> Output {
        guard let body else {
            throw AloftError(.invalidConfiguration, "'\(name)' has no body here: it was looked up, not defined")
        }
        switch body {
        case .blocking(let run): return try run(input)
        case .async(let run): return try await run(input)
        }
    }

    /// Blocking form of ``local(_:)-(Input)``.
    public func local(_ input: Input) throws -> Output {
        guard let body else {
            throw AloftError(.invalidConfiguration, "'\(name)' has no body here: it was looked up, not defined")
        }
        switch body {
        case .blocking(let run): return try run(input)
        case .async(let run):
            return try AloftRuntime.shared.runBlocking(asyncForm: "try await \(name).local(…)", runsUserCode: true) {
                try await run(input)
            }
        }
    }

    // MARK: spawn

    /// Starts the function without waiting: the result is fetched later with ``FunctionCall/get(timeout:)-(Duration?)``.
    public func spawn(_ input: Input) async throws -> FunctionCall<Output> {
        let (connection, functionID) = try await connectAndRegister()
        var create = Aloft_V1_CallCreate()
        create.functionID = functionID
        create.kind = .spawn
        create.callID = CallID.make()
        create.traceContext = TraceContext.headers()
        var wireInput = Aloft_V1_Input()
        wireInput.data = try encodeInput(input, limit: connection.maxPayloadBytes)
        create.inputs = [wireInput]
        _ = try await connection.request(.callCreate(create))
        return FunctionCall(id: create.callID, app: app, functionName: name)
    }
}

enum BatchBody<Input: Sendable, Output: Sendable>: Sendable {
    case blocking(@Sendable ([Input]) throws -> [Output])
    case async(@Sendable ([Input]) async throws -> [Output])
}

enum FunctionBody<Input: Sendable, Output: Sendable>: Sendable {
    case blocking(@Sendable (Input) throws -> Output)
    case async(@Sendable (Input) async throws -> Output)
}

extension Function where Input == NoArguments {
    public func remote() async throws -> Output { try await remote(NoArguments()) }
    public func remote() throws -> Output { try remote(NoArguments()) }
    public func local() async throws -> Output { try await local(NoArguments()) }
    public func local() throws -> Output { try local(NoArguments()) }
    public func spawn() async throws -> FunctionCall<Output> { try await spawn(NoArguments()) }
    public func spawn() throws -> FunctionCall<Output> { try spawn(NoArguments()) }
}

// MARK: Declaring functions

extension App {
    /// Declares a function with a blocking body. One declaration per function: the container finds it by `name`.
    public func function<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, options: FunctionOptions = .init(), _ body: @escaping @Sendable (Input) throws -> Output
    ) -> Function<Input, Output> {
        define(Function(name: name, app: self, options: options, body: .blocking(body)))
    }

    /// Declares a function with an async body.
    public func function<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, options: FunctionOptions = .init(), _ body: @escaping @Sendable (Input) async throws -> Output
    ) -> Function<Input, Output> {
        define(Function(name: name, app: self, options: options, body: .async(body)))
    }

    /// Declares a function without arguments, with a blocking body.
    public func function<Output: Codable & Sendable>(
        _ name: String, options: FunctionOptions = .init(), _ body: @escaping @Sendable () throws -> Output
    ) -> Function<NoArguments, Output> {
        define(Function(name: name, app: self, options: options, body: .blocking { _ in try body() }))
    }

    /// Declares a function without arguments, with an async body.
    public func function<Output: Codable & Sendable>(
        _ name: String, options: FunctionOptions = .init(), _ body: @escaping @Sendable () async throws -> Output
    ) -> Function<NoArguments, Output> {
        define(Function(name: name, app: self, options: options, body: .async { _ in try await body() }))
    }

    /// A handle on a function of this app defined elsewhere (in the container executable), by name and types.
    /// Nothing is checked until the first call.
    public func lookup<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, input: Input.Type = Input.self, output: Output.Type = Output.self,
        options: FunctionOptions = .init()
    ) -> Function<Input, Output> {
        Function(name: name, app: self, options: options, body: nil)
    }

    /// Declares a batched function (Modal's `@modal.batched`): callers send single inputs, the body receives
    /// them in arrays of up to `maxBatchSize` and returns an array of the same length. A batch runs when it is
    /// full or when its first input has waited `wait`. A throw, or a result of the wrong length, fails every
    /// input of the batch.
    public func batchedFunction<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, maxBatchSize: Int, wait: Duration, options: FunctionOptions = .init(),
        _ body: @escaping @Sendable ([Input]) throws -> [Output]
    ) -> Function<Input, Output> {
        var options = options
        options.batching = .init(maxBatchSize: maxBatchSize, wait: wait)
        let single: FunctionBody<Input, Output> = .blocking { input in try Self.single(try body([input]), name) }
        return define(Function(name: name, app: self, options: options, body: single, batchBody: .blocking(body)))
    }

    /// Declares a batched function with an async body.
    public func batchedFunction<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ name: String, maxBatchSize: Int, wait: Duration, options: FunctionOptions = .init(),
        _ body: @escaping @Sendable ([Input]) async throws -> [Output]
    ) -> Function<Input, Output> {
        var options = options
        options.batching = .init(maxBatchSize: maxBatchSize, wait: wait)
        let single: FunctionBody<Input, Output> = .async { input in try Self.single(try await body([input]), name) }
        return define(Function(name: name, app: self, options: options, body: single, batchBody: .async(body)))
    }

    private static func single<Output>(_ outputs: [Output], _ name: String) throws -> Output {
        guard outputs.count == 1 else {
            throw AloftError(
                .invalidArgument, "batched function '\(name)' returned \(outputs.count) results for 1 input")
        }
        return outputs[0]
    }

    func define<Input, Output>(_ function: Function<Input, Output>) -> Function<Input, Output> {
        ContainerFunctions.register(function)
        declare { function.registrationMessage() }
        return function
    }
}

extension Function {
    /// A function of an app deployed to a server (`aloft deploy`), by app and function name: Modal's
    /// `Function.from_name`. Lazy: nothing is checked until the first call, which fails with `notFound` when no
    /// live version of the app has the function. The types must match the deployed function's.
    ///
    /// - Parameter controlPlane: the server; default `ALOFT_CONTROL_PLANE` (and `ALOFT_TOKEN` for its token).
    public static func lookup(
        app: String, name: String, controlPlane: any ControlPlaneProvider = RemoteControlPlane.environment
    ) -> Self {
        var function = Self(name: name, app: App(app, controlPlane: controlPlane), options: .init(), body: nil)
        function.isDeployedLookup = true
        return function
    }
}

extension Function {
    /// A variant of the function with other options and a pool of containers of its own (Modal's `with_options`).
    /// Variants stack: `f.withOptions { $0.timeout = .seconds(10) }.withOptions { $0.maxContainers = 2 }`.
    public func withOptions(_ update: (inout FunctionOptions) -> Void) -> Function {
        var options = self.options
        update(&options)
        var variant = Function(
            name: name, app: app, options: options, body: body, isDefinition: isDefinition,
            batchBody: batchBody, classBinding: classBinding)
        variant.variant = options.variantTag
        return variant
    }

    /// A variant with concurrent inputs (Modal's `with_concurrency`).
    public func withConcurrency(maxInputs: Int, targetInputs: Int? = nil) -> Function {
        withOptions { $0 = $0.concurrent(maxInputs: maxInputs, targetInputs: targetInputs) }
    }
}
