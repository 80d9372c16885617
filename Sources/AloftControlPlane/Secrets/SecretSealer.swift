public import Foundation

/// Encrypts secret values before a store keeps them, and decrypts them when they are read back: `aloft server`
/// uses AES-GCM with a key kept 0600 in its data directory (`AESGCMSecretSealer` in AloftServer). A control plane
/// with a store and secrets needs one; without a store (the embedded default) nothing is kept at rest.
public protocol SecretSealer: Sendable {
    func seal(_ plaintext: Data) throws -> Data
    func open(_ sealed: Data) throws -> Data
}
