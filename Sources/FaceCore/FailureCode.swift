/// The stable error codes a result can carry. The raw values are part of the JSON contract:
/// never rename one.
public enum FailureCode: String, Codable, Sendable, CaseIterable {
    /// The file has zero bytes.
    case emptyFile = "empty_file"
    /// The content is not a known image format (sniffed by magic bytes, never by extension).
    case notAnImage = "not_an_image"
    /// A known image format other than JPEG or PNG (GIF, BMP, WebP, TIFF, HEIF...).
    case unsupportedFormat = "unsupported_format"
    /// A JPEG or PNG that cannot be decoded (truncated, bad header, bad data).
    case corruptImage = "corrupt_image"
    /// More bytes than the configured limit.
    case tooLarge = "too_large"
    /// More pixels than the configured limit, read from the header before decoding.
    case tooManyPixels = "too_many_pixels"
    /// A symlink, fifo, socket, device or directory where a regular file was expected.
    case notARegularFile = "not_a_regular_file"
    /// Encoding this file took the process down repeatedly (poison pill).
    case crashed = "crashed"
    /// Reading or writing the file failed.
    case ioError = "io_error"
}

/// A failure with its stable code and a message for a person.
public struct Failure: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: FailureCode
    public var message: String

    public init(_ code: FailureCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
