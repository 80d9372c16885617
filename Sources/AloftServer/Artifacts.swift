public import AloftControlPlane
import AloftCore
import Crypto
import Foundation
public import NIOCore

/// Deployed executables as files named by their SHA-256, in `<data-dir>/artifacts/<workspace>`: a workspace sees only
/// what its own tokens uploaded. An upload is written to a
/// temporary file, hashed as it arrives, and renamed into place only when its hash is the name it was sent under,
/// so a reader never sees a partial or mislabelled executable.
public struct FileArtifactStore: ArtifactStore {
    public let directory: String
    /// The largest executable accepted.
    public var maxBytes: Int

    public init(directory: String, maxBytes: Int = 1 << 30) {
        self.directory = directory
        self.maxBytes = maxBytes
    }

    public func path(of digest: String, workspace: String) -> String? {
        guard Hex.isSHA256(digest) else { return nil }
        let path = (folder(workspace) as NSString).appendingPathComponent(digest)
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }

    /// Stores the bytes of `body` as the artifact `digest`; throws `invalidArgument` if they hash to something else.
    /// Returns their size.
    @discardableResult
    public func store<Body: AsyncSequence>(digest: String, workspace: String, body: Body) async throws -> Int
    where Body.Element == ByteBuffer {
        guard Hex.isSHA256(digest) else {
            throw AloftError(
                .invalidArgument,
                "an artifact is named by the SHA-256 of its bytes: 64 lowercase hex digits (got '\(digest)')")
        }
        let folder = folder(workspace)
        try FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let temporary = (folder as NSString).appendingPathComponent(".upload-\(UUID().uuidString)")
        // The folder keeps others out; the file is others' to read and run, as a boxed container's own uid must.
        guard FileManager.default.createFile(atPath: temporary, contents: nil, attributes: [.posixPermissions: 0o755]),
            let file = FileHandle(forWritingAtPath: temporary)
        else {
            throw AloftError(.storeFailure, "cannot create \(temporary)")
        }
        var hasher = SHA256()
        var size = 0
        do {
            defer { try? file.close() }
            for try await chunk in body {
                size += chunk.readableBytes
                guard size <= maxBytes else {
                    throw AloftError(
                        .payloadTooLarge, "the executable exceeds this server's artifact limit of \(maxBytes) bytes")
                }
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                try file.write(contentsOf: chunk.readableBytesView)
            }
            try file.synchronize()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        let actual = Hex.string(hasher.finalize())
        guard actual == digest else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw AloftError(
                .invalidArgument,
                "the uploaded bytes hash to \(actual), not \(digest): the upload was corrupted or misnamed")
        }
        let final = (folder as NSString).appendingPathComponent(digest)
        guard rename(temporary, final) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw AloftError(.storeFailure, "cannot move the artifact into place at \(final): errno \(errno)")
        }
        return size
    }

    /// Workspace names are letters, digits, - and _ (see `Tokens.issue`); no token means the empty workspace.
    private func folder(_ workspace: String) -> String {
        (directory as NSString).appendingPathComponent(workspace.isEmpty ? "_" : workspace)
    }

}
