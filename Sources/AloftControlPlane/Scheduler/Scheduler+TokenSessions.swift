import AloftCore
import Logging
import NIOCore

/// The connections let in by a token of the authenticator (clients and worker hosts), so that a token revoked or
/// expired after they were welcomed ends them too.
struct TokenSessions {
    struct Session {
        let key: TokenKey
        let channel: any WirePeer
    }

    /// By connection. Tokens are kept in memory only, to be checked again; never logged.
    var byChannel: [ObjectIdentifier: Session] = [:]
    var lastCheck: NIODeadline
    var checking = false
}

// Open connections' tokens are checked again every `tokenRecheckInterval` (one authenticator look-up per distinct
// token): a connection whose token was revoked or has expired is closed, as its next hello would be refused.
// A check that fails for another reason (the store is down) closes nothing.

extension Scheduler {
    func sessionOpened(_ channel: any WirePeer, token: String, kind: StoredToken.Kind) {
        sessions.byChannel[ObjectIdentifier(channel)] = .init(key: TokenKey(token: token, kind: kind), channel: channel)
    }

    func sessionClosed(_ channel: any WirePeer) {
        sessions.byChannel[ObjectIdentifier(channel)] = nil
    }

    /// Called by the reaper: starts a round of checks when one is due and none runs.
    func recheckTokensIfDue(now: NIODeadline) {
        guard let authenticator = configuration.authenticator, !sessions.checking, !sessions.byChannel.isEmpty,
            now - sessions.lastCheck >= TimeAmount(configuration.tokenRecheckInterval)
        else { return }
        sessions.checking = true
        let tokens = Set(sessions.byChannel.values.map(\.key))
        let refused = loop.makePromise(of: [TokenKey: String].self)
        refused.completeWithTask {
            var refused: [TokenKey: String] = [:]
            for key in tokens {
                do {
                    _ = try await authenticator.workspace(forToken: key.token, kind: key.kind)
                } catch let error as AloftError where error.code == .unauthenticated {
                    refused[key] = error.message
                } catch {
                    continue  // not a verdict on the token: checked again next round
                }
            }
            return refused
        }
        refused.futureResult.whenComplete { [self] result in
            sessions.checking = false
            sessions.lastCheck = loop.now
            guard case .success(let refused) = result, !refused.isEmpty else { return }
            closeSessions(refused)
        }
    }

    private func closeSessions(_ refused: [TokenKey: String]) {
        for (key, session) in sessions.byChannel {
            guard let reason = refused[session.key] else { continue }
            sessions.byChannel[key] = nil
            logger.notice(
                "closing a connection whose token no longer admits it", metadata: ["aloft.reason": "\(reason)"])
            session.channel.close()
        }
    }
}

struct TokenKey: Hashable, Sendable {
    let token: String
    let kind: StoredToken.Kind
}
