import AloftCore
import AloftWire

/// What the unanswered inputs in memory hold, per workspace and per connection, checked against `InputLimits`
/// before more are taken. An input counts from when it is queued until it is answered (its data is then let go).
struct HeldInputs {
    struct Usage {
        var inputs = 0
        var bytes = 0
    }

    private var workspaces: [String: Usage] = [:]
    private var connections: [ObjectIdentifier: Usage] = [:]

    /// Why `added` more inputs cannot be taken, if they cannot: into call `callID` of `kind` holding `callHeld`
    /// already (`callID` nil for a `.remote` call), sent on `connection` (nil for one made in this process), in
    /// `workspace`.
    func refusal(
        _ added: Usage, callID: String? = nil, kind: Aloft_V1_CallKind = .spawn, callHeld: Usage = Usage(),
        workspace: String, connection: ObjectIdentifier?, limits: InputLimits
    ) -> AloftError? {
        if let callID, kind == .map || kind == .generator {
            let count = callHeld.inputs + added.inputs
            if count > limits.inputsPerCall {
                return exhausted(
                    "call \(callID) would have \(count) unanswered inputs; a map may have at most "
                        + "\(limits.inputsPerCall) (make its window smaller)")
            }
            let bytes = callHeld.bytes + added.bytes
            if bytes > limits.bytesPerCall {
                return exhausted(
                    "call \(callID) would hold \(bytes) bytes of unanswered inputs; a map may hold at most "
                        + "\(limits.bytesPerCall) (make its window smaller)")
            }
        }
        if let connection {
            let bytes = (connections[connection]?.bytes ?? 0) + added.bytes
            if bytes > limits.bytesPerConnection {
                return exhausted(
                    "this connection's calls would hold \(bytes) bytes of unanswered inputs; a connection may hold "
                        + "at most \(limits.bytesPerConnection)")
            }
        }
        let used = workspaces[workspace] ?? Usage()
        if used.inputs + added.inputs > limits.inputsPerWorkspace {
            return exhausted(
                "workspace '\(workspace)' has \(used.inputs) unanswered inputs; it may have at most "
                    + "\(limits.inputsPerWorkspace) (wait for some to finish)")
        }
        if used.bytes + added.bytes > limits.bytesPerWorkspace {
            return exhausted(
                "workspace '\(workspace)' holds \(used.bytes) bytes of unanswered inputs; it may hold at most "
                    + "\(limits.bytesPerWorkspace) (wait for some to finish)")
        }
        return nil
    }

    private func exhausted(_ message: String) -> AloftError { AloftError(.resourceExhausted, message) }

    mutating func add(_ input: InputRecord) {
        let bytes = input.data.count
        workspaces[input.pool.workspace, default: Usage()].add(bytes)
        if let connection = input.connection { connections[connection, default: Usage()].add(bytes) }
        if case .call(let call) = input.owner { call.heldBytes += bytes }
    }

    mutating func remove(_ input: InputRecord) {
        let bytes = input.data.count
        Self.subtract(bytes, from: &workspaces, at: input.pool.workspace)
        if let connection = input.connection { Self.subtract(bytes, from: &connections, at: connection) }
        if case .call(let call) = input.owner { call.heldBytes -= bytes }
    }

    private static func subtract<Key: Hashable>(_ bytes: Int, from table: inout [Key: Usage], at key: Key) {
        guard var usage = table[key] else { return }
        usage.inputs -= 1
        usage.bytes -= bytes
        table[key] = usage.inputs > 0 ? usage : nil
    }

    /// What `workspace` holds now.
    func usage(of workspace: String) -> Usage { workspaces[workspace] ?? Usage() }
}

extension HeldInputs.Usage {
    fileprivate mutating func add(_ bytes: Int) {
        inputs += 1
        self.bytes += bytes
    }

    /// What `inputs` add.
    init(_ inputs: [Aloft_V1_Input]) {
        self.init(inputs: inputs.count, bytes: inputs.reduce(0) { $0 + $1.data.count })
    }
}
