public import AloftCore
import AloftWire
import Foundation
import Synchronization

/// A type whose methods run in containers, with lifecycle hooks: Modal's `@app.cls`.
///
/// A container of the class constructs one instance from its parameters and runs `enter` before its first input;
/// every input on that container then sees the state `enter` set. `exit` runs when the container stops (scale-down,
/// SIGTERM, the app stopping), within the 30 s exit grace. Each parameter set is its own pool of containers.
///
/// The instance is shared by the container's inputs, so it must be safe to use from several of them when the class
/// runs concurrent inputs (keep mutable state behind a `Mutex`, or set it only in `enter`).
public protocol RemoteClass: AnyObject, Sendable {
    /// What tells instances apart; Modal allows strings, integers, booleans and bytes, Aloft any `Codable` value.
    associatedtype Parameters: Codable & Hashable & Sendable = NoArguments
    init(parameters: Parameters) throws
    /// Runs once per container, after start-up and before the first input (counted in `startupTimeout`).
    func enter() async throws
    /// Runs once per container when it stops.
    func exit() async
}

extension RemoteClass {
    public func enter() async throws {}
    public func exit() async {}
}

/// A class declared on an app; declare its methods with ``method(_:_:)``.
public struct ClassHandle<C: RemoteClass>: Sendable {
    public let name: String
    public let app: App
    public let options: FunctionOptions
    /// Set on a variant made by `withOptions`: its bound methods use pools of their own.
    var variant: String?

    /// A variant of the class with other options, whose instances get pools of their own (Modal's
    /// `Cls.with_options`). Declare the methods to call through it on the variant.
    public func withOptions(_ update: (inout FunctionOptions) -> Void) -> ClassHandle {
        var options = self.options
        update(&options)
        var variant = ClassHandle(name: name, app: app, options: options)
        variant.variant = options.variantTag
        return variant
    }

    /// A variant with concurrent inputs (Modal's `Cls.with_concurrency`).
    public func withConcurrency(maxInputs: Int, targetInputs: Int? = nil) -> ClassHandle {
        withOptions { $0 = $0.concurrent(maxInputs: maxInputs, targetInputs: targetInputs) }
    }

    /// Declares a method: `body` gets the container's instance and the input.
    public func method<Input: Codable & Sendable, Output: Codable & Sendable>(
        _ methodName: String, _ body: @escaping @Sendable (C, Input) async throws -> Output
    ) -> ClassMethod<C, Input, Output> {
        let qualified = "\(name).\(methodName)"
        // What a container of the class runs: the method on the instance it constructed at start-up.
        let served = Function<Input, Output>(
            name: qualified, app: app, options: options,
            body: .async { input in
                try await body(try ClassInstances.containerInstance(of: C.self, className: name), input)
            })
        // What the container serves is the same for the class and its variants: declared once, by name.
        if ContainerFunctions.named(qualified) == nil { ContainerFunctions.register(served) }
        return ClassMethod(owner: self, name: qualified, body: body)
    }

    /// Declares a method without an input.
    public func method<Output: Codable & Sendable>(
        _ methodName: String, _ body: @escaping @Sendable (C) async throws -> Output
    ) -> ClassMethod<C, NoArguments, Output> {
        method(methodName) { (instance: C, _: NoArguments) in try await body(instance) }
    }
}

/// A method of a class; bind it to parameters with ``with(_:)`` to call it.
public struct ClassMethod<C: RemoteClass, Input: Codable & Sendable, Output: Codable & Sendable>: Sendable {
    let owner: ClassHandle<C>
    public let name: String
    let body: @Sendable (C, Input) async throws -> Output

