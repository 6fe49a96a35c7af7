import FaceCore
import Glibc

/// An open directory that every operation inside it goes through: names are resolved relative to
/// its descriptor, one component at a time, and no symbolic link is ever followed.
///
/// The inbox is writable by every member of the `facewatch` group, so a path string into it means
/// nothing by the time it is used: a member may replace `inbox/x/` by a symlink to `db/` between the
/// moment a file is reported and the moment it is moved. A `DirectoryHandle` holds the directory
/// itself (its descriptor, its device and inode), and ``openDirectory(beneath:)`` walks a relative
/// path with `openat(O_NOFOLLOW | O_DIRECTORY)` per component, refusing `..`, `.`, empty components
/// and any symlink (`ELOOP`/`ENOTDIR`): whatever a member does, what it opens is a directory that was
/// below this one when it was opened. Renames are `renameat2` between two handles.
///
/// The descriptor is closed once, when the handle is released.
public final class DirectoryHandle: Sendable {
    /// The descriptor (`O_RDONLY | O_DIRECTORY | O_CLOEXEC`).
    public let descriptor: Int32
    /// What it was opened as, for messages.
    public let path: String
    /// Its device and inode when opened: the identity a caller compares with a later `lstat` of the
    /// same path (``isStill(at:)``).
    public let device: UInt64
    public let inode: UInt64

    private init(descriptor: Int32, path: String) throws(FileSystemError) {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else {
            let failure = FileSystemError.current("fstat", path)
            _ = close(descriptor)
            throw failure
        }
        self.descriptor = descriptor
        self.path = path
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }

    deinit { _ = close(descriptor) }

