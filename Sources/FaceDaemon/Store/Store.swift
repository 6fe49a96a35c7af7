import FaceCore
import Foundation
import Glibc

/// The originals, one per UUID: `store/ab/<uuid>.<ext>`, sharded by the first two hex digits of the
/// lowercase UUID text.
///
/// The store is written by one daemon (the root lock guarantees it). ``adopt(_:as:ext:syncDirectories:)`` is step (1)
/// of the crash-safety order (docs/ARCHITECTURE.md, "A file's journey"): when it returns, the file is in the store under its UUID and both
/// directories are `fsync`ed; the caller then commits the `created` record (step 2). ``scan()`` lists
/// what is stored so startup can give orphans (files without a record) one.
///
/// Entries are never followed: a symlink, fifo, socket or device is moved itself.
public struct Store: Sendable {
    /// The store directory (`ROOT/store`).
    public let directory: String

    /// Opens the store at `directory`, creating it (and its parents) durably if needed and `create`
    /// (not while its identity marker is missing: see `DirectoryIdentity`).
    public init(directory: String, create: Bool = true) throws(FileSystemError) {
        var trimmed = directory
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.directory = trimmed
        if create { try DurableFile.createDirectories(trimmed) }
    }

    /// The two lowercase hex digits that name `id`'s shard.
    public static func shard(of id: UUID) -> String {
        String(id.uuidString.lowercased().prefix(2))
    }

    /// `store/ab` for a UUID `ab…`.
    public func shardDirectory(for id: UUID) -> String {
        "\(directory)/\(Store.shard(of: id))"
    }

    /// `store/ab/<uuid>.<ext>` (lowercase UUID text; `ext` as given).
    public func path(for id: UUID, ext: String) -> String {
        "\(shardDirectory(for: id))/\(id.uuidString.lowercased()).\(ext)"
    }

    /// Moves the inbox entry `source` into the store as `<id>.<ext>`: step (1) of the crash-safety order.
    ///
    /// A `rename` on one file system; across file systems (`EXDEV`) the entry is recreated in the
    /// shard, `fsync`ed, renamed and only then unlinked from the inbox (``DurableFile/moveAcrossFileSystems(from:to:)``).
    /// That copy is announced by a small journal file, `store/.moving-<uuid>`, so that after a crash
    /// between the rename and the unlink ``scan()`` removes the inbox copy instead of leaving the file
    /// under two names (which would give it two records). The shard directory and the source's
    /// directory are `fsync`ed before returning, unless `syncDirectories` is false.
    ///
    /// The entry is never followed: a symlink, fifo, socket or device is moved itself. Across file
    /// systems a symlink is recreated from its target text and a fifo with `mkfifo`; a socket or a
    /// device cannot be: a socket is only meaningful to the process bound to it, and making device
    /// nodes in the store would hand whoever reads the store access to hardware. Such an entry is
    /// unlinked from the inbox and returned with `isInStore == false`; the caller records it as failed
    /// `not_a_regular_file`, which is all there is to keep of it.
    ///
    /// - Parameters:
    ///   - source: the path of the entry in the inbox.
    ///   - id: its UUID; nothing may be stored under it yet.
    ///   - ext: the extension, normally from ``fileExtension(forContentAt:originalName:)``; it is
    ///     sanitized again (lowercase ASCII letters and digits, at most 8), `bin` if nothing is left.
    ///   - syncDirectories: false leaves the `fsync` of the shard and source directories after a
    ///     same-file-system rename to the caller, who syncs each distinct directory once for a whole
    ///     batch (`DurableFile.parentDirectory(of:)` of both paths) before committing its records. A
    ///     cross-file-system move is always fully synced.
    /// - Throws: ``FileSystemError``; `EEXIST` when `store/ab/<id>.<ext>` exists (choose another
    ///   UUID), `ENOENT` when the source is gone, `EISDIR` for a directory. On error the source is
    ///   where it was.
    public func adopt(_ source: String, as id: UUID, ext: String, syncDirectories: Bool = true) throws(FileSystemError)
        -> StoredFile
    {
        let status = try FileStatus.lstatOrThrow(source)
        if status.kind == .directory { throw FileSystemError(operation: "adopt", path: source, code: EISDIR) }
        let ext = FileExtension.sanitized(ext) ?? "bin"
        let shardDirectory = shardDirectory(for: id)
        try DurableFile.createDirectories(shardDirectory)
        let destination = path(for: id, ext: ext)
        let sourceDirectory = DurableFile.parentDirectory(of: source)
        let stored = StoredFile(id: id, fileExtension: ext, path: destination, kind: status.kind, size: status.size)
        do throws(FileSystemError) {
            try DurableFile.rename(from: source, to: destination, replacing: false)
        } catch  where error.code == EXDEV {
            return try adoptAcrossFileSystems(source, status: status, stored: stored)
        }
        if syncDirectories {
            try DurableFile.syncDirectory(shardDirectory)
            try DurableFile.syncDirectory(sourceDirectory)
        }
        return stored
    }

