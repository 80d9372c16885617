import Logging
import AloftWire
import NIOCore

// Connections from their arrival to their close: the caps on how many (in all, and from one peer before they are
// welcomed), the idle timeout of welcomed clients, and what a closed one leaves behind.

extension Scheduler {
    /// An open connection and its handler.
    struct OpenConnection {
        let channel: any WirePeer
        let handler: ConnectionHandler
    }

    /// Counts a new connection in; false (and the connection closed) when the control plane has as many as it
    /// takes, or its peer has as many unwelcomed ones as it may.
    func connectionOpened(_ connection: ConnectionHandler, channel: any WirePeer) -> Bool {
        loop.assertInEventLoop()
        let limits = configuration.connectionLimits
        guard connections.count < limits.total else {
            return refuse(channel, "at the connection limit", metadata: ["aloft.max_connections": "\(limits.total)"])
        }
        if let peer = channel.peerIPAddress {
            guard unwelcomedPeers.admit(peer) else {
                return refuse(
                    channel, "its peer has too many connections that are not welcomed yet",
                    metadata: ["aloft.peer": "\(peer)", "aloft.unwelcomed_per_peer": "\(limits.unwelcomedPerPeer)"])
            }
            connection.unwelcomedPeer = peer
        }
        connection.lastRead = loop.now
        connections[ObjectIdentifier(channel)] = OpenConnection(channel: channel, handler: connection)
        return true
    }

    private func refuse(_ channel: any WirePeer, _ reason: String, metadata: Logger.Metadata) -> Bool {
        logUnwelcomed("refused a connection: \(reason)", metadata: metadata)
        channel.close()
        return false
    }

    /// Logs what a peer that is not welcomed did (it was refused, sent garbage, said nothing): the first of each
    /// kind, then every 1,000th with the count, so that a flood of connections is not a flood of log lines.
    func logUnwelcomed(_ message: String, level: Logger.Level = .warning, metadata: Logger.Metadata = [:]) {
        guard unwelcomedLog[message, default: RefusalLog()].count() else { return }
        var metadata = metadata
        metadata["aloft.times"] = "\(unwelcomedLog[message]?.refused ?? 1)"
        logger.log(level: level, "\(message)", metadata: metadata)
    }

    /// The connection was welcomed: it no longer counts against its peer's unwelcomed ones.
    func connectionWelcomed(_ connection: ConnectionHandler) {
        guard let peer = connection.unwelcomedPeer else { return }
        connection.unwelcomedPeer = nil
        unwelcomedPeers.release(peer)
    }

    /// A connection closed: a container's ends it, a worker host's loses the host; a client's drops what only it
    /// was waiting for (spawned calls live on).
    func connectionClosed(_ connection: ConnectionHandler, channel: any WirePeer) {
        loop.assertInEventLoop()
        guard connections.removeValue(forKey: ObjectIdentifier(channel)) != nil else { return }  // refused
        connectionWelcomed(connection)
        logFollowers.remove(channel)
        dicts.dropEphemeral(ownedBy: ObjectIdentifier(channel))
        queueConnectionClosed(ObjectIdentifier(channel))
        sessionClosed(channel)
        switch connection.role {
        case .container: containerConnectionClosed(connection.containerID)
        case .worker: workerLost(channel, reason: "its connection closed")
        default: clientLeft(ObjectIdentifier(channel))
        }
    }

    private func clientLeft(_ key: ObjectIdentifier) {
        for input in inputs.values where !input.isAnswered {
            if case .invoke(let owner, _, _) = input.owner, ObjectIdentifier(owner) == key {
                cancelInput(input, message: "the caller went away")
            }
        }
        // Its maps and generators end, those with inputs still to run and those whose inputs were all answered but
        // which it had not ended yet (no last input sent): nothing else would take them out of the table.
        for call in Array(calls.values)
        where (call.kind == .map || call.kind == .generator) && call.subscriber.map(ObjectIdentifier.init) == key {
            call.subscriber = nil
            cancelCall(call)
        }
        for call in calls.values { _ = call.removeWaiters { $0.channel == key } }
    }

    /// Closes welcomed client connections idle past `ConnectionLimits.idleTimeout` that wait for nothing; looked at
    /// every few seconds, not every reaper round.
    func closeIdleClientsIfDue(now: NIODeadline) {
        guard let timeout = configuration.connectionLimits.idleTimeout.map(TimeAmount.init) else { return }
        guard now - lastIdleCheck >= min(timeout, .seconds(5)) else { return }
        lastIdleCheck = now
        let idle = connections.values.filter { $0.handler.role == .client && now - $0.handler.lastRead >= timeout }
        guard !idle.isEmpty else { return }
        let awaited = awaitedConnections()
        for connection in idle where !awaited.contains(ObjectIdentifier(connection.channel)) {
            logger.debug("closing an idle client connection", metadata: ["aloft.idle_timeout": "\(timeout)"])
            connection.channel.close()
        }
    }

    /// Connections that wait for something: a `.remote` in flight, a map or generator whose outputs they take, a
    /// `get` pending, or logs they follow.
    private func awaitedConnections() -> Set<ObjectIdentifier> {
        var awaited = Set<ObjectIdentifier>()
        for input in inputs.values where !input.isAnswered {
            if case .invoke(let owner, _, _) = input.owner { awaited.insert(ObjectIdentifier(owner)) }
        }
        for call in calls.values {
            if let subscriber = call.subscriber, !call.isDone { awaited.insert(ObjectIdentifier(subscriber)) }
            for waiter in call.waiters { if let channel = waiter.channel { awaited.insert(channel) } }
        }
        for connection in connections.values where logFollowers.isFollowing(connection.channel) {
            awaited.insert(ObjectIdentifier(connection.channel))
        }
        return awaited
    }

    /// Closes every connection still open, once the control plane has stopped: a caller's connection then fails
    /// instead of talking to a scheduler that starts nothing.
    func closeConnections() {
        loop.assertInEventLoop()
        for connection in connections.values { connection.channel.close() }
    }
}