    /// Opens a configured directory (a root, the inbox, the store) by its path. The configured path
    /// itself may contain symlinks (an administrator's choice, e.g. a store on another disk); what
    /// is below it is reached through the handle only.
    /// - Throws: ``FileSystemError`` (`ENOTDIR` when it is not a directory).
    public static func open(_ path: String) throws(FileSystemError) -> DirectoryHandle {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .current("open", path) }
        return try DirectoryHandle(descriptor: fd, path: path)
    }

    /// True while `path` still names this very directory (same device and inode, not a symlink):
    /// the check made before a watched directory is used again.
    public func isStill(at path: String) -> Bool {
        guard let status = FileStatus.lstat(path) else { return false }
        return status.kind == .directory && status.device == device && status.inode == inode
    }

    /// True while the configured `path` (opened with ``open(_:)``, symlinks followed) still leads to
    /// this very directory: a file system mounted over it, or a directory put in its place, is another.
    public func isStill(configuredAt path: String) -> Bool {
        guard let status = FileStatus.followingLinks(path) else { return false }
        return status.kind == .directory && status.device == device && status.inode == inode
    }

    /// The directory `relative` (`a/b`, "" for this one) below this one, opened one component at a
    /// time without following any symlink. With `create`, missing components are made (`mkdirat`,
    /// `permissions`) and the directory holding each new one is `fsync`ed.
    /// - Throws: ``FileSystemError``: `ELOOP` or `ENOTDIR` when a component is a symlink or not a
    ///   directory, `EINVAL` for a `.`, `..` or empty component, `ENOENT` when missing.
    public func openDirectory(beneath relative: String, create: Bool = false, permissions: mode_t = 0o755)
        throws(FileSystemError) -> DirectoryHandle
    {
        if relative.isEmpty { return self }
        var current = self
        for component in relative.split(separator: "/", omittingEmptySubsequences: false) {
            let name = String(component)
            guard !name.isEmpty, name != ".", name != ".." else {
                throw FileSystemError(operation: "open", path: "\(path)/\(relative)", code: EINVAL)
            }
            var fd = openat(current.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 && errno == ENOENT && create {
                if mkdirat(current.descriptor, name, permissions) == 0 {
                    if fsync(current.descriptor) != 0 && errno != EINVAL { throw .current("fsync", current.path) }
                } else if errno != EEXIST {
                    throw .current("mkdir", "\(current.path)/\(name)")
                }
                fd = openat(current.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard fd >= 0 else { throw .current("open", "\(current.path)/\(name)") }
            current = try DirectoryHandle(descriptor: fd, path: "\(current.path)/\(name)")
        }
        return current
    }

    /// `fstatat(name, AT_SYMLINK_NOFOLLOW)`: the entry itself, never what it points to.
    package func status(of name: String) throws(FileSystemError) -> FileStatus {
        var st = stat()
        guard fstatat(descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw .current("lstat", display(name)) }
        return FileStatus(st)
    }

    /// Opens the regular file `name` for reading: `O_NOFOLLOW | O_NONBLOCK` (a symlink fails with
    /// `ELOOP`, a fifo does not block), then checked to be a regular file (`EINVAL` otherwise).
    /// Returns the descriptor (the caller closes it once) and its `fstat`.
    package func openRegularFile(_ name: String) throws(FileSystemError) -> (descriptor: Int32, status: FileStatus) {
        let fd = openat(descriptor, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .current("open", display(name)) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let failure = FileSystemError.current("fstat", display(name))
            _ = close(fd)
            throw failure
        }
        let status = FileStatus(st)
        guard status.kind == .regular else {
            _ = close(fd)
            throw FileSystemError(operation: "open", path: display(name), code: EINVAL)
        }
        return (fd, status)
    }

    /// Renames `name` here to `newName` in `destination` (`renameat2` between the two descriptors).
    /// With `replacing: false` an existing destination fails with `EEXIST` (`RENAME_NOREPLACE`).
    package func rename(_ name: String, to destination: DirectoryHandle, as newName: String, replacing: Bool)
        throws(FileSystemError)
    {
        let what = "\(display(name)) -> \(destination.display(newName))"
        if replacing {
            if renameat(descriptor, name, destination.descriptor, newName) != 0 { throw .current("rename", what) }
            return
        }
        if let renameat2 = RenameAt2.function {
            if renameat2(descriptor, name, destination.descriptor, newName, RenameAt2.noReplace) == 0 { return }
            if errno != EINVAL { throw .current("rename", what) }
        }
        // A file system without RENAME_NOREPLACE: check, then rename (only this daemon writes the
        // destinations it renames to).
        var st = stat()
        if fstatat(destination.descriptor, newName, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            throw FileSystemError(operation: "rename", path: what, code: EEXIST)
        }
        if renameat(descriptor, name, destination.descriptor, newName) != 0 { throw .current("rename", what) }
    }

    /// `unlinkat(name)` (`AT_REMOVEDIR` for a directory, which must be empty).
    package func remove(_ name: String, directory: Bool = false) throws(FileSystemError) {
        if unlinkat(descriptor, name, directory ? AT_REMOVEDIR : 0) != 0 {
            throw .current(directory ? "rmdir" : "unlink", display(name))
        }
    }

    /// `fsync` of the directory: its entries' creations, removals and renames are durable.
    package func sync() throws(FileSystemError) {
        if fsync(descriptor) != 0 && errno != EINVAL { throw .current("fsync", path) }
    }

    /// `path/name`, for messages.
    package func display(_ name: String) -> String { "\(path)/\(name)" }

    /// The parent of a `/`-separated relative name ("" for a name at the top) and its last component.
    package static func split(_ relative: String) -> (directory: String, name: String) {
        guard let slash = relative.lastIndex(of: "/") else { return ("", relative) }
        return (String(relative[..<slash]), String(relative[relative.index(after: slash)...]))
    }
}

/// `renameat2(2)`, looked up at run time: Swift's Glibc module does not import it (it is declared
/// only under `_GNU_SOURCE`), but glibc has exported it since 2.28.
package enum RenameAt2 {
    package typealias Function =
        @convention(c) (Int32, UnsafePointer<CChar>, Int32, UnsafePointer<CChar>, UInt32) -> Int32
    /// `RENAME_NOREPLACE` from <linux/fs.h>.
    package static let noReplace: UInt32 = 1
    package static let function: Function? = {
        // RTLD_DEFAULT is the null handle in glibc.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "renameat2") else { return nil }
        return unsafeBitCast(symbol, to: Function.self)
    }()
}
