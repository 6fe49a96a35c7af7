import Glibc

/// Lists a directory's entry names as raw bytes (Linux names need not be UTF-8).
package enum DirectoryReader {
    /// The names in `path`, without `.` and `..`. The directory is opened with `O_NOFOLLOW` unless
    /// `followSymlink` is true (only for a configured root, which may be a symlink).
    package static func names(in path: String, followSymlink: Bool = false) throws(FileSystemError) -> [[UInt8]] {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followSymlink ? 0 : O_NOFOLLOW)
        let fd = open(path, flags)
        guard fd >= 0 else { throw .current("open", path) }
        return try names(of: fd, path: path)
    }

    /// The names in the directory open as `fd`, which is closed when done.
    private static func names(of fd: Int32, path: String) throws(FileSystemError) -> [[UInt8]] {
        guard let dir = fdopendir(fd) else {
            let failure = FileSystemError.current("fdopendir", path)
            close(fd)
            throw failure
        }
        defer { closedir(dir) }  // closes fd too
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { throw .current("readdir", path) }
                break
            }
            let name: [UInt8] = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) { bytes in
                    Array(
                        UnsafeBufferPointer(
                            start: bytes, count: strlen(UnsafeRawPointer(bytes).assumingMemoryBound(to: CChar.self))))
                }
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }

    /// The names in the open directory `handle` (read through a duplicate of its descriptor, so the
    /// handle stays open), without `.` and `..`.
    package static func names(in handle: DirectoryHandle) throws(FileSystemError) -> [[UInt8]] {
        let fd = dup(handle.descriptor)
        guard fd >= 0 else { throw .current("dup", handle.path) }
        // A duplicate shares the offset: start from the first entry whatever an earlier listing did.
        lseek(fd, 0, SEEK_SET)
        return try names(of: fd, path: handle.path)
    }

    /// The names in `path` that are valid UTF-8, as strings; other names are skipped.
    package static func stringNames(in path: String, followSymlink: Bool = false) throws(FileSystemError) -> [String] {
        try names(in: path, followSymlink: followSymlink).compactMap { String(validating: $0, as: UTF8.self) }
    }
}