    /// The method of the instances with `parameters`: a function whose pool of containers (shared with the class's
    /// other methods with the same parameters) constructs the class with them. `.local` constructs one in this process.
    public func with(_ parameters: C.Parameters) -> Function<Input, Output> {
        let encoded = ClassInstances.encode(parameters)
        let poolName =
            "\(owner.name)(\(String(decoding: encoded, as: UTF8.self)))" + (owner.variant.map { "#" + $0 } ?? "")
        let className = owner.name
        let body = self.body
        return Function(
            name: name, app: owner.app, options: owner.options,
            body: .async { input in
                try await body(
                    try await ClassInstances.localInstance(of: C.self, className: className, parameters: parameters),
                    input)
            },
            classBinding: .init(poolName: poolName, className: owner.name, parameters: encoded)
        )
    }
}

extension ClassMethod where C.Parameters == NoArguments {
    /// The method of the class's only instance kind (a class without parameters).
    public var function: Function<Input, Output> { with(NoArguments()) }
}

extension App {
    /// Declares a class whose methods run in containers (Modal's `@app.cls`). Declare it at the top level of
    /// `main.swift`, with its methods, before `app.main()`.
    public func cls<C: RemoteClass>(
        _ type: C.Type, _ name: String? = nil, options: FunctionOptions = .init()
    ) -> ClassHandle<C> {
        let name = name ?? String(describing: type)
        ClassInstances.registerFactory(name) { encoded in
            let parameters = try JSONDecoder().decode(C.Parameters.self, from: encoded)
            let instance = try C(parameters: parameters)
            try await instance.enter()
            return (instance, { await instance.exit() })
        }
        return ClassHandle(name: name, app: self, options: options)
    }
}

/// The instances of classes: the one a container constructed at start-up, and those `.local` made here.
enum ClassInstances {
    typealias Factory = @Sendable (Data) async throws -> (instance: any RemoteClass, exit: @Sendable () async -> Void)

    private static let factories = Mutex<[String: Factory]>([:])
    private static let container = Mutex<(name: String, instance: any RemoteClass, exit: @Sendable () async -> Void)?>(
        nil)
    private static let local = Mutex<[String: Task<any RemoteClass, any Error>]>([:])

    /// Parameters as JSON with sorted keys: equal parameters always name the same pool.
    static func encode<P: Encodable>(_ parameters: P) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(parameters)) ?? Data()
    }

    static func registerFactory(_ name: String, _ factory: @escaping Factory) {
        factories.withLock { $0[name] = factory }
    }

    /// In a container of a class: constructs the instance and runs `enter`. Called before the container connects.
    static func constructContainerInstance(className: String, parameters: Data) async throws {
        guard let factory = factories.withLock({ $0[className] }) else {
            throw AloftError(
                .notFound,
                "class '\(className)' is not declared in this executable (declare it with app.cls before app.main())")
        }
        let made = try await factory(parameters)
        container.withLock { $0 = (className, made.instance, made.exit) }
    }

    /// Runs the container instance's `exit` hook, once.
    static func exitContainerInstance() async {
        let exit = container.withLock { current -> (@Sendable () async -> Void)? in
            defer { current = nil }
            return current?.exit
        }
        await exit?()
    }

    static func containerInstance<C: RemoteClass>(of type: C.Type, className: String) throws -> C {
        guard let current = container.withLock({ $0 }), current.name == className, let instance = current.instance as? C
        else {
            throw AloftError(.invalidConfiguration, "this container holds no instance of class '\(className)'")
        }
        return instance
    }

    /// For `.local`: one instance per class and parameters in this process, entered on first use.
    static func localInstance<C: RemoteClass>(
        of type: C.Type, className: String, parameters: C.Parameters
    ) async throws -> C {
        if let current = container.withLock({ $0 }), current.name == className, let instance = current.instance as? C {
            return instance  // a container calling its own class's method locally
        }
        let key = "\(className)#\(String(decoding: encode(parameters), as: UTF8.self))"
        let task = local.withLock { local in
            if let existing = local[key] { return existing }
            let task = Task<any RemoteClass, any Error> {
                let instance = try C(parameters: parameters)
                try await instance.enter()
                return instance
            }
            local[key] = task
            return task
        }
        guard let instance = try await task.value as? C else {
            throw AloftError(.invalidConfiguration, "class '\(className)' has another type here")
        }
        return instance
    }
}
