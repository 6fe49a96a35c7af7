import FaceCore
import Glibc

/// Reads an image file the way the engine needs it: a regular file, no bigger than a limit, checked
/// before a byte is read.
public enum ImageFile {
    /// The whole content of the file at `path`.
    ///
    /// Fails with `not_a_regular_file` for a directory, fifo, socket or device (symbolic links are
    /// followed), `too_large` when it has more than `maxBytes` bytes (decided from its size before
    /// reading) and `io_error` when it cannot be opened or read, or changes size while it is read
    /// (the read is bounded by the size seen at open).
    /// An empty file gives an empty array.
    public static func read(atPath path: String, maxBytes: Int) -> Result<[UInt8], Failure> {
        // O_NONBLOCK: opening a fifo must not wait for a writer; it is rejected after fstat.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            if code == ENXIO { return .failure(Failure(.notARegularFile, "\(path) is a socket or device")) }
            return .failure(Failure(.ioError, "cannot open \(path): \(describe(code))", systemError: code))
        }
        defer { close(fd) }

        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            return .failure(Failure(.ioError, "cannot stat \(path): \(describe(code))", systemError: code))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            return .failure(Failure(.notARegularFile, "\(path) is \(kind(of: status.st_mode)), not a regular file"))
        }
        let size = Int(status.st_size)
        guard size <= maxBytes else {
            return .failure(Failure(.tooLarge, "\(path) has \(size) bytes, more than the limit of \(maxBytes)"))
        }

        // One byte more than the size: a file that grew after fstat is noticed, and the read stops
        // there (bounded by the size seen at open, never by what a writer keeps appending).
        var bytes = [UInt8](repeating: 0, count: size + 1)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                systemRead(fd, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                return .failure(Failure(.ioError, "cannot read \(path): \(describe(code))", systemError: code))
            }
            if count == 0 { break }
            filled += count
        }
        guard filled == size else {
            // Grown or shrunk while being read: those bytes are a mix of two versions.
            return .failure(Failure(.ioError, "\(path) changed size while it was read (\(size) bytes at open)"))
        }
        bytes.removeLast()
        return .success(bytes)
    }

    private static func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
        Glibc.read(fd, buffer, count)
    }

    static func describe(_ code: Int32) -> String {
        systemErrorText(code)
    }

    private static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a fifo"
        case S_IFSOCK: "a socket"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFLNK: "a symbolic link"
        default: "not a regular file"
        }
    }
}
