import FaceCore
import Glibc

/// The bytes of an open regular file, read once, bounded by the size it had when opened, with the
/// SHA-256 of exactly those bytes: what the encoder decodes is what the record and deduplication
/// name.
///
/// A member may keep a file open after dropping it (or hold another hard link) and write to it
/// while it is read. The read is therefore checked: `fstat` before and after must agree (size,
/// mtime, ctime) and the file must give exactly the size seen at open. A read that does not is torn
/// and is done again, a few times; a file that keeps changing fails `io_error` rather than being
/// encoded from a mix of two versions.
struct FileContent {
    /// The bytes read (exactly the size seen at open).
    var bytes: [UInt8]
    /// Lowercase hex SHA-256 of `bytes`.
    var sha256: String

    /// How many times a torn read is tried again.
    static let attempts = 3

    /// Reads the regular file open as `descriptor` (not closed here). `name` is for messages.
    /// Fails with `too_large` (from `fstat`, before any byte is read), `io_error` (a read error, or
    /// a file still changing after ``attempts`` reads).
    static func read(descriptor: Int32, name: String, maxBytes: Int) -> Result<FileContent, Failure> {
        for _ in 0..<attempts {
            var before = stat()
            guard fstat(descriptor, &before) == 0 else {
                let code = errno
                return .failure(Failure(.ioError, "cannot stat \(name): \(systemErrorText(code))", systemError: code))
            }
            let size = Int(before.st_size)
            guard size <= maxBytes else {
                return .failure(Failure(.tooLarge, "\(name) has \(size) bytes, more than the limit of \(maxBytes)"))
            }
            // One byte more than the size: a file that grew is noticed without reading the growth.
            var bytes = [UInt8](repeating: 0, count: size + 1)
            var filled = 0
            while filled < bytes.count {
                let count = bytes.withUnsafeMutableBytes { buffer in
                    pread(descriptor, buffer.baseAddress! + filled, buffer.count - filled, off_t(filled))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    return .failure(
                        Failure(.ioError, "cannot read \(name): \(systemErrorText(code))", systemError: code))
                }
                if count == 0 { break }
                filled += count
            }
            TestHooks.pauseDuringReadIfAsked(name: name)
            var after = stat()
            guard fstat(descriptor, &after) == 0 else {
                let code = errno
                return .failure(Failure(.ioError, "cannot stat \(name): \(systemErrorText(code))", systemError: code))
            }
            guard filled == size, FileStatus(before) == FileStatus(after) else { continue }  // torn
            bytes.removeLast()
            return .success(FileContent(bytes: bytes, sha256: SHA256.hex(bytes)))
        }
        return .failure(
            Failure(.ioError, "\(name) kept changing while it was read (\(attempts) times); it is not encoded"))
    }
}
