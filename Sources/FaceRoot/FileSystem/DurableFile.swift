import FaceCore
import Glibc

/// Durable file-system operations: each one is on disk, names included, when it returns.
///
/// "Durable" means the data is `fsync`ed and so is every directory whose entries changed, so a
/// power cut or `kill -9` right after a call finds either the old state or the new one, never a
/// half-written file or a name that points nowhere. Symlinks are never followed where a file is read
/// or replaced (`O_NOFOLLOW`). Every failure is a ``FileSystemError`` carrying the `errno`.
///
/// Temporary names are `.<name>.<random>.tmp` in the destination's own directory: they start with a
/// dot and end in `.tmp`, so the inbox ignores them, and a leftover one is easy to recognise.
public enum DurableFile {
    /// Writes `bytes` to `path` atomically: a temporary file in the same directory is written,
    /// `fsync`ed and renamed over `path`, then the directory is `fsync`ed. Readers see the old
    /// content or the new one, never a part. An existing file at `path` is replaced. The file's mode
    /// is `permissions`, or, when nil, 0666 less the process's umask (the unit's `UMask=0027` makes
    /// results and stats 0640: readable by the `facewatch` group only).
    public static func writeAtomically(_ bytes: [UInt8], to path: String, permissions: mode_t? = nil)
        throws(FileSystemError)
    {
        let directory = parentDirectory(of: path)
        let temporary = temporaryPath(for: path)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions ?? 0o666)
        guard fd >= 0 else { throw .current("open", temporary) }
        var fdIsOpen = true
        do throws(FileSystemError) {
            let code = bytes.withUnsafeBytes { writeAll(fd, $0) }
            if code != 0 { throw FileSystemError(operation: "write", path: temporary, code: code) }
            if let permissions, fchmod(fd, permissions) != 0 { throw .current("fchmod", temporary) }
            if fsync(fd) != 0 { throw .current("fsync", temporary) }
            // Closed once, even when close fails: on Linux the descriptor is released either way,
            // and a second close could close a descriptor another thread has just opened.
            fdIsOpen = false
            if close(fd) != 0 { throw .current("close", temporary) }
        } catch {
            if fdIsOpen { _ = close(fd) }
            unlink(temporary)
            throw error
        }
        if Glibc.rename(temporary, path) != 0 {
            let failure = FileSystemError.current("rename", "\(temporary) -> \(path)")
            unlink(temporary)
            throw failure
        }
        try syncDirectory(directory)
    }

    /// Writes `text` as UTF-8 to `path` atomically; see ``writeAtomically(_:to:permissions:)-([UInt8],_,_)``.
    public static func writeAtomically(_ text: String, to path: String, permissions: mode_t? = nil)
        throws(FileSystemError)
    {
        try writeAtomically(Array(text.utf8), to: path, permissions: permissions)
    }

    /// `fsync`s a directory, making the creation, removal and renaming of its entries durable.
    /// A file system that cannot sync directories (`EINVAL`) is accepted silently.
    public static func syncDirectory(_ path: String) throws(FileSystemError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .current("open", path) }
        defer { close(fd) }
        if fsync(fd) != 0 && errno != EINVAL { throw .current("fsync", path) }
    }

    /// `fsync`s each distinct directory in `paths` once (after a batch of renames).
    public static func syncDirectories(_ paths: some Sequence<String>) throws(FileSystemError) {
        var done: Set<String> = []
        for path in paths where done.insert(path).inserted {
            try syncDirectory(path)
        }
    }

    /// `mkdir -p`: creates `path` and any missing parents, `fsync`ing the parent of each directory
    /// it creates so the new names survive a crash. Existing components may be symlinks to
    /// directories (a store on another disk, say); an existing non-directory is `ENOTDIR`.
    public static func createDirectories(_ path: String, permissions: mode_t = 0o755) throws(FileSystemError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw FileSystemError(operation: "mkdir", path: path, code: ENOTDIR)
            }
            return
        }
        let absolute = path.hasPrefix("/")
        var current = ""
        var parent = absolute ? "/" : "."
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            current = current.isEmpty ? (absolute ? "/\(component)" : String(component)) : "\(current)/\(component)"
            if mkdir(current, permissions) == 0 {
                try syncDirectory(parent)
            } else if errno == EEXIST {
                guard stat(current, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                    throw FileSystemError(operation: "mkdir", path: current, code: ENOTDIR)
                }
            } else {
                throw .current("mkdir", current)
            }
            parent = current
        }
    }

    /// Renames `source` to `destination` (same file system). With `replacing: false` an existing
    /// destination is never overwritten: the call fails with `EEXIST` (`renameat2(RENAME_NOREPLACE)`).
    /// Fails with `EXDEV` across file systems. Does not `fsync`; see ``move(from:to:)``.
    public static func rename(from source: String, to destination: String, replacing: Bool) throws(FileSystemError) {
        if replacing {
            if Glibc.rename(source, destination) != 0 { throw .current("rename", "\(source) -> \(destination)") }
            return
        }
        if let renameat2 = RenameAt2.function {
            if renameat2(AT_FDCWD, source, AT_FDCWD, destination, RenameAt2.noReplace) == 0 { return }
            // EINVAL: this file system does not support the flag; fall through to check-then-rename.
            if errno != EINVAL { throw .current("rename", "\(source) -> \(destination)") }
        }
        // Fallback (old kernel or a file system without RENAME_NOREPLACE): not atomic against a
        // concurrent writer of the same destination, which facewatch's single daemon never has.
        var st = stat()
        if lstat(destination, &st) == 0 {
            throw FileSystemError(operation: "rename", path: "\(source) -> \(destination)", code: EEXIST)
        }
        if Glibc.rename(source, destination) != 0 { throw .current("rename", "\(source) -> \(destination)") }
    }

    /// Moves the entry `source` to `destination` without replacing an existing one, then `fsync`s
    /// the destination's directory and the source's. A plain rename on one file system; across file
    /// systems (`EXDEV`) it is ``moveAcrossFileSystems(from:to:)``.
    public static func move(from source: String, to destination: String) throws(FileSystemError) {
        do throws(FileSystemError) {
            try rename(from: source, to: destination, replacing: false)
        } catch  where error.code == EXDEV {
            try moveAcrossFileSystems(from: source, to: destination)
            return
        }
        try syncDirectory(parentDirectory(of: destination))
        let sourceDirectory = parentDirectory(of: source)
        if sourceDirectory != parentDirectory(of: destination) { try syncDirectory(sourceDirectory) }
    }

    /// The move used when `rename` gives `EXDEV`: the entry is recreated under a temporary name in
    /// the destination directory, `fsync`ed, renamed to `destination` (never replacing one:
    /// `EEXIST`), the destination directory is `fsync`ed, and only then is `source` unlinked and its
    /// directory `fsync`ed. A crash leaves the source in place (and maybe a `.…tmp` file to delete),
    /// or both names (the caller must reconcile), never neither.
    ///
    /// The entry itself is moved, never what a symlink points to:
    /// - a regular file is copied (opened `O_NOFOLLOW`; permissions and times are kept);
    /// - a symlink is recreated with `readlink` + `symlink` (its target text, not the target file);
    /// - a fifo is recreated with `mkfifo` (it is never opened: that would block).
    ///
    /// Sockets, devices and directories cannot be carried to another file system meaningfully and
    /// fail with `EOPNOTSUPP` (`EISDIR` for a directory), leaving `source` untouched.
    public static func moveAcrossFileSystems(from source: String, to destination: String) throws(FileSystemError) {
        let status = try FileStatus.lstatOrThrow(source)
        let destinationDirectory = parentDirectory(of: destination)
        let temporary = temporaryPath(for: destination)
        switch status.kind {
        case .regular:
            var hash = SHA256()
            try copyRegularFile(from: source, expecting: status, to: temporary, hash: &hash)
        case .symlink:
            let target = try readSymlink(source)
            if symlink(target, temporary) != 0 { throw .current("symlink", temporary) }
            setTimes(of: temporary, from: status)
        case .fifo:
            if mkfifo(temporary, status.mode & 0o777) != 0 { throw .current("mkfifo", temporary) }
            _ = chmod(temporary, status.mode & 0o777)  // mkfifo's mode went through the umask
            setTimes(of: temporary, from: status)
        case .directory:
            throw FileSystemError(operation: "move", path: source, code: EISDIR)
        case .socket, .characterDevice, .blockDevice, .unknown:
            throw FileSystemError(operation: "move", path: source, code: EOPNOTSUPP)
        }
        do throws(FileSystemError) {
            try rename(from: temporary, to: destination, replacing: false)
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(destinationDirectory)
        if unlink(source) != 0 && errno != ENOENT { throw .current("unlink", source) }
        try syncDirectory(parentDirectory(of: source))
    }

    /// Copies the regular file `source` (opened `O_NOFOLLOW`) to `destination` through a temporary
    /// file in the destination's directory, `fsync`ed, renamed, directory `fsync`ed. With
    /// `replacing: false` an existing destination fails with `EEXIST`. Permissions and times are
    /// kept. Writers into the inbox (`facewatch submit`) use this: the inbox ignores the temporary
    /// name and takes the file at once when it is renamed in.
    /// Returns the lowercase hex SHA-256 of the bytes copied (what a client that waits for the
    /// result compares with the result's `source.sha256`).
    @discardableResult
    public static func copyAtomically(from source: String, to destination: String, replacing: Bool = false)
        throws(FileSystemError) -> String
    {
        let status = try FileStatus.lstatOrThrow(source)
        guard status.kind == .regular else {
            throw FileSystemError(operation: "copy", path: source, code: status.kind == .directory ? EISDIR : EINVAL)
        }
        let temporary = temporaryPath(for: destination)
        var hash = SHA256()
        try copyRegularFile(from: source, expecting: status, to: temporary, hash: &hash)
        do throws(FileSystemError) {
            try rename(from: temporary, to: destination, replacing: replacing)
        } catch {
            unlink(temporary)
            throw error
        }
        try syncDirectory(parentDirectory(of: destination))
        return Hex.encode(hash.finalize())
    }

    /// The directory part of `path` (`"."` for a bare name, `"/"` for a child of the root).
    public static func parentDirectory(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// The last component of `path`.
    public static func baseName(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    /// True for a name this type uses for temporary files (`.<name>.<16 hex>.tmp`).
    public static func isTemporaryName(_ name: String) -> Bool {
        name.hasPrefix(".") && name.hasSuffix(".tmp")
    }

    // MARK: - Internals

    /// `.facewatch-<random>.tmp` next to `path`. The final name is not in it: in a shared inbox the
    /// name `facewatch submit` gives a file (its UUID) must not be visible before the file is
    /// complete, or another member could take that name first.
    package static func temporaryPath(for path: String) -> String {
        let directory = parentDirectory(of: path)
        let random = Hex.encode((0..<12).map { _ in UInt8.random(in: 0...255) })
        let temporaryName = ".facewatch-\(random).tmp"
        return directory == "/" ? "/\(temporaryName)" : "\(directory)/\(temporaryName)"
    }

    /// Copies a regular file's bytes, permissions and times into a new file at `temporary`, fsynced.
    /// The source is opened `O_NOFOLLOW | O_NONBLOCK` and checked to be the inode `expected` names,
    /// so a file swapped for a symlink or a fifo in between is refused (`ELOOP`/`ESTALE`), not followed.
    private static func copyRegularFile(
        from source: String, expecting expected: FileStatus, to temporary: String, hash: inout SHA256
    ) throws(FileSystemError) {
        let input = open(source, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard input >= 0 else { throw .current("open", source) }
        defer { close(input) }
        let opened = try FileStatus.of(fd: input, path: source)
        guard opened.kind == .regular, opened.isSameFile(as: expected) else {
            throw FileSystemError(operation: "open", path: source, code: ESTALE)
        }
        let output = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw .current("open", temporary) }
        var outputIsOpen = true
        do throws(FileSystemError) {
            let chunk = 1 << 20
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let count = read(input, buffer.baseAddress, chunk)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw .current("read", source)
                }
                if count == 0 { break }
                hash.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                let code = writeAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                if code != 0 { throw FileSystemError(operation: "write", path: temporary, code: code) }
            }
            if fchmod(output, opened.mode & 0o777) != 0 { throw .current("fchmod", temporary) }
            var times = [timespec(tv_sec: 0, tv_nsec: utimeOmit), modifiedTime(opened)]
            _ = futimens(output, &times)
            if fsync(output) != 0 { throw .current("fsync", temporary) }
            // Closed once, even when close fails: on Linux the descriptor is released either way,
            // and a second close could close a descriptor another thread has just opened.
            outputIsOpen = false
            if close(output) != 0 { throw .current("close", temporary) }
        } catch {
            if outputIsOpen { _ = close(output) }
            unlink(temporary)
            throw error
        }
    }

    /// Writes all of `buffer`; returns 0 or the `errno` of the failed `write`.
    private static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) -> Int32 {
        var offset = 0
        while offset < buffer.count {
            let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return 0
    }

    private static func readSymlink(_ path: String) throws(FileSystemError) -> String {
        var capacity = Int(PATH_MAX) + 1
        while true {
            var buffer = [CChar](repeating: 0, count: capacity)
            let count = readlink(path, &buffer, capacity)
            if count < 0 { throw .current("readlink", path) }
            if count < capacity {
                return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
            capacity *= 2
        }
    }

    /// Sets the mtime of a symlink or fifo (itself, never a target) to the source's.
    private static func setTimes(of path: String, from status: FileStatus) {
        var times = [timespec(tv_sec: 0, tv_nsec: utimeOmit), modifiedTime(status)]
        _ = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// `UTIME_OMIT` from <sys/stat.h> (a macro Swift does not import): leave this time unchanged.
    private static let utimeOmit = (1 << 30) - 2

    private static func modifiedTime(_ status: FileStatus) -> timespec {
        timespec(tv_sec: Int(status.modified / 1_000_000_000), tv_nsec: Int(status.modified % 1_000_000_000))
    }
}
