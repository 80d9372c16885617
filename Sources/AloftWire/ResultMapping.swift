public import AloftCore
import Foundation

// The one boundary where AloftError meets the wire.
extension Aloft_V1_RemoteError {
    public init(_ error: AloftError) {
        self.init()
        code = error.code.rawValue
        message = error.message
        if let remote = error.remote {
            typeName = remote.typeName
            message = remote.message
            functionName = remote.functionName
            containerID = remote.containerID
            httpStatus = UInt32(clamping: remote.httpStatus ?? 0)
        }
    }
}

extension Aloft_V1_Result {
    public static func success(_ data: [UInt8]) -> Self {
        var result = Self()
        result.status = .success
        result.data = Data(data)
        return result
    }

    public static func failure(_ status: Aloft_V1_Status, _ error: Aloft_V1_RemoteError) -> Self {
        var result = Self()
        result.status = status
        result.error = error
        return result
    }

    public static func failure(_ status: Aloft_V1_Status, _ error: AloftError) -> Self {
        failure(status, Aloft_V1_RemoteError(error))
    }

    /// The AloftError a failed result stands for (registered Codable errors are decoded by the SDK, not here).
    public var aloftError: AloftError {
        let code: AloftError.Code
        switch status {
        case .timeout: code = .timeout
        case .internalFailure: code = .internalFailure
        case .cancelled: code = .cancelled
        default: code = error.code.isEmpty ? .remoteError : AloftError.Code(rawValue: error.code)
        }
        let remote: AloftError.RemoteFailure? =
            error.typeName.isEmpty && error.containerID.isEmpty
            ? nil
            : .init(
                typeName: error.typeName, message: error.message, functionName: error.functionName,
                containerID: error.containerID, httpStatus: error.httpStatus == 0 ? nil : Int(error.httpStatus))
        return AloftError(code, error.message, remote: remote)
    }
}

extension Aloft_V1_Envelope {
    public init(requestID: UInt64, body: OneOf_Body) {
        self.init()
        self.requestID = requestID
        self.body = body
    }
}
