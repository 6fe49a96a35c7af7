import FaceCore
import FaceImage
import FaceEncoding

/// The bytes of a stored file, read once (`ImageFile`: bounded by the size it had when opened, a torn
/// read done again), with the SHA-256 of exactly those bytes: what the encoder decodes is what the
/// record and deduplication name.
struct FileContent {
    /// The bytes read (exactly the size seen at open).
    var bytes: [UInt8]
    /// Lowercase hex SHA-256 of `bytes`.
    var sha256: String

    /// Reads the regular file open as `descriptor` (not closed here); `name` is for messages. Fails as
    /// `ImageFile.read(descriptor:name:maxBytes:whileReading:)` does.
    static func read(descriptor: Int32, name: String, maxBytes: Int) -> Result<FileContent, Failure> {
        ImageFile.read(descriptor: descriptor, name: name, maxBytes: maxBytes) {
            TestHooks.pauseDuringReadIfAsked(name: name)
        }
        .map { FileContent(bytes: $0, sha256: SHA256.hex($0)) }
    }
}
