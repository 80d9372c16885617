import AloftCore
import AloftWire
import NIOCore

// Every message a connection sends arrives here and goes to the room that handles it. What a connection may send
// depends on its role: a worker host sends only worker messages; everyone else anything else.

extension Scheduler {
    /// Everything but `Hello` needs a connection that said hello first.
    func requiresHello(_ envelope: Aloft_V1_Envelope, from connection: ConnectionHandler) -> Bool {
        if case .hello = envelope.body { return false }
        return connection.role == .unspecified
    }

    func route(_ envelope: Aloft_V1_Envelope, from connection: ConnectionHandler, channel: any WirePeer) {
        loop.assertInEventLoop()
        if connection.role == .worker {
            routeWorkerMessage(envelope, from: connection, channel: channel)
            return
        }
        let requestID = envelope.requestID
        switch envelope.body {
        case .hello(let hello):
            receivedHello(hello, requestID: requestID, connection: connection, channel: channel)
        case .outputPut(let output):
            outputArrived(output, from: connection.containerID)
        case .generatorItem(let item):
            generatorItemArrived(item)
        case .logsFollow(let follow):
            guard connection.role == .client else {
                return sendError(
                    .protocolError, "only a client follows container output", requestID: requestID, on: channel)
            }
            let key = FunctionRegistry.poolKey(workspace: connection.workspace, app: follow.appName, pool: "")
            logFollowers.follow(key, channel: channel)
            send(.ack(.init()), requestID: requestID, on: channel)
        case .workerRegister:
            sendError(
                .protocolError, "only a worker host (role worker) registers as one", requestID: requestID, on: channel)
        case .workerHeartbeat, .containerExited, .containerOutput:
            break  // a worker host's messages mean nothing from anyone else
        case .some(let body):
            routeClientRequest(body, requestID: requestID, workspace: connection.workspace, channel: channel)
        case nil:
            sendError(.protocolError, "unexpected message", requestID: requestID, on: channel)
        }
    }

    /// A worker host's messages; any of them counts as a heartbeat (output may queue ahead of a heartbeat).
    private func routeWorkerMessage(
        _ envelope: Aloft_V1_Envelope, from connection: ConnectionHandler, channel: any WirePeer
    ) {
        workerHeartbeat(from: channel)
        switch envelope.body {
        case .workerRegister(let register):
            workerRegistered(register, workspace: connection.workspace, channel: channel, requestID: envelope.requestID)
        case .workerHeartbeat(let heartbeat):
            workerReportedUsage(heartbeat.containers, from: channel)
        case .containerExited(let exited):
            workerReportedExit(exited, from: channel)
        case .containerOutput(let output):
            // Only for a container on this worker host: one host cannot speak for another's containers.
            guard let container = containers[output.containerID], container.worker?.channel === channel else { return }
            container.outputTail.append(output.data)
            containerPrinted(output.containerID, output.data, standardError: output.standardError, pool: container.pool)
        default:
            // A worker token admits a host to run containers, not to call functions or read calls.
            sendError(
                .protocolError, "a worker host sends only worker messages", requestID: envelope.requestID, on: channel)
        }
    }

    /// A client's requests: functions, calls and their results. Every reply names `requestID`.
    private func routeClientRequest(
        _ body: Aloft_V1_Envelope.OneOf_Body, requestID: UInt64, workspace: String,
        channel: any WirePeer
    ) {
        let replier = Replier(scheduler: self, requestID: requestID, channel: channel)
        switch body {
        case .functionRegister(let register):
            do {
                // What a deployment's manifest is checked for, for a registration too: its options reach placement
                // and the runtime's limits.
                try FunctionOptions(wire: register.options).validate()
                try checkSecrets(of: register, workspace: workspace)
            } catch {
                return replier.fail(error)
            }
            var reply = Aloft_V1_FunctionRegistered()
            reply.functionID = self.register(register, workspace: workspace, functionID: nil, persist: true)
            if register.hasWebEndpoint, let url = webURL(workspace, register.appName, register.functionName) {
                reply.webURL = url
            }
            replier.send(.functionRegistered(reply))
        case .functionLookup(let lookup):
            do {
                var reply = Aloft_V1_FunctionRegistered()
                let (id, pool, _) = try registry.named(
                    workspace: workspace, app: lookup.appName, function: lookup.functionName)
                reply.functionID = id
                if pool.definition.webEndpoint != nil,
                    let url = webURL(workspace, lookup.appName, lookup.functionName)
                {
                    reply.webURL = url
                }
                replier.send(.functionRegistered(reply))
            } catch {
                replier.fail(error)
            }
        case .functionInvoke(let invoke):
            invokeFunction(invoke, workspace: workspace, replier: replier)
        case .functionGetStats(let request):
            stats(ofFunction: request.functionID, workspace: workspace, replier: replier)
        case .callCreate(let create):
            createCall(create, workspace: workspace, replier: replier)
        case .callPutInputs(let put):
            guard let call = call(put.callID, in: workspace) else {
                return replier.fail(AloftError(.notFound, "no call with id \(put.callID)"))
            }
            putInputs(put, into: call, replier: replier)
        case .callGet(let get):
            answerGet(
                callID: get.callID, index: get.index, workspace: workspace, timeoutMs: get.timeoutMs,
                waiting: ObjectIdentifier(channel), respond: replier.sendResult, fail: replier.fail)
        case .callCancel(let cancel):
            cancelRequested(callID: cancel.callID, workspace: workspace, replier: replier)
        case .queueRequest(let request):
            queueRequest(request, workspace: workspace, connection: ObjectIdentifier(channel)) { answer in
                switch answer {
                case .success(let reply): replier.send(.queueReply(reply))
                case .failure(let error): replier.fail(error)
                }
            }
        case .dictRequest(let request):
            dictRequest(request, workspace: workspace, owner: ObjectIdentifier(channel)) { answer in
                switch answer {
                case .success(let reply): replier.send(.dictReply(reply))
                case .failure(let error): replier.fail(error)
                }
            }
        default:
            replier.fail(AloftError(.protocolError, "unexpected message"))
        }
    }
}

/// Answers one request on its connection, from the loop (now or later).
struct Replier: @unchecked Sendable {
    let scheduler: Scheduler
    let requestID: UInt64
    let channel: any WirePeer

    func send(_ body: Aloft_V1_Envelope.OneOf_Body) {
        scheduler.send(body, requestID: requestID, on: channel)
    }

    func fail(_ error: AloftError) {
        scheduler.sendError(error, requestID: requestID, on: channel)
    }

    /// An ack, or the error that kept the request from being accepted.
    func acknowledge(_ accepted: Result<Void, AloftError>) {
        switch accepted {
        case .success: send(.ack(.init()))
        case .failure(let error): fail(error)
        }
    }

    /// A `CallGetResult`: the result, or not ready (nil).
    func sendResult(_ result: Aloft_V1_Result?) {
        var reply = Aloft_V1_CallGetResult()
        if let result {
            reply.ready = true
            reply.result = result
        }
        send(.callGetResult(reply))
    }
}

extension Scheduler {
    /// A web endpoint's URL, where this control plane's server serves them.
    func webURL(_ workspace: String, _ app: String, _ label: String) -> String? {
        configuration.webAddresses.url(workspace: workspace, app: app, label: label)
    }
}
