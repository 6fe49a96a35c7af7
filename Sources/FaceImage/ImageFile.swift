import FaceCore
import Glibc

/// Reads an image file the way the engine needs it: a regular file, no bigger than a limit checked
/// before a byte is read, read once and bounded by the size it had when opened.
///
/// The writer of a file may keep it open (or hold another hard link) and write while it is read.
/// Every read is therefore checked: `fstat` before and after must agree (size, modification and
/// change time) and the file must give exactly the size seen at open. A read that does not is torn
/// and is done again, up to ``attempts`` times; a file that keeps changing fails `io_error` rather
/// than being decoded from a mix of two versions.
public enum ImageFile {
    /// How many times a file is read before it is given up as still changing.
    public static let attempts = 3

    /// The whole content of the file at `path` (symbolic links followed).
    ///
    /// Fails with `not_a_regular_file` for a directory, fifo, socket or device, `too_large` when it
    /// has more than `maxBytes` bytes (decided from its size before reading) and `io_error` when it
    /// cannot be opened or read, or keeps changing while it is read. An empty file gives an empty
    /// array.
    public static func read(atPath path: String, maxBytes: Int) -> Result<[UInt8], Failure> {
        let fd: Int32
        switch open(path, name: path, followingSymlinks: true) {
        case .failure(let failure): return .failure(failure)
        case .success(let opened): fd = opened
        }
        defer { close(fd) }
        return read(descriptor: fd, name: path, maxBytes: maxBytes)
    }

    /// Opens `path` for reading, refusing anything but a regular file; `name` is for messages. Without
    /// `followingSymlinks` a symbolic link is refused as `not_a_regular_file` instead of followed.
    /// Opening never waits on a fifo. The caller closes the descriptor.
    public static func open(_ path: String, name: String, followingSymlinks: Bool) -> Result<Int32, Failure> {
        let flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | (followingSymlinks ? 0 : O_NOFOLLOW)
        let fd = Glibc.open(path, flags)
        guard fd >= 0 else {
            let code = errno
            if code == ENXIO { return .failure(Failure(.notARegularFile, "\(name) is a socket or device")) }
            if code == ELOOP, !followingSymlinks {
                return .failure(Failure(.notARegularFile, "\(name) is a symbolic link"))
            }
            return .failure(Failure(.ioError, "cannot open \(name): \(describe(code))", systemError: code))
        }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            let code = errno
            close(fd)
            return .failure(Failure(.ioError, "cannot stat \(name): \(describe(code))", systemError: code))
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return .failure(Failure(.notARegularFile, "\(name) is \(kind(of: status.st_mode)), not a regular file"))
        }
        return .success(fd)
    }

    /// The bytes of the regular file open as `descriptor` (not closed here), checked as the type's
    /// documentation says; `name` is for messages. `whileReading` runs between the read and the check
    /// after it (a test's pause).
    ///
    /// Fails with `too_large` (from `fstat`, before any byte is read) or `io_error` (a read error, or
    /// a file still changing after ``attempts`` reads).
    public static func read(
        descriptor: Int32, name: String, maxBytes: Int, whileReading: () -> Void = {}
    ) -> Result<[UInt8], Failure> {
        for _ in 0..<attempts {
            var before = stat()
            guard fstat(descriptor, &before) == 0 else {
                let code = errno
                return .failure(Failure(.ioError, "cannot stat \(name): \(describe(code))", systemError: code))
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
                    let code = errno
                    if code == EINTR { continue }
                    return .failure(Failure(.ioError, "cannot read \(name): \(describe(code))", systemError: code))
                }
                if count == 0 { break }
                filled += count
            }
            whileReading()
            var after = stat()
            guard fstat(descriptor, &after) == 0 else {
                let code = errno
                return .failure(Failure(.ioError, "cannot stat \(name): \(describe(code))", systemError: code))
            }
            guard filled == size, unchanged(before, after) else { continue }  // torn: read again
            bytes.removeLast()
            return .success(bytes)
        }
        return .failure(
            Failure(.ioError, "\(name) kept changing while it was read (\(attempts) times); it is not encoded"))
    }

    /// Same size, modification time and change time.
    private static func unchanged(_ a: stat, _ b: stat) -> Bool {
        a.st_size == b.st_size && a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec
            && a.st_ctim.tv_sec == b.st_ctim.tv_sec && a.st_ctim.tv_nsec == b.st_ctim.tv_nsec
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
