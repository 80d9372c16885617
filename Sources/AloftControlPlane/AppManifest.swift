public import AloftCore
package import AloftWire
public import Foundation
import SwiftProtobuf

/// What an app declares for a deployment: its name and its functions with their options, as its executable prints
/// them when run with `ALOFT_PRINT_MANIFEST=1` (what `aloft deploy` sends).
public struct AppManifest: Sendable, Hashable {
    package var wire: Aloft_V1_AppManifest

    package init(wire: Aloft_V1_AppManifest) {
        self.wire = wire
    }

    /// Reads the manifest an app's executable printed (JSON). Throws `invalidArgument` for anything else.
    public init(json: Data) throws(AloftError) {
        do {
            wire = try Aloft_V1_AppManifest(jsonUTF8Data: json)
        } catch {
            throw AloftError(.invalidArgument, "the manifest is not an app's manifest (aloft.v1.AppManifest): \(error)")
        }
    }

    /// A manifest as a deployed version keeps it (`StoredAppVersion.manifest`).
    public init(stored: Data) throws(AloftError) {
        do {
            wire = try Aloft_V1_AppManifest(serializedBytes: stored)
        } catch {
            throw AloftError(.storeFailure, "a stored manifest could not be decoded: \(error)")
        }
    }

    public var appName: String { wire.appName }

    /// The functions it declares, in declaration order.
    public var functionNames: [String] { wire.functions.map(\.functionName) }

    /// The functions declared as web endpoints or raw web handlers.
    public var webEndpointNames: [String] { wire.functions.filter(\.hasWebEndpoint).map(\.functionName) }

    /// The options function `name` declares, if it is in the manifest.
    public func options(of name: String) -> FunctionOptions? {
        wire.functions.first { $0.functionName == name }.map { FunctionOptions(wire: $0.options) }
    }

    /// The bytes a deployed version keeps.
    var stored: Data {
        get throws { try wire.serializedBytes() }
    }

    /// The schedule function `name` declares, if it is in the manifest and has one.
    public func schedule(of name: String) -> Schedule? {
        options(of: name)?.schedule
    }

    /// Throws `invalidArgument` for a manifest that names no app, declares no functions, or declares a function of
    /// another app; `invalidConfiguration` for options out of their limits, a cron expression that cannot be read,
    /// or a schedule on a function that takes arguments.
    func validate() throws(AloftError) {
        guard !appName.isEmpty else { throw AloftError(.invalidArgument, "the manifest names no app") }
        guard !wire.functions.isEmpty else {
            throw AloftError(.invalidArgument, "app '\(appName)' declares no functions: nothing to deploy")
        }
        for function in wire.functions where function.appName != appName || function.functionName.isEmpty {
            throw AloftError(
                .invalidArgument,
                "function '\(function.functionName)' of the manifest does not belong to app '\(appName)'")
        }
        for function in wire.functions {
            let options = FunctionOptions(wire: function.options)
            do {
                try options.validate()
            } catch {
                throw AloftError(error.code, "function '\(function.functionName)': \(error.message)")
            }
            if options.schedule != nil && function.takesArguments {
                throw AloftError(
                    .invalidConfiguration,
                    "function '\(function.functionName)' has a schedule but takes arguments: a schedule calls its "
                        + "function with none")
            }
        }
    }
}
