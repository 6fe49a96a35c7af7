/// The stable error codes a result can carry. The raw values are part of the JSON contract:
/// never rename one.
public enum FailureCode: String, Codable, Sendable, CaseIterable {
    /// The file has zero bytes.
    case emptyFile = "empty_file"
    /// The content is not a known image format (sniffed by magic bytes, never by extension).
    case notAnImage = "not_an_image"
    /// A known image format that is not decoded (GIF, BMP, TIFF, JPEG XL...), or a kind of a decoded
    /// format that is not (a 12-bit JPEG, an HEIF image coded otherwise than with HEVC).
    case unsupportedFormat = "unsupported_format"
    /// An image that cannot be decoded (truncated, bad header, bad data).
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
    /// Decoding or encoding the file ran out of memory on every try (`ENOMEM` is retried a few
    /// times first: it may be the machine's moment rather than the file).
    case outOfMemory = "out_of_memory"
}

/// A failure with its stable code and a message for a person.
public struct Failure: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    public var code: FailureCode
    public var message: String
    /// The `errno` behind an `io_error`, when a system call gave one: the daemon retries the
    /// transient ones instead of recording them. Not part of any stored or JSON form.
    public var systemError: Int32?

    public init(_ code: FailureCode, _ message: String, systemError: Int32? = nil) {
        self.code = code
        self.message = message
        self.systemError = systemError
    }

    private enum CodingKeys: String, CodingKey {
        case code, message
    }

    /// Equal when code and message are: the `errno` is not kept, so a stored failure equals the one
    /// it was made from.
    public static func == (a: Failure, b: Failure) -> Bool {
        a.code == b.code && a.message == b.message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