    /// The stored entry for `id`, whatever its extension, or nil.
    public func find(_ id: UUID) -> StoredFile? {
        for ext in ["jpg", "png"] {
            if let found = stored(id: id, ext: ext) { return found }
        }
        let prefix = id.uuidString.lowercased() + "."
        guard let names = try? DirectoryReader.stringNames(in: shardDirectory(for: id)) else { return nil }
        for name in names where name.hasPrefix(prefix) {
            let ext = String(name.dropFirst(prefix.count))
            if FileExtension.sanitized(ext) == ext, let found = stored(id: id, ext: ext) { return found }
        }
        return nil
    }

    /// Every stored `(uuid, path)`, for startup reconciliation (store files without a record get one).
    ///
    /// First finishes cross-file-system moves a crash interrupted (see ``adopt(_:as:ext:syncDirectories:)``) and
    /// deletes leftover temporary files (`.…tmp`) in the store. Call it at startup, before the inbox
    /// is watched and while nothing else adopts. Names that are not `<uuid>.<ext>` in the right shard
    /// are left alone and not listed. The result is sorted by path.
    public func scan() throws(FileSystemError) -> [StoredFile] {
        try finishInterruptedMoves()
        var found: [StoredFile] = []
        for shard in try DirectoryReader.stringNames(in: directory, followSymlink: true) {
            guard shard.utf8.count == 2, shard.utf8.allSatisfy(Store.isLowercaseHexDigit) else { continue }
            let shardPath = "\(directory)/\(shard)"
            guard FileStatus.lstat(shardPath)?.kind == .directory else { continue }
            for name in try DirectoryReader.stringNames(in: shardPath) {
                if DurableFile.isTemporaryName(name) {
                    // A copy a crash interrupted before its rename: the source is still in the inbox.
                    unlink("\(shardPath)/\(name)")
                    continue
                }
                guard let dot = name.firstIndex(of: "."), name.hasPrefix(shard) else { continue }
                let uuidText = String(name[..<dot])
                let ext = String(name[name.index(after: dot)...])
                guard uuidText.count == 36, let id = UUID(uuidString: uuidText), id.uuidString.lowercased() == uuidText,
                    FileExtension.sanitized(ext) == ext, let stored = stored(id: id, ext: ext)
                else { continue }
                found.append(stored)
            }
        }
        return found.sorted { $0.path < $1.path }
    }

    // MARK: - Naming helpers

    /// The extension to store a file under: `jpg` or `png` from the content's magic bytes, otherwise
    /// the original name's extension, sanitized (see ``FileExtension.sanitized(_:)``), otherwise `bin`.
    /// Only a regular file is opened (`O_NOFOLLOW | O_NONBLOCK`, at most 8 bytes read); any other
    /// kind is named from its original name alone.
    public static func fileExtension(forContentAt path: String, originalName: String) -> String {
        fileExtension(magic: leadingBytes(of: path, count: 8), originalName: originalName)
    }

