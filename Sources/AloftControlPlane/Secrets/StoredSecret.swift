public import Foundation

/// A named secret of a workspace as a store keeps it: its keys in the clear (for listing), its values only sealed
/// (a serialized `aloft.v1.SecretRef` whose `values` hold them, sealed by the control plane's `SecretSealer`).
public struct StoredSecret: Sendable, Hashable {
    public var workspace: String
    public var name: String
    public var keys: [String]
    public var sealedValues: Data
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        workspace: String, name: String, keys: [String], sealedValues: Data, createdAt: Date, updatedAt: Date
    ) {
        self.workspace = workspace
        self.name = name
        self.keys = keys
        self.sealedValues = sealedValues
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}
