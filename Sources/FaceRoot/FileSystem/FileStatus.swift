import Glibc

/// The parts of `lstat` facewatch compares: identity, kind, size and times.
///
/// Two snapshots of a file that is being written differ in size, mtime or ctime (any write moves
/// ctime), which is how the inbox decides that a file has settled.
package struct FileStatus: Sendable, Equatable {
    package var device: UInt64
    package var inode: UInt64
    package var kind: FileKind
    package var mode: mode_t
    package var linkCount: UInt64
    /// The owner's uid.
    package var owner: uid_t
    package var size: Int64
    /// Modification time, nanoseconds since the epoch.
    package var modified: Int64
    /// Status change time, nanoseconds since the epoch.
    package var changed: Int64

    package init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        kind = FileKind(mode: st.st_mode)
        mode = st.st_mode
        linkCount = UInt64(st.st_nlink)
        owner = st.st_uid
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

    /// `lstat(path)`, or nil if it fails (the entry is gone, or a component is not a directory).
    package static func lstat(_ path: String) -> FileStatus? {
        var st = stat()
        guard Glibc.lstat(path, &st) == 0 else { return nil }
        return FileStatus(st)
    }

    /// `stat(path)` (symlinks followed: a configured directory may be one), or nil if it fails.
    package static func followingLinks(_ path: String) -> FileStatus? {
        var st = Glibc.stat()
        guard fstatat(AT_FDCWD, path, &st, 0) == 0 else { return nil }
        return FileStatus(st)
    }

    /// `lstat(path)`, throwing the error.
    package static func lstatOrThrow(_ path: String) throws(FileSystemError) -> FileStatus {
        var st = stat()
        guard Glibc.lstat(path, &st) == 0 else { throw .current("lstat", path) }
        return FileStatus(st)
    }

    /// `fstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)` with a raw (possibly non-UTF-8) name.
    package static func at(_ directoryFD: Int32, name: UnsafePointer<CChar>) -> FileStatus? {
        var st = stat()
        guard fstatat(directoryFD, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return FileStatus(st)
    }

    /// `fstat(fd)`.
    package static func of(fd: Int32, path: String) throws(FileSystemError) -> FileStatus {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .current("fstat", path) }
        return FileStatus(st)
    }

    /// `fstat` of an open directory, or nil.
    package static func of(_ handle: DirectoryHandle) -> FileStatus? {
        var st = stat()
        guard fstat(handle.descriptor, &st) == 0 else { return nil }
        return FileStatus(st)
    }

    /// The same inode (device and inode number).
    package func isSameFile(as other: FileStatus) -> Bool {
        device == other.device && inode == other.inode
    }

    /// Now, in nanoseconds since the epoch (CLOCK_REALTIME, the clock file times use).
    package static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
