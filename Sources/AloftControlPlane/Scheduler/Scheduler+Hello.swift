import AloftCore
import AloftWire
import Logging
import NIOCore

// The first message of every connection: the protocol version, the peer's role, and (with an authenticator) its
// token, which decides the workspace the connection works in.

extension Scheduler {
    func receivedHello(_ hello: Aloft_V1_Hello, requestID: UInt64, connection: ConnectionHandler, channel: any WirePeer)
    {
        guard hello.protocolVersion == AloftLimits.protocolVersion else {
            let message =
                "this control plane speaks protocol version \(AloftLimits.protocolVersion), the peer \(hello.protocolVersion)"
            sendError(.protocolError, message, requestID: requestID, on: channel)
            channel.flush()  // the error must go out before the close
            channel.close()
            return
        }
        guard !connection.saidHello else {
            return sendError(
                .protocolError, "hello was already sent on this connection", requestID: requestID, on: channel)
        }
        connection.saidHello = true
        if hello.role == .container {
            guard isExpectedContainer(hello.containerID, channel: channel) else { return }
            connection.containerID = hello.containerID
        } else if configuration.authenticator != nil {
            authenticate(hello, requestID: requestID, connection: connection, channel: channel)
            return
        }
        welcome(hello, requestID: requestID, connection: connection, channel: channel)
    }

    /// Checks a client's token (a container's own, or one the authenticator knows), then welcomes it in the token's
    /// workspace; a missing or wrong token gets `unauthenticated` and the connection is closed.
    private func authenticate(
        _ hello: Aloft_V1_Hello, requestID: UInt64, connection: ConnectionHandler, channel: any WirePeer
    ) {
        let refuse: @Sendable (String) -> Void = { [self] message in
            logger.info("refused a client", metadata: ["aloft.reason": "\(message)"])
            sendError(.unauthenticated, message, requestID: requestID, on: channel)
            channel.flush()
            channel.close()
        }
        if hello.token.hasPrefix("ctr:") {
            // A container's token lets its body call functions, nothing else (never register a worker host).
            guard hello.role == .client else { return refuse("a container token is for clients only") }
            guard let container = container(presenting: hello.token) else {
                return refuse("this container token is not valid (its container has stopped)")
            }
            connection.workspace = container.pool.workspace
            welcome(hello, requestID: requestID, connection: connection, channel: channel)
            return
        }
        guard let authenticator = configuration.authenticator else { return }
        let token = hello.token
        let checked = loop.makePromise(of: String.self)
        let kind: StoredToken.Kind = hello.role == .worker ? .worker : .client
        checked.completeWithTask { try await authenticator.workspace(forToken: token, kind: kind) }
        let boundConnection = NIOLoopBound(connection, eventLoop: loop)  // answered on this loop
        checked.futureResult.whenComplete { [self] result in
            switch result {
            case .success(let workspace):
                boundConnection.value.workspace = workspace
                sessionOpened(channel, token: token, kind: kind)
                welcome(hello, requestID: requestID, connection: boundConnection.value, channel: channel)
            case .failure(let error as AloftError) where error.code == .unauthenticated:
                refuse(error.message)
            case .failure(let error):
                logger.error("a token could not be checked", metadata: ["aloft.error": "\(error)"])
                refuse("the token could not be checked; try again")
            }
        }
    }

    /// The running container whose token (`ctr:<id>:<secret>`) this is.
    private func container(presenting token: String) -> ContainerRecord? {
        let parts = token.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let container = containers[String(parts[1])],
            Secrets.equal(container.clientSecret, String(parts[2]))
        else { return nil }
        return container
    }

    private func welcome(
        _ hello: Aloft_V1_Hello, requestID: UInt64, connection: ConnectionHandler, channel: any WirePeer
    ) {
        connection.role = hello.role
        connection.welcomed()
        connectionWelcomed(connection)
        var reply = Aloft_V1_HelloReply()
        reply.protocolVersion = AloftLimits.protocolVersion
        reply.maxPayloadBytes = UInt64(configuration.maxPayloadBytes)
        if hello.role == .container, let container = containers[hello.containerID] {
            reply.maxInputs = UInt32(container.bodies)
        } else if hello.role == .client {
            reply.maxCallInputs = UInt32(clamping: configuration.inputLimits.inputsPerCall)
            reply.maxCallInputBytes = UInt64(clamping: configuration.inputLimits.bytesPerCall)
        }
        send(.helloReply(reply), requestID: requestID, on: channel)
        // After the reply: the container may be sent inputs at once.
        if hello.role == .container { containerConnected(hello.containerID, channel: channel) }
        for envelope in connection.takeHeldFrames() { route(envelope, from: connection, channel: channel) }
    }
}