    /// The extension for content starting with `magic`: `jpg` (FF D8 FF), `png` (89 'PNG' 0D 0A 1A 0A),
    /// else the sanitized extension of `originalName`, else `bin`.
    public static func fileExtension(magic: [UInt8], originalName: String) -> String {
        if magic.starts(with: [0xFF, 0xD8, 0xFF]) { return "jpg" }
        if magic.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "png" }
        let base = DurableFile.baseName(of: originalName)
        if let dot = base.lastIndex(of: "."), dot != base.startIndex,
            let ext = FileExtension.sanitized(String(base[base.index(after: dot)...]))
        {
            return ext
        }
        return "bin"
    }

    /// The UUID a file asks for by its name: `<uuid>` or `<uuid>.<ext>` (any case; only the last
    /// path component counts). The caller keeps it only if the ledger does not have it yet.
    public static func requestedID(fromName name: String) -> UUID? {
        let base = DurableFile.baseName(of: name)
        let stem = base.firstIndex(of: ".").map { String(base[..<$0]) } ?? base
        guard stem.utf8.count == 36 else { return nil }
        return UUID(uuidString: stem)
    }

    // MARK: - Internals

    private static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte)
    }

    private func stored(id: UUID, ext: String) -> StoredFile? {
        let path = path(for: id, ext: ext)
        guard let status = FileStatus.lstat(path) else { return nil }
        return StoredFile(id: id, fileExtension: ext, path: path, kind: status.kind, size: status.size)
    }

    /// Up to `count` leading bytes of a regular file; empty for anything else or on error.
    private static func leadingBytes(of path: String, count: Int) -> [UInt8] {
        // Never open anything but a regular file (a fifo would block without O_NONBLOCK); the
        // fstat after opening catches an entry swapped in between.
        guard FileStatus.lstat(path)?.kind == .regular else { return [] }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        guard let status = try? FileStatus.of(fd: fd, path: path), status.kind == .regular else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, count - filled) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            filled += n
        }
        return Array(bytes[0..<filled])
    }

    private func adoptAcrossFileSystems(_ source: String, status: FileStatus, stored: StoredFile)
        throws(FileSystemError) -> StoredFile
    {
        switch status.kind {
        case .socket, .characterDevice, .blockDevice, .unknown:
            // Not recreatable on another file system (see adopt's documentation): the entry is
            // removed from the inbox and the caller records it as not_a_regular_file.
            if unlink(source) != 0 { throw .current("unlink", source) }
            try DurableFile.syncDirectory(DurableFile.parentDirectory(of: source))
            var gone = stored
            gone.isInStore = false
            return gone
        default:
            break
        }
        let journal = journalPath(for: stored.id)
        let record = MoveJournal(device: status.device, inode: status.inode, source: source, destination: stored.path)
        try DurableFile.writeAtomically(record.encoded(), to: journal, permissions: 0o600)
        try DurableFile.moveAcrossFileSystems(from: source, to: stored.path)
        // The move is complete and durable; a journal that survives a crash is harmless (scan()
        // finds the source gone and deletes it), so no fsync here.
        unlink(journal)
        return stored
    }

    private func journalPath(for id: UUID) -> String {
        "\(directory)/\(MoveJournal.namePrefix)\(id.uuidString.lowercased())"
    }

    /// Completes or abandons the cross-file-system moves a crash interrupted.
    ///
    /// Destination present: the copy was renamed into place, so a source that is still the same
    /// inode is unlinked (it would otherwise be ingested a second time). Destination absent: the
    /// copy never got its name; the source is still in the inbox and will be taken again.
    func finishInterruptedMoves() throws(FileSystemError) {
        for name in try DirectoryReader.stringNames(in: directory, followSymlink: true) {
            let path = "\(directory)/\(name)"
            if DurableFile.isTemporaryName(name) {
                unlink(path)  // a journal's own temporary file
                continue
            }
            guard name.hasPrefix(MoveJournal.namePrefix) else { continue }
            if let record = MoveJournal(contentsOf: path), FileStatus.lstat(record.destination) != nil,
                let source = FileStatus.lstat(record.source),
                source.device == record.device, source.inode == record.inode
            {
                if unlink(record.source) != 0 && errno != ENOENT { throw .current("unlink", record.source) }
                try DurableFile.syncDirectory(DurableFile.parentDirectory(of: record.source))
            }
            unlink(path)
        }
    }
}

/// The note written before a cross-file-system move: which inode is being moved from where to where.
/// Fields are NUL-separated (paths may hold any byte but NUL).
struct MoveJournal: Equatable {
    static let namePrefix = ".moving-"
    private static let magic = "facewatch-move-1"

    var device: UInt64
    var inode: UInt64
    var source: String
    var destination: String

    init(device: UInt64, inode: UInt64, source: String, destination: String) {
        self.device = device
        self.inode = inode
        self.source = source
        self.destination = destination
    }

    init?(contentsOf path: String) {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let fields = data.split(separator: 0, omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        guard fields.count >= 5, fields[0] == MoveJournal.magic,
            let device = UInt64(fields[1]), let inode = UInt64(fields[2])
        else { return nil }
        self.init(device: device, inode: inode, source: fields[3], destination: fields[4])
    }

    func encoded() -> [UInt8] {
        [MoveJournal.magic, String(device), String(inode), source, destination]
            .flatMap { Array($0.utf8) + [0] }
    }
}
