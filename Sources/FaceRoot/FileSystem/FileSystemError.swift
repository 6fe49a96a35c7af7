import FaceCore
import Glibc

/// A failed system call on a path: what was attempted, on which path, and the `errno` it gave.
///
/// `description` reads like `rename /srv/in/a.jpg -> /srv/store/ab/x.jpg: No space left on device (errno 28)`.
public struct FileSystemError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The operation that failed, usually the system call's name (`open`, `rename`, `fsync`...).
    public var operation: String
    /// The path (or `from -> to` for a two-path operation) the operation was applied to.
    public var path: String
    /// The `errno` value (`EEXIST`, `EXDEV`, `ENOENT`...).
    public var code: Int32

    public init(operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// The error for the calling thread's current `errno`.
    package static func current(_ operation: String, _ path: String) -> FileSystemError {
        FileSystemError(operation: operation, path: path, code: errno)
    }

    /// The system's text for `code` (`strerror`).
    public var reason: String { systemErrorText(code) }

    public var description: String { "\(operation) \(path): \(reason) (errno \(code))" }
}
