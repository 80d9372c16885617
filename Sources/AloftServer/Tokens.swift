public import AloftControlPlane
import AloftCore
import Crypto
public import Foundation

/// Client and worker tokens: `aloft_<id>_<secret>`. The id is public (lists, revocation); only a SHA-256 of the
/// secret is stored, so a leaked database does not leak usable tokens.
public enum Tokens {
    /// A new token for `workspace`: the text to hand to its user (shown once) and the record to store.
    public static func issue(
        workspace: String, kind: StoredToken.Kind, expiresAt: Date? = nil
    ) throws -> (token: String, record: StoredToken) {
        guard !workspace.isEmpty,
            workspace.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) })
        else {
            throw AloftError(.invalidConfiguration, "a workspace name is letters, digits, - and _ (got '\(workspace)')")
        }
        let id = randomHex(bytes: 6)
        let secret = randomHex(bytes: 24)
        return (
            "aloft_\(id)_\(secret)",
            StoredToken(
                id: id, workspace: workspace, kind: kind, secretHash: hash(secret), createdAt: Date(),
                expiresAt: expiresAt)
        )
    }

    /// The id and secret of a token's text, or nil if it is not one.
    static func parse(_ token: String) -> (id: String, secret: String)? {
        let parts = token.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "aloft", !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    static func hash(_ secret: String) -> String {
        Hex.string(SHA256.hash(data: Data(secret.utf8)))
    }

    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return Hex.string((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// Checks client tokens against the store (each check reads it, so a revocation takes effect at once for new
/// connections and HTTP requests; the control plane checks open connections' tokens again every few seconds).
public struct StoreTokenAuthenticator: ClientAuthenticator {
    let store: any ControlPlaneStore

    public init(store: any ControlPlaneStore) {
        self.store = store
    }

    public func workspace(forToken token: String, kind: StoredToken.Kind) async throws -> String {
        guard !token.isEmpty else {
            throw AloftError(
                .unauthenticated,
                kind == .worker
                    ? "this server needs a worker token: pass --token (make one with `aloft token new --kind worker`)"
                    : "this server needs a token: set ALOFT_TOKEN (make one with `aloft token new`)")
        }
        guard let (id, secret) = Tokens.parse(token) else {
            throw AloftError(.unauthenticated, "the token is not an aloft token (aloft_<id>_<secret>)")
        }
        guard let stored = try await store.token(id: id), Secrets.equal(stored.secretHash, Tokens.hash(secret)) else {
            throw AloftError(.unauthenticated, "token \(id) is not known to this server")
        }
        guard stored.kind == kind else {
            throw AloftError(
                .unauthenticated, "token \(id) is a \(stored.kind.rawValue) token; this needs a \(kind.rawValue) token")
        }
        guard !stored.revoked else { throw AloftError(.unauthenticated, "token \(id) was revoked") }
        if let expiry = stored.expiresAt, stored.hasExpired() {
            throw AloftError(
                .unauthenticated,
                "token \(id) expired at \(ISO8601DateFormatter().string(from: expiry)); make a new one")
        }
        return stored.workspace
    }
}
