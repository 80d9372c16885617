import AloftControlPlane
import AloftCore
import Foundation
import Hummingbird
import Prometheus

/// The HTTP/JSON API: deployed functions for callers in any language, and deployment for `aloft deploy`/`aloft app`.
///
///     POST /v1/apps/{app}/functions/{function}/call    body: the argument as JSON  ->  200 {"result": …}
///     POST /v1/apps/{app}/functions/{function}/spawn   body: the argument as JSON  ->  202 {"call_id": "fc-…"}
///     GET  /v1/calls/{call_id}?timeout=SECONDS                                      ->  200 {"result": …}
///                                                                        (not finished yet: 202 {"status": "pending"})
///
///     PUT  /v1/artifacts/{sha256}        body: the executable      ->  201 {"artifact": …, "bytes": …}
///     HEAD /v1/artifacts/{sha256}                                  ->  200, or 404 when it was never uploaded
///     GET  /v1/artifacts/{sha256}        (worker or client token)  ->  200 the executable
///     POST /v1/apps/{app}/deploy         body: {"artifact": sha256, "manifest": {AppManifest as protobuf JSON}}
///                                                                  ->  201 {"app": …, "version": N}
///     GET  /v1/apps                                                ->  200 {"apps": [{"name", "live_version", "versions", "deployed_at"}]}
///     GET  /v1/apps/{app}/versions                                 ->  200 {"versions": [{"version", "artifact", "functions", "deployed_at", "live"}]}
///     POST /v1/apps/{app}/stop                                     ->  200 {"app": …, "stopped": true}
///     POST /v1/apps/{app}/rollback       body: {"version": N} or empty (the previous version)  ->  200 {"app": …, "version": N}
///     GET  /v1/schedules, /v1/apps/{app}/schedules  ->  200 {"schedules": [{"app", "function", "schedule", "next_run",
///                                                  "last_run", "last_call_id", "last_status", "last_error"}]}
///
///     GET  /v1/apps/{app}/logs?…                                  ->  200 {"lines": […], "next_after": SEQ}  (HTTPAPI+Logs)
///     GET  /metrics                      (a token of workspace main)  ->  200 Prometheus text (HTTPAPI+Metrics)
///
///     ANY  /{workspace}/{app}/{label}    a web endpoint (`app.webEndpoint`): the argument's JSON (or the query)
///                                        ->  200 the result's JSON, or 303 to /v1/web-results/{workspace}/{call_id}
///
/// The argument is what the Swift SDK would encode: a function of one `Codable` argument takes that argument's JSON,
/// one of two takes the array `[first, second]`, one of none takes an empty body; a `Data` argument or result is a
/// base64 string. Every request needs `Authorization: Bearer <token>` (`Authentication`) and works in the token's
/// workspace. Routes throw; `ErrorResponses` turns every error into `{"error": {"code", "message"}}` with the status
/// its code maps to (`HTTPAPI.status(for:)`).
enum HTTPAPI {
    static func router(
        controlPlane: ControlPlane, authenticator: any ClientAuthenticator, artifacts: FileArtifactStore,
        maxPayloadBytes: Int, webRedirectAfter: Duration = .seconds(150), metrics: PrometheusCollectorRegistry? = nil
    ) -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        if metrics != nil { router.add(middleware: MetricsMiddleware()) }
        router.add(middleware: ErrorResponses())
        if let metrics {
            addMetrics(to: router, registry: metrics, controlPlane: controlPlane, authenticator: authenticator)
        }
        Dashboard.add(to: router, controlPlane: controlPlane, authenticator: authenticator)
        addWebEndpoints(
            to: router, controlPlane: controlPlane, authenticator: authenticator, maxPayloadBytes: maxPayloadBytes,
            redirectAfter: webRedirectAfter)
        let clients = router.group("v1").add(middleware: Authentication(authenticator: authenticator, kinds: [.client]))
        addCalls(to: clients, controlPlane: controlPlane, maxPayloadBytes: maxPayloadBytes)
        addApps(to: clients, controlPlane: controlPlane)
        addSchedules(to: clients, controlPlane: controlPlane)
        addLogs(to: clients, controlPlane: controlPlane)
        addSecrets(to: clients, controlPlane: controlPlane)
        addDicts(to: clients, controlPlane: controlPlane)
        addQueues(to: clients, controlPlane: controlPlane)
        addArtifactUploads(to: clients, artifacts: artifacts)
        // Worker hosts fetch executables to run; a client may fetch what its workspace uploaded.
        let fetchers = router.group("v1").add(
            middleware: Authentication(authenticator: authenticator, kinds: [.worker, .client]))
        addArtifactDownloads(to: fetchers, artifacts: artifacts)
        return router
    }
}

/// A request of the API, with the workspace of its token once `Authentication` has checked it.
struct APIRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    var workspace = ""

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// Checks the bearer token and puts its workspace in the context; a missing or wrong token is `unauthenticated`
/// (401). A token is tried as each of `kinds` in turn.
struct Authentication: RouterMiddleware {
    let authenticator: any ClientAuthenticator
    let kinds: [StoredToken.Kind]

    func handle(
        _ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        let header = request.headers[.authorization] ?? ""
        let token =
            header.lowercased().hasPrefix("bearer ")
            ? String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces) : ""
        var context = context
        context.workspace = try await workspace(of: token)
        return try await next(request, context)
    }

    private func workspace(of token: String) async throws -> String {
        var refusal = AloftError(.unauthenticated, "a token is needed")
        for kind in kinds {
            do {
                return try await authenticator.workspace(forToken: token, kind: kind)
            } catch let error as AloftError where error.code == .unauthenticated {
                refusal = error
            } catch {
                throw AloftError(.storeFailure, "the token could not be checked; try again")
            }
        }
        throw refusal
    }
}

/// Answers every error a route throws as the API's JSON error; Hummingbird's own (an unknown route) stay its own.
struct ErrorResponses: RouterMiddleware {
    func handle(
        _ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as AloftError {
            return HTTPAPI.failure(error)
        } catch let error as any HTTPResponseError {
            throw error
        } catch {
            return HTTPAPI.failure(error)
        }
    }
}
