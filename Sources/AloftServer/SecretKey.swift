import AloftCore
public import AloftControlPlane
import Crypto
public import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Seals secret values with AES-256-GCM (swift-crypto) under the server's key: each value a fresh nonce, the
/// sealed box's combined form (nonce, ciphertext, tag), so that a tampered or foreign value fails to open.
public struct AESGCMSecretSealer: SecretSealer {
    private let key: SymmetricKey

    public init(keyBytes: Data) {
        key = SymmetricKey(data: keyBytes)
    }

    /// The key in `path` (32 bytes), made there readable by its owner only if there is none yet.
    public static func loadingOrCreatingKey(at path: String) throws -> AESGCMSecretSealer {
        if let existing = FileManager.default.contents(atPath: path) {
            guard existing.count == 32 else {
                throw AloftError(
                    .invalidConfiguration,
                    "the secret key \(path) is \(existing.count) bytes, not 32: restore it from a backup")
            }
            return AESGCMSecretSealer(keyBytes: existing)
        }
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        // Created 0600 and written before it is used: never readable by others even for a moment.
        let file = Glibc.open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard file >= 0 else {
            throw AloftError(.invalidConfiguration, "cannot create the secret key \(path): errno \(errno)")
        }
        let written = bytes.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }
        let synced = fsync(file)
        close(file)
        guard written == bytes.count, synced == 0 else {
            unlink(path)
            throw AloftError(.invalidConfiguration, "cannot write the secret key \(path): errno \(errno)")
        }
        return AESGCMSecretSealer(keyBytes: bytes)
    }

    public func seal(_ plaintext: Data) throws -> Data {
        guard let combined = try AES.GCM.seal(plaintext, using: key).combined else {
            throw AloftError(.internalFailure, "AES-GCM gave no combined box")
        }
        return combined
    }

    public func open(_ sealed: Data) throws -> Data {
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key)
        } catch {
            throw AloftError(
                .internalFailure,
                "a stored secret does not open with this server's key (was the secret key replaced?)")
        }
    }
}
