import FaceCore
import FaceEncoding
import Foundation

/// Size and SHA-256 of a stored file, read in chunks of at most 1 MiB (constant memory, whatever the
/// size).
public struct FileDigest: Sendable, Equatable {
    /// Bytes read.
    public var bytes: Int64
    /// Lowercase hex SHA-256 of those bytes.
    public var sha256: String
    /// The image's format and size, read from the first chunk when it is a JPEG or PNG whose header
    /// is there (for the memory budget; nil otherwise).
    public var image: ImageInfo?

    /// The SHA-256 of no bytes, used for entries that are not read (symlinks, fifos).
    public static let empty = FileDigest(bytes: 0, sha256: SHA256.hex([]))

    public init(bytes: Int64, sha256: String, image: ImageInfo? = nil) {
        self.bytes = bytes
        self.sha256 = sha256
        self.image = image
    }

    /// Reads the regular file at `path` (never through a symlink, never blocking on a fifo).
    public init(regularFileAt path: String) throws(FileSystemError) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw FileSystemError(operation: "open", path: path, code: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw FileSystemError(operation: "fstat", path: path, code: errno) }
        guard status.st_mode & S_IFMT == S_IFREG else {
            throw FileSystemError(operation: "open", path: path, code: EINVAL)
        }
        var hash = SHA256()
        var total: Int64 = 0
        var image: ImageInfo?
        // Small files (the common case in a flood) get a small buffer: zeroing 1 MiB per file would
        // cost more than hashing it.
        let size = Int(max(0, status.st_size))
        var chunk = [UInt8](repeating: 0, count: max(4096, min(1 << 20, size + 1)))
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw FileSystemError(operation: "read", path: path, code: errno)
            }
            if count == 0 { break }
            chunk.withUnsafeBytes { buffer in
                let read = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
                hash.update(read)
                if total == 0 { image = ImageHeader.info(ofPrefix: read) }
            }
            total += Int64(count)
        }
        self.init(bytes: total, sha256: Hex.encode(hash.finalize()), image: image)
    }
}
